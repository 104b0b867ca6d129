import fc from 'fast-check';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { matchJsonAck, matchMsgpackAck, NOT_AN_ACK } from './ack-frame.ts';
import { decodeClientFrame } from './protocol.ts';

const areaArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,40}$/);
const offsetArb = fc.oneof(fc.nat(200), fc.nat(), fc.maxSafeNat());
const json = (v: unknown): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(v)));

/** What the general decoder makes of the bytes: the ack's offset for `area`, or NOT_AN_ACK. */
function slowPath(bytes: Uint8Array, format: 'json' | 'msgpack', area: string): number {
  try {
    const f = decodeClientFrame(bytes, format === 'msgpack', format);
    return f.type === 'ack' && f.area === area ? f.offset : NOT_AN_ACK;
  } catch {
    return NOT_AN_ACK;
  }
}

describe('ack fast path', () => {
  it('recognises the acks clients send (JSON.stringify, msgpackr) for the area', () => {
    fc.assert(
      fc.property(areaArb, offsetArb, (area, offset) => {
        expect(matchJsonAck(json({ type: 'ack', area, offset }), area)).toBe(offset);
        expect(matchMsgpackAck(pack({ type: 'ack', area, offset }), area)).toBe(offset);
      }),
    );
  });

  it('leaves other areas, key orders, spacing and frame types to the general decoder', () => {
    expect(matchJsonAck(json({ type: 'ack', area: 'a-1', offset: 5 }), 'a-2')).toBe(NOT_AN_ACK);
    expect(matchJsonAck(json({ type: 'ack', area: 'a-1', offset: 5 }), 'a-12')).toBe(NOT_AN_ACK);
    expect(matchJsonAck(json({ type: 'ack', offset: 5, area: 'a-1' }), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchJsonAck(new Uint8Array(Buffer.from('{"type": "ack","area":"a-1","offset":5}')), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchJsonAck(json({ type: 'subscribe', area: 'a-1' }), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchMsgpackAck(pack({ type: 'ack', area: 'a-1', offset: 5 }), 'a-2')).toBe(NOT_AN_ACK);
    expect(matchMsgpackAck(pack({ offset: 5, type: 'ack', area: 'a-1' }), 'a-1')).toBe(NOT_AN_ACK);
  });

  it('never accepts what the general decoder refuses (bad numbers, trailing bytes)', () => {
    for (const bad of ['-1', '01', '1.5', '1e3', '9007199254740993', '12345678901234567', '"5"', '5 ', '']) {
      const bytes = new Uint8Array(Buffer.from(`{"type":"ack","area":"a-1","offset":${bad}}`));
      expect(matchJsonAck(bytes, 'a-1'), bad).toBe(NOT_AN_ACK);
    }
    const good = pack({ type: 'ack', area: 'a-1', offset: 300 });
    expect(matchMsgpackAck(Buffer.concat([good, Buffer.from([0])]), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchMsgpackAck(good.subarray(0, good.length - 1), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchMsgpackAck(pack({ type: 'ack', area: 'a-1', offset: -3 }), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchMsgpackAck(pack({ type: 'ack', area: 'a-1', offset: 2.5 }), 'a-1')).toBe(NOT_AN_ACK);
  });

  it('agrees with the general decoder on mutated frames (property)', () => {
    const frameArb = fc.record({ area: areaArb, offset: offsetArb, format: fc.constantFrom('json' as const, 'msgpack' as const) });
    const editArb = fc.array(fc.record({ at: fc.nat(), byte: fc.nat(255), kind: fc.constantFrom('set', 'insert', 'delete') }), { maxLength: 3 });
    fc.assert(
      fc.property(frameArb, editArb, ({ area, offset, format }, edits) => {
        const bytes = [...(format === 'json' ? json({ type: 'ack', area, offset }) : pack({ type: 'ack', area, offset }))];
        for (const e of edits) {
          const at = e.at % (bytes.length + 1);
          if (e.kind === 'set' && at < bytes.length) bytes[at] = e.byte;
          else if (e.kind === 'insert') bytes.splice(at, 0, e.byte);
          else if (e.kind === 'delete' && at < bytes.length) bytes.splice(at, 1);
        }
        const b = new Uint8Array(bytes);
        const fast = format === 'json' ? matchJsonAck(b, area) : matchMsgpackAck(b, area);
        if (fast !== NOT_AN_ACK) expect(fast).toBe(slowPath(b, format, area));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('ack fast path, msgpack map headers', () => {
  it('takes fixmap(3) as well as the map16 msgpackr writes', () => {
    const map16 = Buffer.from(pack({ type: 'ack', area: 'a-1', offset: 7 }));
    expect(map16[0]).toBe(0xde);
    const fixmap = Buffer.concat([Buffer.from([0x83]), map16.subarray(3)]);
    expect(matchMsgpackAck(fixmap, 'a-1')).toBe(7);
    expect(slowPath(fixmap, 'msgpack', 'a-1')).toBe(7);
  });
});

// Edge cases msgpackr and JSON.stringify never produce (uint64, str8 areas, uint32 high bit,
// float64 specials, map headers), each checked against the general decoder.
/** The fast path may decline anything, but what it accepts the slow path must accept with the same offset. */
function expectAgrees(bytes: Uint8Array, format: 'json' | 'msgpack', area: string): void {
  const fast = format === 'json' ? matchJsonAck(bytes, area) : matchMsgpackAck(bytes, area);
  if (fast !== NOT_AN_ACK) expect(fast, Buffer.from(bytes).toString('hex')).toBe(slowPath(bytes, format, area));
}

/** The msgpack frame up to (not including) the offset value. */
function msgpackPrefix(area: string): Buffer {
  const full = Buffer.from(pack({ type: 'ack', area, offset: 0 }));
  return full.subarray(0, full.length - 1); // offset 0 is one fixint byte
}

const be64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
};
const f64 = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b;
};

describe('ack fast path edges', () => {
  it('uint64 (0xcf) offsets: the general decoder refuses them (msgpackr gives a BigInt), the fast path must too', () => {
    const prefix = msgpackPrefix('a-1');
    const frame = Buffer.concat([prefix, Buffer.from([0xcf]), be64(7n)]);
    expect(slowPath(frame, 'msgpack', 'a-1')).toBe(NOT_AN_ACK); // decodeClientFrame: offset must be a non-negative integer
    expect(matchMsgpackAck(frame, 'a-1')).toBe(NOT_AN_ACK);
  });

  it('every msgpack number tag with random payloads agrees with the general decoder', () => {
    const prefix = msgpackPrefix('area-x');
    fc.assert(
      fc.property(fc.nat(255), fc.uint8Array({ maxLength: 10 }), (tag, rest) => {
        expectAgrees(Buffer.concat([prefix, Buffer.from([tag]), rest]), 'msgpack', 'area-x');
      }),
      { numRuns: 20000 },
    );
  });

  it('uint32 with the high bit set, integral float64s and float64 specials', () => {
    const prefix = msgpackPrefix('a-1');
    for (const v of [0x80000000, 0xffffffff, 0x7fffffff]) {
      const b = Buffer.from(pack({ type: 'ack', area: 'a-1', offset: v }));
      expect(b[b.length - 5]).toBe(0xce);
      expect(matchMsgpackAck(b, 'a-1')).toBe(v);
      expect(slowPath(b, 'msgpack', 'a-1')).toBe(v);
    }
    for (const v of [0, -0, 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -1, 1.5, NaN, Infinity, -Infinity, 1e300, Number.MIN_VALUE]) {
      expectAgrees(Buffer.concat([prefix, Buffer.from([0xcb]), f64(v)]), 'msgpack', 'a-1');
    }
    expect(matchMsgpackAck(Buffer.concat([prefix, Buffer.from([0xcb]), f64(2 ** 53)]), 'a-1')).toBe(NOT_AN_ACK);
  });

  it('areas of 31, 32 and 128 characters (fixstr / str8), as msgpackr writes them', () => {
    for (const len of [1, 31, 32, 127, 128]) {
      const area = 'a'.repeat(len);
      const b = Buffer.from(pack({ type: 'ack', area, offset: 42 }));
      expect(matchMsgpackAck(b, area), `len ${len}`).toBe(42);
      expect(slowPath(b, 'msgpack', area)).toBe(42);
      expect(matchMsgpackAck(b, area.slice(1))).toBe(NOT_AN_ACK);
      expect(matchMsgpackAck(b, area + 'a')).toBe(NOT_AN_ACK);
      const j = Buffer.from(JSON.stringify({ type: 'ack', area, offset: 42 }));
      expect(matchJsonAck(j, area)).toBe(42);
    }
  });

  it('map headers other than fixmap(3) / map16(3) are left to the general decoder', () => {
    const map16 = Buffer.from(pack({ type: 'ack', area: 'a-1', offset: 7 }));
    const body = map16.subarray(3);
    for (const head of [[0x82], [0x84], [0xde, 0x00, 0x04], [0xde, 0x01, 0x03], [0xdf, 0, 0, 0, 3]]) {
      const b = Buffer.concat([Buffer.from(head), body]);
      expect(matchMsgpackAck(b, 'a-1'), Buffer.from(head).toString('hex')).toBe(NOT_AN_ACK);
    }
  });

  it('JSON: the largest safe integer, zero, leading zeros, signs', () => {
    const j = (o: string) => new Uint8Array(Buffer.from(`{"type":"ack","area":"a-1","offset":${o}}`));
    expect(matchJsonAck(j('9007199254740991'), 'a-1')).toBe(Number.MAX_SAFE_INTEGER);
    expect(matchJsonAck(j('9007199254740992'), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchJsonAck(j('9999999999999999'), 'a-1')).toBe(NOT_AN_ACK);
    expect(matchJsonAck(j('0'), 'a-1')).toBe(0);
    for (const bad of ['00', '-0', '+1', '0x1', ' 1', '1\n']) expect(matchJsonAck(j(bad), 'a-1'), bad).toBe(NOT_AN_ACK);
  });
});
