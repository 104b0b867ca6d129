/** The retained message a new subscription gets first (SUBSCRIBE, wildcard expansion). */
import type { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';
import { compressedPayload, encodePublish, packetIdOf, type Qos } from './encoders.ts';
import type { MqttSubscription } from './subscription.ts';

/**
 * The area's retained message, before anything else of the area, RETAIN=1 [MQTT-3.3.1-8], at
 * min(its publish QoS, the granted QoS) [MQTT-3.8.4-8] (a REST publish counts as QoS 1). It is
 * state, outside the offset sequence the cumulative acks track: at QoS 1/2 it takes a packet id of
 * its own in the send quota, with offset 0 so its PUBACK / PUBREC moves no ack point; when the
 * quota is full or its id is taken it goes at QoS 0 rather than wait behind the live stream.
 * No Local applies to it too [MQTT-3.8.3-3].
 */
export function sendRetained(ctx: MqttContext, conn: MqttConnection, sub: MqttSubscription): void {
  const area = sub.area;
  const r = ctx.sessions.getRetained(area);
  const now = ctx.now();
  if (r === undefined || (r.expiresAt !== 0 && r.expiresAt <= now)) return;
  if (sub.skipOrigin !== undefined && r.headers?.origin === sub.skipOrigin) return;
  let qos = Math.min(r.headers?.qos ?? 1, sub.qos) as Qos;
  const id = packetIdOf(r.offset);
  if (qos > 0 && (conn.inflight.full || conn.inflight.has(id))) qos = 0;
  const compressed = sub.options.deflate && conn.version === 5 ? compressedPayload(ctx.compressor, area, r) : undefined;
  const frame = encodePublish(area, r, { version: conn.version, qos, retain: true, lean: conn.lean, ...(compressed !== undefined && { compressed }) }, now);
  if (frame.byteLength > conn.clientMaxPacket) return;
  if (qos > 0) conn.inflight.add(id, sub, 0);
  conn.transport.write(frame);
  ctx.metrics.retainedSent.inc();
}
