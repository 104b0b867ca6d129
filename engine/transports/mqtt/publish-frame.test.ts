/**
 * The hand-written PUBLISH encoder against mqtt-packet's parser (a decoder we did not write):
 * every shape decodes to the fields it was given, User Properties keep their order, and the
 * expiry patch changes exactly the Message Expiry Interval.
 */
import fc from 'fast-check';
import { parser as createParser, type IPublishPacket, type Packet } from 'mqtt-packet';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodePublish, expiryAt, expiryPatched, packetIdOf, withDup, type PublishSource } from './publish-frame.ts';

function parse(bytes: Uint8Array, version: 4 | 5): IPublishPacket {
  const p = createParser({ protocolVersion: version });
  const out: Packet[] = [];
  p.on('packet', (x: Packet) => out.push(x));
  p.on('error', (e: Error) => {
    throw e;
  });
  p.parse(Buffer.from(bytes));
  expect(out).toHaveLength(1);
  return out[0] as IPublishPacket;
}

const text = fc.string({ maxLength: 20 });
// mqtt-packet 9's parser loses a repeated User Property name whose first value is '' (it tests the
// value for truth): values here are never empty, so the check is of our bytes, not of that.
const value = fc.string({ minLength: 1, maxLength: 20 });

describe('encodePublish', () => {
  it('decodes (mqtt-packet) to what it was given, for every version, QoS, retain and lean', () => {
    fc.assert(
      fc.property(
        fc.record({
          version: fc.constantFrom(4 as const, 5 as const),
          qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
          retain: fc.boolean(),
          lean: fc.boolean(),
          offset: fc.integer({ min: 1, max: 2 ** 40 }),
          payload: fc.uint8Array({ maxLength: 300 }),
          expires: fc.boolean(),
          user: fc.array(fc.tuple(fc.constantFrom('a', 'b', 'offset'), value), { maxLength: 4 }),
          responseTopic: fc.option(text, { nil: undefined }),
          correlation: fc.option(fc.uint8Array({ maxLength: 10 }), { nil: undefined }),
          contentType: fc.option(text, { nil: undefined }),
        }),
        (c) => {
          const now = 1_800_000_000_000;
          const r: PublishSource = {
            offset: c.offset,
            time: now - 5,
            expiresAt: c.expires ? now + 30_500 : 0,
            contentType: 'json',
            payload: c.payload,
            headers: { userProperties: c.user, responseTopic: c.responseTopic, correlationData: c.correlation, contentType: c.contentType },
          };
          const bytes = encodePublish('city:x', r, { version: c.version, qos: c.qos, retain: c.retain, lean: c.lean }, now);
          const p = parse(bytes, c.version);
          expect(p.topic).toBe('areas/city:x');
          expect(p.qos).toBe(c.qos);
          expect(p.retain).toBe(c.retain);
          expect(Buffer.from(p.payload as Buffer).equals(Buffer.from(c.payload))).toBe(true);
          if (c.qos > 0) expect(p.messageId).toBe(packetIdOf(c.offset));
          if (c.version === 4) return;
          const props = p.properties ?? {};
          expect(props.messageExpiryInterval).toBe(c.expires ? 31 : undefined);
          expect(props.responseTopic).toBe(c.responseTopic);
          if (c.correlation !== undefined) expect(Buffer.from(props.correlationData!).equals(Buffer.from(c.correlation))).toBe(true);
          expect(props.contentType).toBe(c.contentType ?? (c.lean ? undefined : 'application/json'));
          const expected: [string, string][] = [...c.user, ...(c.lean ? [] : ([['offset', String(c.offset)], ['time', String(now - 5)]] as [string, string][]))];
          const got: [string, string][] = [];
          for (const [k, v] of Object.entries(props.userProperties ?? {})) for (const x of Array.isArray(v) ? v : [v]) got.push([k, x]);
          // mqtt-packet groups by name; within a name the order is the one sent.
          const byName = (l: [string, string][]) => l.slice().sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
          expect(byName(got)).toEqual(byName(expected));
        },
      ),
      { numRuns: 300, seed: 14 },
    );
  });

  it('expiryPatched writes the seconds left into a copy and leaves the shared frame alone', () => {
    const now = 1_800_000_000_000;
    const r: PublishSource = { offset: 7, time: now, expiresAt: now + 60_000, contentType: 'binary', payload: Buffer.from('hi'), headers: { userProperties: [['k', 'v']] } };
    const frame = encodePublish('a', r, { version: 5, qos: 1, retain: false, lean: false }, now);
    expect(expiryAt(frame)).toBeGreaterThan(0);
    expect(expiryPatched(frame, r.expiresAt, now + 400)).toBe(frame); // still 60 s: no copy
    const later = expiryPatched(frame, r.expiresAt, now + 20_000);
    expect(parse(later, 5).properties?.messageExpiryInterval).toBe(40);
    expect(parse(frame, 5).properties?.messageExpiryInterval).toBe(60);
    expect(parse(withDup(later), 5).dup).toBe(true);
    const never = encodePublish('a', { ...r, expiresAt: 0 }, { version: 5, qos: 0, retain: false, lean: true }, now);
    expect(expiryAt(never)).toBe(-1);
  });
});

describe('encodePublish with a compressed payload [issue 16]', () => {
  it('uses it only when the PUBLISH gets smaller, marked content-encoding, never UTF-8-flagged; 3.1.1 never', () => {
    const word = fc.constantFrom('lane', 'closed', '"lat":35.68', 'parking', '{"bay":"L2-0042"}', 'x');
    fc.assert(
      fc.property(fc.array(word, { maxLength: 120 }), fc.boolean(), fc.constantFrom(4 as const, 5 as const), (words, lean, version) => {
        const payload = Buffer.from(JSON.stringify(words));
        const r: PublishSource = { offset: 9, time: 1, expiresAt: 0, contentType: 'json', payload };
        const shape = { version, qos: 1 as const, retain: false, lean };
        const plain = encodePublish('a', r, shape);
        const frame = encodePublish('a', r, { ...shape, compressed: deflateRawSync(payload) });
        expect(frame.byteLength).toBeLessThanOrEqual(plain.byteLength);
        const p = parse(frame, version);
        const marked = p.properties?.userProperties?.['content-encoding'] === 'deflate';
        if (version === 4) expect(frame.equals(plain)).toBe(true);
        if (marked) {
          expect(inflateRawSync(p.payload as Buffer).equals(payload)).toBe(true);
          expect(p.properties?.payloadFormatIndicator).toBeUndefined();
          expect(frame.byteLength).toBeLessThan(plain.byteLength);
        } else expect(frame.equals(plain)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
