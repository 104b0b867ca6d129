import type { SubscriptionEntry, WsConnection } from '../connection.ts';
import type { WsContext } from '../context.ts';

/**
 * ack: cumulative; one typed-array write, O(1), no allocation [DESIGN "acks off the send path"].
 * Resends and trimming happen in the area sweep. `ref` is the connection's subscription to
 * `area` (undefined: not subscribed; a number: the subscribe is still waiting for the log).
 */
export function handleAck(ctx: WsContext, conn: WsConnection, area: string, offset: number, ref: SubscriptionEntry | undefined): void {
  if (ref === undefined || typeof ref === 'number') {
    ctx.metrics.badInput('not_subscribed').inc();
    conn.sendError('not_subscribed', 'ack for an area this connection is not subscribed to', area);
    return;
  }
  if (ref.cursor.ack(ref.slot, offset, ctx.now()) === 'bad') {
    ctx.metrics.badInput('bad_ack').inc();
    conn.sendError('bad_ack', `offset ${offset} was never sent on this subscription`, area);
    return;
  }
  ctx.metrics.acks.inc();
}
