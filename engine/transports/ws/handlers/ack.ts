import type { WsConnection } from '../connection.ts';
import type { WsContext } from '../context.ts';
import type { ClientFrame } from '../protocol.ts';

type AckFrame = Extract<ClientFrame, { type: 'ack' }>;

/**
 * ack: cumulative; one typed-array write, O(1), no allocation beyond decoding the frame
 * [DESIGN "acks off the send path"]. Resends and trimming happen in the area sweep.
 */
export function handleAck(ctx: WsContext, conn: WsConnection, f: AckFrame): void {
  const ref = conn.subscriptions.get(f.area);
  if (ref === undefined || ref === null) {
    ctx.metrics.badInput('not_subscribed').inc();
    conn.sendError('not_subscribed', 'ack for an area this connection is not subscribed to', f.area);
    return;
  }
  const now = ctx.now();
  const advanced = f.offset > ctx.areas.cursors.acked[ref.slot];
  if (!ctx.areas.cursors.ack(ref.slot, f.offset, now)) {
    ctx.metrics.badInput('bad_ack').inc();
    conn.sendError('bad_ack', `offset ${f.offset} was never sent on this subscription`, f.area);
    return;
  }
  ctx.metrics.acks.inc();
  if (advanced) ref.cursor.ackReceived(f.offset, now); // ack stage timing [issue 5]
}
