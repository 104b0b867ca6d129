/**
 * The swarm's minimal MQTT codec against mqtt-packet (the engine's own codec): what we send parses
 * there, and what the engine sends (its PUBLISH encoder, MQTT 5 user properties) reads here.
 */
import { parser, type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { encodePublish as enginePublish } from '../engine/transports/mqtt/encoders.ts';
import { parsePayloadStamp, makePayload, type ParsedMessage } from './message-parse.ts';
import { encodeConnect, encodePublish, encodePuback, encodeSubscribe, packetLength, readPublish, readSuback, type PublishView } from './mqtt-codec.ts';

function parse(bytes: Buffer, version: 4 | 5): Packet[] {
  const out: Packet[] = [];
  const p = parser({ protocolVersion: version });
  p.on('packet', (pk: Packet) => out.push(pk));
  p.on('error', (e: Error) => {
    throw e;
  });
  p.parse(bytes);
  return out;
}

describe('MQTT client codec', () => {
  it('encodes CONNECT, SUBSCRIBE, PUBLISH and PUBACK that mqtt-packet parses (3.1.1 and 5)', () => {
    for (const version of [4, 5] as const) {
      const [c] = parse(encodeConnect({ version, clientId: 'car-1', username: 'car-1', password: 'jwt', clean: false, keepaliveSeconds: 60, sessionExpirySeconds: 600 }), version);
      expect(c).toMatchObject({ cmd: 'connect', protocolVersion: version, clientId: 'car-1', username: 'car-1', clean: false, keepalive: 60 });
      expect(String((c as { password: Buffer }).password)).toBe('jwt');
      if (version === 5) expect((c as { properties: Record<string, unknown> }).properties).toMatchObject({ sessionExpiryInterval: 600, receiveMaximum: 65535 });
      const [s] = parse(encodeSubscribe(version, 7, 'areas/a:b', 1), version);
      expect(s).toMatchObject({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'areas/a:b', qos: 1 }] });
      const [pub] = parse(encodePublish(version, 'areas/x', Buffer.from('{"a":1}'), 1, 300), version);
      expect(pub).toMatchObject({ cmd: 'publish', topic: 'areas/x', qos: 1, messageId: 300 });
      expect(String((pub as { payload: Buffer }).payload)).toBe('{"a":1}');
      expect(parse(encodePuback(65535), version)[0]).toMatchObject({ cmd: 'puback', messageId: 65535 });
    }
  });

  it("reads the engine's MQTT 5 PUBLISH: offset and time from the user properties, the payload stamp", () => {
    const payload = makePayload(1_795_000_000_123_456, false, 41, 300);
    const bytes = enginePublish('city:d7', { offset: 123_456, time: 1_795_000_000_999, expiresAt: Date.now() + 60_000, contentType: 'json', payload }, { version: 5, qos: 1, retain: false, lean: false });
    expect(packetLength(bytes, 0, bytes.length)).toBe(bytes.length);
    const v: PublishView = { qos: 0, dup: false, packetId: 0, topicStart: 0, topicEnd: 0, offset: NaN, time: NaN, payloadStart: 0, payloadEnd: 0 };
    readPublish(5, bytes, 0, bytes.length, v);
    expect(v).toMatchObject({ qos: 1, dup: false, packetId: (123_456 % 65535) + 1, offset: 123_456, time: 1_795_000_000_999 });
    expect(bytes.toString('utf8', v.topicStart, v.topicEnd)).toBe('areas/city:d7');
    expect(bytes.subarray(v.payloadStart, v.payloadEnd)).toEqual(payload);
    const out: ParsedMessage = { offset: 0, time: 0, sentAtUs: 0, warm: 1 };
    expect(parsePayloadStamp(bytes, v.payloadStart, v.payloadEnd, out)).toBe(41);
    expect(out).toMatchObject({ sentAtUs: 1_795_000_000_123_456, warm: 0 });
  });

  it('reads 3.1.1 QoS 0 PUBLISH and SUBACK; lengths need the whole varint', () => {
    const big = Buffer.alloc(20_000, 0x61);
    const bytes = enginePublish('a', { offset: 1, time: 1, expiresAt: 0, contentType: 'binary', payload: big }, { version: 4, qos: 0, retain: false, lean: false });
    expect(packetLength(bytes, 0, 2)).toBe(0);
    expect(packetLength(bytes, 0, bytes.length)).toBe(bytes.length);
    const v: PublishView = { qos: 0, dup: false, packetId: 0, topicStart: 0, topicEnd: 0, offset: NaN, time: NaN, payloadStart: 0, payloadEnd: 0 };
    readPublish(4, bytes, 0, bytes.length, v);
    expect(v.qos).toBe(0);
    expect(Number.isNaN(v.offset)).toBe(true);
    expect(v.payloadEnd - v.payloadStart).toBe(20_000);
    expect(readSuback(4, Buffer.from([0x90, 3, 0, 1, 1]), 0, 5)).toBe(1);
    expect(readSuback(5, Buffer.from([0x90, 4, 0, 1, 0, 0x87]), 0, 6)).toBe(0x87);
  });
});
