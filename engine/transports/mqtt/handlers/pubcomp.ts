/** PUBCOMP from a subscriber: the QoS 2 exchange is over; the packet id and send quota are free [MQTT-4.9.0-2]. */
import type { IPubcompPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import { overRate } from '../rate.ts';

export function handlePubcomp(ctx: MqttContext, conn: MqttConnection, p: IPubcompPacket): void {
  if (p.messageId === undefined || !conn.inflight.completed(p.messageId)) {
    overRate(ctx, conn);
    return;
  }
  conn.dirty = true;
  conn.resumePaused();
}
