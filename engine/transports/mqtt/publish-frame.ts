/**
 * The bytes of a server-to-client PUBLISH, written by hand (MQTT 5 §3.3, 3.1.1 §3.3) so that:
 * - the publisher's User Properties go out in the order they came in, names repeated as sent
 *   [MQTT-3.3.2-17, -18] (mqtt-packet's object form cannot keep an interleaved order);
 * - Message Expiry Interval is always the FIRST property, at a position a reader finds in a few
 *   byte reads, so a frame replayed later can carry the interval left [MQTT-3.3.2-6] in a copy
 *   with 4 bytes changed, without re-encoding (expiryPatched);
 * - one allocation per frame: sizes first, then one Buffer.
 *
 * `lean` leaves out everything the engine adds on its own (the `offset` and `time` User
 * Properties, a Content Type or Payload Format Indicator the publisher never set), for clients
 * whose Maximum Packet Size leaves no room for them [MQTT-3.1.2-24].
 *
 * A compressed payload keeps the Content Type (what it is once inflated, as HTTP's Content-Type
 * beside Content-Encoding) but never a Payload Format Indicator of 1: deflate output is not
 * UTF-8, and a receiver may check that it is [MQTT-3.3.2-4].
 */
import type { LogRecord } from '../../log/types.ts';
import { afterVarint } from './framer.ts';
import { PROPERTY_ID } from './properties.ts';
import { topicOf } from './topics.ts';

export type MqttVersion = 4 | 5;
export type Qos = 0 | 1 | 2;

export const CONTENT_TYPES: Readonly<Record<LogRecord['contentType'], string>> = {
  json: 'application/json',
  msgpack: 'application/msgpack',
  binary: 'application/octet-stream',
};


/** The packet identifier of an offset's PUBLISH (1..65535): shared by every subscriber. */
export function packetIdOf(offset: number): number {
  return (offset % 65535) + 1;
}

/** The fields of a record a PUBLISH carries (a LogRecord or a retained message). */
export type PublishSource = Pick<LogRecord, 'offset' | 'time' | 'expiresAt' | 'contentType' | 'payload' | 'headers'>;

export interface PublishShape {
  readonly version: MqttVersion;
  readonly qos: Qos;
  readonly retain: boolean;
  readonly lean: boolean;
  /**
   * 5.0: the payload compressed (areas/compression.ts), sent instead of it with the User Property
   * `content-encoding: deflate`; undefined when it did not pay (the payload goes as it is).
   */
  readonly compressed?: Uint8Array;
}

/** The User Property of a compressed payload (also in lean frames: without it the payload is unreadable). */
export const CONTENT_ENCODING: readonly [string, string] = ['content-encoding', 'deflate'];

/** Bytes the CONTENT_ENCODING property adds to a PUBLISH (identifier, two length-prefixed strings). */
export const CONTENT_ENCODING_BYTES = 1 + 2 + CONTENT_ENCODING[0].length + 2 + CONTENT_ENCODING[1].length;

/**
 * The compressed payload when the PUBLISH it makes is smaller than the plain one, property
 * included (a lean frame sized for a tight Maximum Packet Size must never grow [MQTT-3.1.2-24]).
 */
function compressedIfSmaller(compressed: Uint8Array | undefined, payload: Uint8Array): Uint8Array | undefined {
  return compressed !== undefined && compressed.byteLength + CONTENT_ENCODING_BYTES < payload.byteLength ? compressed : undefined;
}

function varIntSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function writeVarInt(buf: Buffer, at: number, n: number): number {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    buf[at++] = b;
  } while (n > 0);
  return at;
}

function writeString(buf: Buffer, at: number, s: string, len: number): number {
  buf.writeUInt16BE(len, at);
  buf.write(s, at + 2, len, 'utf8');
  return at + 2 + len;
}

/** Seconds left before `expiresAt`, at least 1 (an expired message is never sent at all). */
export function expirySeconds(expiresAt: number, now: number): number {
  return Math.max(1, Math.ceil((expiresAt - now) / 1000));
}

