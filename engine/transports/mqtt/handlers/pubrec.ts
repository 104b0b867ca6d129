/**
 * PUBREC from a subscriber (QoS 2 delivery, MQTT 5 §4.3.3): the client owns the message now, so
 * the subscription's ack point moves like on a PUBACK; the packet id stays taken until PUBCOMP,
 * and we answer PUBREL [MQTT-4.3.3-4]. PUBRECs come in the order of our PUBLISHes
 * [MQTT-4.6.0-3], so one settles older in-flight messages of its subscription too (each gets its
 * PUBREL). A PUBREC with a failure code (>= 0x80) ends the exchange: no PUBREL [MQTT-4.3.3-4],
 * the packet id and quota are free again [MQTT-4.9.0-2], and the message counts as settled (the
 * client refused it; resending would be refused the same way).
 */
import type { IPubrecPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import { overRate } from '../rate.ts';
import { settled } from './puback.ts';

export function handlePubrec(ctx: MqttContext, conn: MqttConnection, p: IPubrecPacket): void {
  const id = p.messageId;
  if (id === undefined || !conn.inflight.awaiting(id)) {
    // A PUBREC for a message being released already (a resend of ours crossed it) gets its PUBREL again.
    if (id !== undefined && conn.inflight.has(id)) return conn.send({ cmd: 'pubrel', messageId: id });
    overRate(ctx, conn);
    return;
  }
  const failed = conn.version === 5 && (p.reasonCode ?? 0) >= 0x80;
  const ids = conn.inflight.received(id);
  settled(ctx, conn);
  for (const rid of ids) {
    if (failed && rid === id) conn.inflight.completed(rid);
    else conn.send({ cmd: 'pubrel', messageId: rid });
  }
  conn.resumePaused();
}
