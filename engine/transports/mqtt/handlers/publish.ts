/**
 * PUBLISH from a client to `areas/{area}`, if the token allows publishing there.
 * QoS 1 is answered with PUBACK, QoS 2 with PUBREC, only after the durable append, in the order
 * received [MQTT-4.6.0-2]. QoS 2 is exactly once (MQTT 5 §4.3.3, "Method B": the message is
 * stored at once, and its packet id remembered until PUBREL): a resend of a packet id awaiting
 * PUBREL appends nothing and gets the same answer [MQTT-4.3.3-10]; for a persistent session the
 * id is in the stored session before the PUBREC leaves, so a resend after an engine restart is
 * recognised too.
 * Refusals: 5.0 PUBACK / PUBREC 0x87 (QoS 1/2) or DISCONNECT 0x87 (QoS 0); 3.1.1 has no negative
 * PUBACK, so it is disconnected. Topic alias -> 0x94, other topics -> 0x90,
 * payload over --max-payload-bytes -> 0x95, bad declared format -> 0x99. Packet identifier 0,
 * DUP on QoS 0 and a Subscription Identifier -> 0x82 (3.1.1: closed).
 */
import type { IPublishPacket } from 'mqtt-packet';
import { MQTT_REASON, type MqttReason } from '../../../errors.ts';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import { contentTypeOf, headersOf, publishFromClient } from '../publishing.ts';
import { areaOfTopic } from '../topics.ts';

export function handlePublish(ctx: MqttContext, conn: MqttConnection, p: IPublishPacket): void {
  const v5 = conn.version === 5;
  const props = p.properties ?? {};
  // These parse, so they are Protocol Errors (5.0 §1.2: "detected after the packet has been parsed").
  // [MQTT-2.2.1-3] (3.1.1 [MQTT-2.3.1-1]): a QoS > 0 PUBLISH carries a non-zero Packet Identifier.
  if (p.qos > 0 && p.messageId === 0) return conn.fail('protocol_error', `QoS ${p.qos} PUBLISH with Packet Identifier 0 [MQTT-2.2.1-3]`);
  // [MQTT-3.3.1-2]: DUP must be 0 on QoS 0 (it marks a resend, and QoS 0 is never resent).
  if (p.dup && p.qos === 0) return conn.fail('protocol_error', 'DUP=1 on a QoS 0 PUBLISH [MQTT-3.3.1-2]');
  // [MQTT-3.3.4-6]: Subscription Identifiers are the server's to attach, never a publisher's (§3.3.2.3.8).
  if (props.subscriptionIdentifier !== undefined) return conn.fail('protocol_error', 'Subscription Identifier in a client PUBLISH [MQTT-3.3.4-6]');
  if (props.topicAlias !== undefined) return conn.fail('topic_alias_invalid', 'topic aliases are not accepted (Topic Alias Maximum 0)');
  const area = areaOfTopic(p.topic);
  if (area === undefined) return conn.fail('topic_name_invalid', 'PUBLISH topic must be areas/{area}');
  const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
  if (payload.length > ctx.settings.maxPayloadBytes) return conn.fail('packet_too_large', `payload over ${ctx.settings.maxPayloadBytes} bytes`);
  if (p.qos === 2) {
    // A resend of a QoS 2 message we already have (awaiting PUBREL): the same PUBREC, nothing appended.
    const first = conn.qos2Received?.get(p.messageId!);
    if (first !== undefined) return answer(ctx, conn, 'pubrec', p.messageId!, first, undefined);
  }
  // [MQTT-3.3.4-9]: the QoS 1 and 2 PUBLISH the client may have unanswered (our Receive Maximum).
  if (p.qos > 0 && conn.inboundPending >= ctx.settings.receiveMaximum) {
    return conn.fail('receive_maximum_exceeded', `more than ${ctx.settings.receiveMaximum} QoS 1/2 PUBLISH awaiting an answer`);
  }
  const kind = p.qos === 2 ? 'pubrec' : 'puback';
  const refuse = (reason: MqttReason, detail: string): void => {
    ctx.metrics.badInput(reason).inc();
    if (v5 && p.qos > 0) answer(ctx, conn, kind, p.messageId!, Promise.resolve(reason), detail);
    else conn.disconnect(reason, detail);
  };
  if (!conn.principal!.canPublish(area)) return refuse('not_authorized', `the token may not publish to ${area}`);
  const contentType = contentTypeOf(payload, props.contentType, props.payloadFormatIndicator === true);
  if (contentType === undefined) return refuse('payload_format_invalid', 'payload does not match its declared format');
  const headers = headersOf(conn, p.qos, p.retain, v5 ? props : undefined);
  let work = publishFromClient(ctx, { area, payload, contentType, ttlSeconds: v5 ? (props.messageExpiryInterval ?? 0) : 0, retain: p.retain, headers });
  if (p.qos === 2) work = holdQos2(ctx, conn, p.messageId!, work);
  if (p.qos > 0) answer(ctx, conn, kind, p.messageId!, work, undefined);
}

/**
 * Remembers a QoS 2 packet id from receipt until PUBREL (a failed append forgets it: the client
 * may retry). Persistent sessions store it before the PUBREC goes out.
 */
function holdQos2(ctx: MqttContext, conn: MqttConnection, id: number, work: Promise<MqttReason>): Promise<MqttReason> {
  const held = work.then(async (reason) => {
    if (reason !== 'success') {
      if (conn.qos2Received?.get(id) === held) conn.qos2Received.delete(id);
      return reason;
    }
    if (conn.expirySeconds > 0 && !conn.closed) {
      try {
        await ctx.sessions.putSession(conn.clientId, conn.snapshot(ctx.now()));
      } catch {
        // Stored in the log already; a resend after a restart could store it twice. Say so, not success.
        if (conn.qos2Received?.get(id) === held) conn.qos2Received.delete(id);
        return 'unspecified_error';
      }
    }
    return reason;
  });
  (conn.qos2Received ??= new Map()).set(id, held);
  return held;
}

/** Queues the PUBACK / PUBREC behind earlier ones [MQTT-4.6.0-2]; 3.1.1 cannot say no, so it closes. */
function answer(ctx: MqttContext, conn: MqttConnection, cmd: 'puback' | 'pubrec', messageId: number, work: Promise<MqttReason>, detail: string | undefined): void {
  conn.inboundPending++;
  conn.ackChain = conn.ackChain
    .then(() => work)
    .then((reason) => {
      conn.inboundPending--;
      if (conn.closed) return;
      if (conn.version === 5) {
        const properties = detail !== undefined && conn.problemInfo ? { reasonString: detail } : undefined;
        conn.send({ cmd, messageId, reasonCode: MQTT_REASON[reason].v5, ...(properties && { properties }) });
      } else if (reason === 'success') {
        conn.send({ cmd, messageId });
      } else {
        conn.disconnect(reason, 'publish failed');
      }
    })
    .catch((err: unknown) => ctx.logger.error({ err, conn: conn.id }, `mqtt ${cmd} failed`));
}
