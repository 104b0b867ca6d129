/**
 * Attaching a subscription to its area cursor (new SUBSCRIBE or session resume), shared by the
 * subscribe and connect handlers. Delivery starts later, with MqttSubscription.start(), once the
 * SUBACK / CONNACK is on the wire.
 */
import type { Since, Subscription } from '../../areas/registry.ts';
import { isEngineError } from '../../errors.ts';
import { attachArea } from '../shared/attach.ts';
import type { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';
import type { MqttSubscription } from './subscription.ts';

/** true when attached; false when the log failed or the connection/subscription went away. */
export async function attachSubscription(ctx: MqttContext, conn: MqttConnection, sub: MqttSubscription, since: Since | undefined): Promise<boolean> {
  const wanted = (): boolean => !sub.detached && !conn.closed && conn.subs.get(sub.area) === sub;
  let res: Subscription | undefined;
  try {
    res = await attachArea(ctx.areas, ctx.metrics, sub, sub.area, since, wanted);
  } catch (err) {
    if (isEngineError(err) && err.code === 'bad_offset' && since !== undefined) {
      // The stored position is beyond the area's head (store from another log): start at the head.
      ctx.logger.warn({ clientId: conn.clientId, area: sub.area, offset: since.offset }, 'mqtt session position beyond the head; starting at the head');
      return attachSubscription(ctx, conn, sub, undefined);
    }
    if (!conn.closed) ctx.logger.error({ err, clientId: conn.clientId, area: sub.area }, 'mqtt subscribe failed: log unavailable');
    return false;
  }
  if (res === undefined) return false;
  if (!wanted()) {
    // Attached without waiting, but the connection went meanwhile (it cannot in one tick; kept for safety).
    res.cursor.detach(res.slot);
    ctx.metrics.subscriptions.dec();
    return false;
  }
  sub.slot = res.slot;
  sub.cursor = res.cursor;
  sub.epoch = res.epoch;
  sub.stored = undefined;
  if (since !== undefined && !res.recovered) {
    if (since.epoch !== res.epoch) sub.dupUpTo = 0;
    ctx.logger.info({ clientId: conn.clientId, area: sub.area, since }, 'mqtt session could not be resumed exactly (retention or new epoch): delivery starts at the head');
  }
  return true;
}

/**
 * The one routine for a subscription that starts delivering as soon as it is attached (session
 * resume, wildcard expansion): attach, run `beforeStart` (a retained message), start. When the log
 * is unavailable the subscription is dropped and the client told (DISCONNECT 0x80): a session must
 * not silently lose an area.
 */
export function attachAgain(ctx: MqttContext, conn: MqttConnection, sub: MqttSubscription, since: Since | undefined, beforeStart?: () => void): void {
  attachSubscription(ctx, conn, sub, since).then(
    (ok) => {
      if (ok) {
        beforeStart?.();
        sub.start();
      } else if (!conn.closed && !sub.detached) {
        conn.disconnect('unspecified_error', `could not subscribe area ${sub.area}: log unavailable`);
      }
    },
    (err: unknown) => ctx.logger.error({ err, clientId: conn.clientId, area: sub.area }, 'mqtt attach failed'),
  );
}