export function encodePublish(area: string, r: PublishSource, shape: PublishShape, now: number = Date.now()): Buffer {
  const topic = topicOf(area);
  const topicLen = Buffer.byteLength(topic);
  const h = r.headers;
  const v5 = shape.version === 5;
  const compressed = v5 ? compressedIfSmaller(shape.compressed, r.payload) : undefined;
  // --- sizes ---
  let propsLen = 0;
  let contentType: string | undefined;
  let utf8 = false;
  let user: readonly (readonly [string, string])[] = [];
  if (v5) {
    if (r.expiresAt !== 0) propsLen += 5;
    contentType = h?.contentType ?? (shape.lean ? undefined : CONTENT_TYPES[r.contentType]);
    utf8 = compressed === undefined && (h?.utf8 === true || (!shape.lean && h?.contentType === undefined && r.contentType === 'json'));
    if (utf8) propsLen += 2;
    if (contentType !== undefined) propsLen += 3 + Buffer.byteLength(contentType);
    if (h?.responseTopic !== undefined) propsLen += 3 + Buffer.byteLength(h.responseTopic);
    if (h?.correlationData !== undefined) propsLen += 3 + h.correlationData.byteLength;
    user = h?.userProperties ?? [];
    if (!shape.lean) user = [...user, ['offset', String(r.offset)], ['time', String(r.time)]];
    if (compressed !== undefined) user = [...user, CONTENT_ENCODING];
    for (const [k, v] of user) propsLen += 5 + Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  const payload = compressed ?? r.payload;
  const remaining = 2 + topicLen + (shape.qos > 0 ? 2 : 0) + (v5 ? varIntSize(propsLen) + propsLen : 0) + payload.byteLength;
  const buf = Buffer.allocUnsafe(1 + varIntSize(remaining) + remaining);
  // --- bytes ---
  buf[0] = 0x30 | (shape.qos << 1) | (shape.retain ? 1 : 0);
  let at = writeVarInt(buf, 1, remaining);
  at = writeString(buf, at, topic, topicLen);
  if (shape.qos > 0) {
    buf.writeUInt16BE(packetIdOf(r.offset), at);
    at += 2;
  }
  if (v5) {
    at = writeVarInt(buf, at, propsLen);
    if (r.expiresAt !== 0) {
      buf[at] = PROPERTY_ID.messageExpiryInterval;
      buf.writeUInt32BE(expirySeconds(r.expiresAt, now), at + 1);
      at += 5;
    }
    if (utf8) {
      buf[at++] = PROPERTY_ID.payloadFormatIndicator;
      buf[at++] = 1;
    }
    if (contentType !== undefined) {
      buf[at++] = PROPERTY_ID.contentType;
      at = writeString(buf, at, contentType, Buffer.byteLength(contentType));
    }
    if (h?.responseTopic !== undefined) {
      buf[at++] = PROPERTY_ID.responseTopic;
      at = writeString(buf, at, h.responseTopic, Buffer.byteLength(h.responseTopic));
    }
    if (h?.correlationData !== undefined) {
      buf[at++] = PROPERTY_ID.correlationData;
      buf.writeUInt16BE(h.correlationData.byteLength, at);
      buf.set(h.correlationData, at + 2);
      at += 2 + h.correlationData.byteLength;
    }
    for (const [k, v] of user) {
      buf[at++] = PROPERTY_ID.userProperty;
      at = writeString(buf, at, k, Buffer.byteLength(k));
      at = writeString(buf, at, v, Buffer.byteLength(v));
    }
  }
  buf.set(payload, at);
  return buf;
}

/** Where the 4 bytes of the Message Expiry Interval are in a 5.0 PUBLISH of ours, or -1. */
export function expiryAt(frame: Uint8Array): number {
  let at = afterVarint(frame, 1); // past the Remaining Length
  at += 2 + ((frame[at] << 8) | frame[at + 1]);
  if ((frame[0] & 0x06) !== 0) at += 2;
  // The property length is a varint; the expiry, when present, is the first property.
  at = afterVarint(frame, at);
  return frame[at] === PROPERTY_ID.messageExpiryInterval ? at + 1 : -1;
}

/**
 * The frame as it must go out now: itself when its expiry interval is still right, else a copy
 * with the seconds left [MQTT-3.3.2-6] (ring frames replayed to a subscriber that comes back later).
 */
export function expiryPatched(frame: Uint8Array, expiresAt: number, now: number): Uint8Array {
  const at = expiryAt(frame);
  if (at < 0) return frame;
  const left = expirySeconds(expiresAt, now);
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.readUInt32BE(at) === left) return frame;
  const copy = Buffer.from(frame);
  copy.writeUInt32BE(left, at);
  return copy;
}

/** A copy with DUP=1 (resends after a session resume [MQTT-4.4.0-1]; the shared bytes stay untouched). */
export function withDup(frame: Uint8Array): Buffer {
  const copy = Buffer.from(frame);
  copy[0] |= 0x08;
  return copy;
}
