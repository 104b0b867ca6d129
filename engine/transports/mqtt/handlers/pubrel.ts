/**
 * PUBREL from a publisher (QoS 2 publish, MQTT 5 §4.3.3): the packet id is released; answer
 * PUBCOMP [MQTT-4.3.3-11]. One we do not hold gets 0x92 Packet Identifier not found (5.0); 3.1.1
 * has no reason codes, and a PUBCOMP is the answer either way (the client lost state, not us).
 */
import type { IPubrelPacket } from 'mqtt-packet';
import { MQTT_REASON } from '../../../errors.ts';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';

export function handlePubrel(ctx: MqttContext, conn: MqttConnection, p: IPubrelPacket): void {
  const id = p.messageId!;
  const answer = (): void => {
    const known = conn.qos2Received?.delete(id) === true;
    if (known) conn.dirty = true;
    if (conn.closed) return;
    if (conn.version === 5 && !known) conn.send({ cmd: 'pubcomp', messageId: id, reasonCode: MQTT_REASON.packet_identifier_not_found.v5 });
    else conn.send({ cmd: 'pubcomp', messageId: id });
  };
  // PUBCOMP after our PUBREC of that id (the client may send PUBREL before it reads the PUBREC).
  conn.ackChain = conn.ackChain.then(answer, answer).catch((err: unknown) => ctx.logger.error({ err, conn: conn.id }, 'mqtt pubcomp failed'));
}
