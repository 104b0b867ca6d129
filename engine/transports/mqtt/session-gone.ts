/**
 * What happens when a connected client is gone (DISCONNECT, socket loss, takeover, engine close):
 * its session is written (or deleted when it ends with the connection), and on an abnormal end
 * its will is published [MQTT-3.1.2-8]. Runs before the subscriptions are detached, so the
 * virtual-cursor slots still hold the positions.
 *
 * Will Delay Interval (5.0): the will waits until the delay passes or the session ends, whichever
 * is first [MQTT-3.1.3-9]; a new connection with the client id before then cancels it
 * (cancelDelayedWill, from CONNECT). A will still waiting when the engine shuts down is published
 * then (flushDelayedWills): its timer would not survive the process.
 */
import type { MqttConnection, Will } from './connection.ts';
import type { MqttContext } from './context.ts';
import { contentTypeOf, headersOf, publishFromClient } from './publishing.ts';

export function sessionGone(ctx: MqttContext, conn: MqttConnection): void {
  if (conn.principal === undefined || conn.clientId === '') return; // never got a CONNACK
  if (ctx.live.get(conn.clientId) === conn) ctx.live.delete(conn.clientId);
  const id = conn.clientId;
  const fail = (err: unknown): void => ctx.logger.error({ err, clientId: id }, 'session write failed');
  if (conn.expirySeconds > 0) ctx.sessions.putSession(id, conn.snapshot(ctx.now())).catch(fail);
  else if (ctx.sessions.getSession(id) !== undefined) ctx.sessions.deleteSession(id).catch(fail);
  const will = conn.will;
  if (will === undefined || conn.graceful) return;
  const publish = (): void => publishWill(ctx, conn, will);
  const delayMs = Math.min(will.delaySeconds, conn.expirySeconds) * 1000;
  if (delayMs <= 0) return publish();
  cancelDelayedWill(ctx, id);
  const timer = setTimeout(() => {
    ctx.delayedWills.delete(id);
    publish();
  }, delayMs);
  timer.unref();
  ctx.delayedWills.set(id, { timer, publish });
}

function publishWill(ctx: MqttContext, conn: MqttConnection, will: Will): void {
  const contentType = contentTypeOf(will.payload, will.contentType, false) ?? 'binary';
  const headers = headersOf(conn, will.qos, will.retain, will.properties);
  void publishFromClient(ctx, { area: will.area, payload: will.payload, contentType, ttlSeconds: will.ttlSeconds, retain: will.retain, headers });
}

/** A connection with this client id arrived: its delayed will is not sent [MQTT-3.1.3-9]. */
export function cancelDelayedWill(ctx: MqttContext, clientId: string): void {
  const w = ctx.delayedWills.get(clientId);
  if (w === undefined) return;
  clearTimeout(w.timer);
  ctx.delayedWills.delete(clientId);
}

/** Engine shutdown: every will still waiting goes out now. */
export function flushDelayedWills(ctx: MqttContext): void {
  for (const [id, w] of ctx.delayedWills) {
    clearTimeout(w.timer);
    ctx.delayedWills.delete(id);
    w.publish();
  }
}
