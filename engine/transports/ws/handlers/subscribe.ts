import { isValidAreaId } from '../../../auth/patterns.ts';
import { isEngineError } from '../../../errors.ts';
import type { WsConnection } from '../connection.ts';
import type { WsContext } from '../context.ts';
import type { ClientFrame } from '../protocol.ts';

type SubscribeFrame = Extract<ClientFrame, { type: 'subscribe' }>;

/**
 * subscribe: answer `subscribed` (epoch, head, recovered), then replay what was missed, then live.
 * The answer and the start of delivery happen in the same tick after the async part, so the
 * replay/live boundary has no gap and no duplicate (see AreaCursor).
 */
export async function handleSubscribe(ctx: WsContext, conn: WsConnection, f: SubscribeFrame): Promise<void> {
  const { area } = f;
  if (!isValidAreaId(area)) {
    ctx.metrics.badInput('invalid_area').inc();
    conn.sendError('invalid_area', `invalid area id`, area.slice(0, 128));
    return;
  }
  if (!conn.principal.canSubscribe(area)) {
    ctx.metrics.badInput('forbidden').inc();
    conn.close('forbidden', `subject ${conn.principal.subject} may not subscribe to ${area}`);
    return;
  }
  if (conn.subscriptions.has(area)) {
    ctx.metrics.badInput('already_subscribed').inc();
    conn.sendError('already_subscribed', `already subscribed to ${area}`, area);
    return;
  }
  if (conn.subscriptions.size >= ctx.maxSubscriptionsPerConnection) {
    ctx.metrics.badInput('too_many_subscriptions').inc();
    conn.close('too_many_subscriptions', `limit is ${ctx.maxSubscriptionsPerConnection}`);
    return;
  }
  conn.subscriptions.set(area, null);
  let sub;
  try {
    sub = await ctx.areas.subscribe(conn, area, f.since);
  } catch (err) {
    if (conn.subscriptions.get(area) === null) conn.subscriptions.delete(area);
    if (conn.closed) return;
    if (isEngineError(err)) {
      ctx.metrics.badInput(err.code).inc();
      conn.sendError(err.code, err.message, area);
    } else {
      ctx.logger.error({ err, area, conn: conn.id }, 'subscribe failed: log unavailable');
      conn.sendError('log_unavailable', 'could not read the area log', area);
    }
    return;
  }
  // Closed or unsubscribed while we were waiting for the log: give the slot back.
  if (conn.closed || conn.subscriptions.get(area) !== null) {
    sub.cursor.detach(sub.slot);
    return;
  }
  conn.subscriptions.set(area, { cursor: sub.cursor, slot: sub.slot });
  ctx.metrics.subscribes.inc();
  ctx.metrics.subscriptions.inc();
  if (f.since !== undefined) ctx.metrics.resumes?.inc();
  if (f.since !== undefined && !sub.recovered) ctx.metrics.recoveredFalse.inc();
  conn.sendControl({ type: 'subscribed', area, epoch: sub.epoch, offset: sub.head, recovered: sub.recovered });
  sub.cursor.start(sub.slot, conn);
}
