import { isValidAreaId } from '../../../auth/patterns.ts';
import type { Subscription } from '../../../areas/registry.ts';
import { isEngineError } from '../../../errors.ts';
import type { WsConnection } from '../connection.ts';
import type { WsContext } from '../context.ts';
import type { ClientFrame } from '../protocol.ts';
import { attachArea } from '../../shared/attach.ts';

type SubscribeFrame = Extract<ClientFrame, { type: 'subscribe' }>;

/**
 * subscribe: answer `subscribed` (epoch, head, recovered), then replay what was missed, then live.
 * The answer and the start of delivery happen in the same tick as the attach, so the replay/live
 * boundary has no gap and no duplicate (see AreaCursor).
 *
 * Synchronous when the area's cursor is open and there is no offset to check against the log
 * (the common connect); otherwise returns the promise of the log round trip.
 */
export function handleSubscribe(ctx: WsContext, conn: WsConnection, f: SubscribeFrame): Promise<void> | undefined {
  const { area } = f;
  if (!isValidAreaId(area)) {
    ctx.metrics.badInput('invalid_area').inc();
    conn.sendError('invalid_area', `invalid area id`, area.slice(0, 128));
    return undefined;
  }
  if (!conn.principal.canSubscribe(area)) {
    ctx.metrics.badInput('forbidden').inc();
    conn.close('forbidden', `subject ${conn.principal.subject} may not subscribe to ${area}`);
    return undefined;
  }
  if (conn.hasSubscription(area)) {
    ctx.metrics.badInput('already_subscribed').inc();
    conn.sendError('already_subscribed', `already subscribed to ${area}`, area);
    return undefined;
  }
  if (conn.subscriptionCount >= ctx.maxSubscriptionsPerConnection) {
    ctx.metrics.badInput('too_many_subscriptions').inc();
    conn.close('too_many_subscriptions', `limit is ${ctx.maxSubscriptionsPerConnection}`);
    return undefined;
  }
  // The entry holds this attempt's id: after an unsubscribe and a new subscribe to the same area
  // while we wait, the entry is the newer attempt's, and this one must neither remove nor take it.
  let attempt: number | undefined;
  let res: Subscription | Promise<Subscription | undefined>;
  try {
    // Closed, or unsubscribed (and maybe subscribed again) while we were waiting: the slot goes back.
    res = attachArea(ctx.areas, ctx.metrics, conn, area, f.since, () => !conn.closed && conn.subscription(area) === attempt);
  } catch (err) {
    refused(ctx, conn, area, err);
    return undefined;
  }
  if (!(res instanceof Promise)) {
    started(conn, f, res);
    return undefined;
  }
  attempt = conn.beginSubscribe(area);
  return res.then(
    (sub) => {
      if (sub !== undefined) started(conn, f, sub);
    },
    (err: unknown) => {
      if (conn.subscription(area) === attempt) conn.deleteSubscription(area);
      if (!conn.closed) refused(ctx, conn, area, err);
    },
  );
}

/** The log could not attach the subscription: answer with the reason, keep the connection. */
function refused(ctx: WsContext, conn: WsConnection, area: string, err: unknown): void {
  if (isEngineError(err)) {
    ctx.metrics.badInput(err.code).inc();
    conn.sendError(err.code, err.message, area);
  } else {
    ctx.logger.error({ err, area, conn: conn.id }, 'subscribe failed: log unavailable');
    conn.sendError('log_unavailable', 'could not read the area log', area);
  }
}

/** Attached (and counted): remember it, answer, start delivery (same tick). */
function started(conn: WsConnection, f: SubscribeFrame, sub: Subscription): void {
  conn.setSubscription({ cursor: sub.cursor, slot: sub.slot });
  conn.sendControl({ type: 'subscribed', area: f.area, epoch: sub.epoch, offset: sub.head, recovered: sub.recovered });
  sub.cursor.start(sub.slot, conn);
}
