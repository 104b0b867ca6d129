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
