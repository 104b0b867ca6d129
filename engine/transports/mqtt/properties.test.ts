/**
 * The 5.0 property re-check: nothing mqtt-packet itself generates is refused (whatever the packet
 * type and property mix), and the rules mqtt-packet's parser does not apply are.
 */
import fc from 'fast-check';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { hasProperties, propertyViolation } from './properties.ts';

/** Parses one packet as a 5.0 server would; undefined when mqtt-packet refuses it. */
function parse5(raw: Buffer): Packet | undefined {
  const p = createParser({ protocolVersion: 5 });
  const out: Packet[] = [];
  let failed = false;
  p.on('packet', (x: Packet) => out.push(x));
  p.on('error', () => (failed = true));
  p.parse(raw);
  return failed || out.length !== 1 ? undefined : out[0];
}

const text = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\0'));
// mqtt-packet generates nothing at all for an empty userProperties object.
const userProperties = fc.dictionary(text, fc.oneof(text, fc.array(text, { minLength: 1, maxLength: 3 })), { minKeys: 1, maxKeys: 3 });
const u16 = fc.integer({ min: 1, max: 0xffff });
const u32 = fc.integer({ min: 1, max: 0xffffffff });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

/** Drops undefined entries (mqtt-packet writes a property for every key present). */
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const publishProps = fc.record({
  payloadFormatIndicator: opt(fc.boolean()),
  messageExpiryInterval: opt(u32),
  contentType: opt(text),
  responseTopic: opt(text),
  correlationData: opt(fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a))),
  userProperties: opt(userProperties),
});

const packets: fc.Arbitrary<Packet> = fc.oneof(
  fc
    .record({
      props: fc.record({
        sessionExpiryInterval: opt(u32),
        receiveMaximum: opt(u16),
        maximumPacketSize: opt(u32),
        topicAliasMaximum: opt(u16),
        requestResponseInformation: opt(fc.boolean()),
        requestProblemInformation: opt(fc.boolean()),
        userProperties: opt(userProperties),
      }),
      will: opt(publishProps),
      clientId: text,
    })
    .map(({ props, will, clientId }) => ({
      cmd: 'connect' as const,
      protocolVersion: 5 as const,
      clientId,
      clean: true,
      keepalive: 30,
      username: 'u',
      password: Buffer.from('p'),
      properties: defined(props),
      ...(will && { will: { topic: 'areas/w', payload: Buffer.from('{}'), qos: 1 as const, retain: false, properties: defined(will) } }),
    })),
  fc.record({ props: publishProps, qos: fc.constantFrom(0, 1) as fc.Arbitrary<0 | 1>, topic: text }).map(({ props, qos, topic }) => ({
    cmd: 'publish' as const,
    topic,
    qos,
    ...(qos > 0 && { messageId: 7 }),
    dup: false,
    retain: false,
    payload: Buffer.from('{}'),
    properties: defined(props),
  })),
  userProperties.map((up) => ({ cmd: 'subscribe' as const, messageId: 3, subscriptions: [{ topic: 'areas/a', qos: 1 as const }], properties: { userProperties: up } })),
  userProperties.map((up) => ({ cmd: 'unsubscribe' as const, messageId: 4, unsubscriptions: ['areas/a'], properties: { userProperties: up } })),
  fc.record({ up: userProperties, reasonString: opt(text) }).map(({ up, reasonString }) => ({ cmd: 'puback' as const, messageId: 5, reasonCode: 0, properties: defined({ userProperties: up, reasonString }) })),
  fc.record({ up: userProperties, reasonString: opt(text), sessionExpiryInterval: opt(u32) }).map(({ up, ...rest }) => ({ cmd: 'disconnect' as const, reasonCode: 0, properties: defined({ userProperties: up, ...rest }) })),
);

describe('propertyViolation', () => {
  it('accepts every packet mqtt-packet generates, whatever its properties', () => {
    fc.assert(
      fc.property(packets, (packet) => {
        const raw = generate(packet, { protocolVersion: 5 });
        const p = parse5(raw);
        expect(p).toBeDefined();
        if (hasProperties(p!)) expect(propertyViolation(raw, p!)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on a corrupted packet mqtt-packet still parses (a throw would escape the socket handler)', () => {
    fc.assert(
      fc.property(packets, fc.nat(), fc.nat({ max: 255 }), (packet, at, byte) => {
        const raw = Buffer.from(generate(packet, { protocolVersion: 5 }));
        const k = 2 + (at % Math.max(1, raw.length - 2)); // keep the fixed header: the framer checked it
        if (k < raw.length) raw[k] = byte;
        const p = parse5(raw);
        if (p !== undefined && hasProperties(p)) propertyViolation(raw, p);
      }),
      { numRuns: 1000 },
    );
  });

  /** A QoS 0 PUBLISH to `t` with the given property bytes (a well-formed block length). */
  const publish = (props: number[]) => Buffer.from([0x30, 3 + 1 + props.length + 2, 0, 1, 0x74, props.length, ...props, 0x7b, 0x7d]);
  const fake = { cmd: 'publish', qos: 0 } as Packet;

  it.each([
    ['Request Problem Information 0 twice (mqtt-packet keeps one)', [0x17, 0, 0x17, 0], 'protocol_error'],
    ['Subscription Identifier twice', [0x0b, 1, 0x0b, 2], 'protocol_error'],
    ['Receive Maximum 0', [0x21, 0, 0], 'protocol_error'],
    ['Request Response Information 2', [0x19, 2], 'protocol_error'],
    ['ill-formed UTF-8 in a Content Type', [0x03, 0, 1, 0xff], 'malformed_packet'],
    ['U+0000 in a User Property name', [0x26, 0, 1, 0, 0, 0], 'malformed_packet'],
    ['a value running past the property block', [0x02, 0, 0], 'malformed_packet'],
    ['a Subscription Identifier of five bytes', [0x0b, 0x80, 0x80, 0x80, 0x80, 0x01], 'malformed_packet'],
  ])('refuses %s', (_name, props, reason) => {
    expect(propertyViolation(publish(props), fake)?.reason).toBe(reason);
  });

  it('allows a repeated User Property, and U+FFFD written as UTF-8', () => {
    const up = [0x26, 0, 1, 0x6b, 0, 3, 0xef, 0xbf, 0xbd];
    expect(propertyViolation(publish([...up, ...up]), fake)).toBeUndefined();
  });
});
