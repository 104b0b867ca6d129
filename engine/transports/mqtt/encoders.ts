/**
 * PUBLISH packets for the area ring, encoded ONCE per message per format [DESIGN "Encode once"]:
 * four formats (3.1.1 / 5.0 x QoS 0 / 1), each shared by every subscriber of that format.
 *
 * Shared bytes need a shared packet identifier: it is derived from the offset,
 * (offset % 65535) + 1, so every QoS 1 subscriber sees the same id for the same message; a
 * connection that already has that id in flight (another area's message) waits (see inflight.ts).
 *
 * MQTT 5 extras: user properties `offset` and `time` (accept time, ms), Content Type and Payload
 * Format Indicator from the publish's content type, and Message Expiry Interval from its
 * expiry: seconds remaining AT ENCODE TIME (the bytes are shared, so a message replayed later
 * carries the interval it had when first encoded; expired messages are never sent at all).
 */
import { generate, type IPublishPacket } from 'mqtt-packet';
import type { FormatTable, MessageEncoder } from '../../areas/encoding.ts';
import type { ContentType, LogRecord } from '../../log/types.ts';
import { topicOf } from './topics.ts';

export type MqttVersion = 4 | 5;
export type Qos = 0 | 1;

export const CONTENT_TYPES: Readonly<Record<ContentType, string>> = {
  json: 'application/json',
  msgpack: 'application/msgpack',
  binary: 'application/octet-stream',
};

/** The packet identifier of an offset's PUBLISH (1..65535). */
export function packetIdOf(offset: number): number {
  return (offset % 65535) + 1;
}

/** The fields of a record a PUBLISH carries (a LogRecord or a retained message). */
export type PublishSource = Pick<LogRecord, 'offset' | 'time' | 'expiresAt' | 'contentType' | 'payload'>;

export function encodePublish(area: string, r: PublishSource, version: MqttVersion, qos: Qos, retain: boolean, now: number = Date.now()): Buffer {
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: topicOf(area),
    payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
    qos,
    dup: false,
    retain,
  };
  if (qos === 1) packet.messageId = packetIdOf(r.offset);
  if (version === 5) {
    packet.properties = {
      userProperties: { offset: String(r.offset), time: String(r.time) },
      contentType: CONTENT_TYPES[r.contentType],
      ...(r.contentType === 'json' && { payloadFormatIndicator: true }),
      ...(r.expiresAt !== 0 && { messageExpiryInterval: Math.max(1, Math.ceil((r.expiresAt - now) / 1000)) }),
    };
  }
  return generate(packet, { protocolVersion: version });
}

export function mqttEncoder(version: MqttVersion, qos: Qos): MessageEncoder {
  return {
    name: `mqtt-v${version === 4 ? '3.1.1' : '5'}-qos${qos}`,
    encode: (area: string, r: LogRecord) => encodePublish(area, r, version, qos, false),
  };
}

/** A copy with DUP=1 (resends after a session resume [MQTT-4.4.0-1]; the shared bytes stay untouched). */
export function withDup(frame: Uint8Array): Buffer {
  const copy = Buffer.from(frame);
  copy[0] |= 0x08;
  return copy;
}

/** FormatTable indices of the four MQTT formats. */
export interface MqttFormats {
  format(version: MqttVersion, qos: Qos): number;
}

/**
 * Registers the four formats as lazy: nothing is encoded for them until the first subscriber
 * of a format activates it, so an engine without MQTT subscribers pays nothing.
 */
export function registerMqttFormats(table: FormatTable): MqttFormats {
  const ids = [
    table.add(mqttEncoder(4, 0), { lazy: true }),
    table.add(mqttEncoder(4, 1), { lazy: true }),
    table.add(mqttEncoder(5, 0), { lazy: true }),
    table.add(mqttEncoder(5, 1), { lazy: true }),
  ];
  return {
    format(version: MqttVersion, qos: Qos): number {
      const f = ids[(version === 5 ? 2 : 0) + qos];
      table.activate(f);
      return f;
    },
  };
}
