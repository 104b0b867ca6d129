import type { WsConnection } from '../connection.ts';
import type { WsContext } from '../context.ts';
import type { ClientFrame } from '../protocol.ts';

type UnsubscribeFrame = Extract<ClientFrame, { type: 'unsubscribe' }>;

/**
 * unsubscribe: detach the virtual cursor now. Delivery is a per-socket send (no uWS topics), so the
 * v20.30 "publish then unsubscribe in the same tick drops the message" bug cannot bite a vehicle
 * moving between areas: everything sent before this frame was already written to the socket.
 */
export function handleUnsubscribe(ctx: WsContext, conn: WsConnection, f: UnsubscribeFrame): void {
  if (!conn.hasSubscription(f.area)) {
    ctx.metrics.badInput('not_subscribed').inc();
    conn.sendError('not_subscribed', 'not subscribed to this area', f.area);
    return;
  }
  const ref = conn.subscription(f.area);
  conn.deleteSubscription(f.area);
  if (ref !== undefined && typeof ref !== 'number') {
    ref.cursor.detach(ref.slot);
    ctx.metrics.subscriptions.dec();
  }
  conn.sendControl({ type: 'unsubscribed', area: f.area });
}
