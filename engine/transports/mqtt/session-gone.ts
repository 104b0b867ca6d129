/**
 * What happens when a connected client is gone (DISCONNECT, socket loss, takeover, engine close):
 * its session is written (or deleted when it ends with the connection), and on an abnormal end
 * its will is published [MQTT-3.1.2-8]. Runs before the subscriptions are detached, so the
 * virtual-cursor slots still hold the positions.
 */
import type { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';
import { contentTypeOf, publishFromClient } from './publishing.ts';

export function sessionGone(ctx: MqttContext, conn: MqttConnection): void {
  if (conn.principal === undefined || conn.clientId === '') return; // never got a CONNACK
  if (ctx.live.get(conn.clientId) === conn) ctx.live.delete(conn.clientId);
  const id = conn.clientId;
  const fail = (err: unknown): void => ctx.logger.error({ err, clientId: id }, 'session write failed');
  if (conn.expirySeconds > 0) ctx.sessions.putSession(id, conn.snapshot(ctx.now())).catch(fail);
  else if (ctx.sessions.getSession(id) !== undefined) ctx.sessions.deleteSession(id).catch(fail);
  const will = conn.will;
  if (will !== undefined && !conn.graceful) {
    // Will Delay Interval is not honoured: the will goes out when the connection ends.
    const contentType = contentTypeOf(will.payload, will.contentType, false) ?? 'binary';
    void publishFromClient(ctx, { area: will.area, payload: will.payload, contentType, ttlSeconds: will.ttlSeconds, retain: will.retain });
  }
}
