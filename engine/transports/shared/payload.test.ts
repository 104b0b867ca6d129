import fc from 'fast-check';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { isJson, isMsgpack, isUtf8 } from './payload.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** Values every msgpack encoder writes with the spec's core formats (no undefined, no extensions). */
const plain = fc.jsonValue();

describe('isMsgpack', () => {
  it('accepts what msgpackr packs', () => {
    fc.assert(
      fc.property(plain, (v) => isMsgpack(pack(v))),
      { seed: 13, numRuns: 500 },
    );
  });

  it('refuses every strict prefix and any trailing byte', () => {
    fc.assert(
      fc.property(plain, fc.integer({ min: 0, max: 255 }), (v, extra) => {
        const bytes = pack(v);
        for (let n = 0; n < bytes.length; n++) if (isMsgpack(bytes.subarray(0, n))) return false;
        return !isMsgpack(Buffer.concat([bytes, Buffer.from([extra])]));
      }),
      { seed: 13, numRuns: 200 },
    );
  });

  it.each([
    ['C1 (never used)', 'c1'],
    ['C1 inside an array', '92 01 c1'],
    ['str with FF FE', 'a2 ff fe'],
    ['str 8 with a lone continuation byte', 'd9 01 80'],
    ['map missing its value', '81 a1 61'],
    ['array 32 claiming 2^32-1 items', 'dd ff ff ff ff 00'],
    ['bin 8 past the end', 'c4 05 00'],
    ['two objects', '01 02'],
    ['empty', ''],
  ])('refuses %s', (_name, bytes) => {
    expect(isMsgpack(hex(bytes))).toBe(false);
  });

  it.each([
    ['nil', 'c0'],
    ['fixmap {"a":1}', '81 a1 61 01'],
    ['timestamp 32 (ext -1)', 'd6 ff 00 00 00 01'],
    ['bin 8', 'c4 02 00 ff'],
    ['float 64', 'cb 3f f0 00 00 00 00 00 00'],
  ])('accepts %s', (_name, bytes) => {
    expect(isMsgpack(hex(bytes))).toBe(true);
  });
});

describe('isJson / isUtf8', () => {
  it('refuses JSON whose string is not well-formed UTF-8 (22 FF FE 22)', () => {
    expect(isJson(hex('22 ff fe 22'))).toBe(false);
    expect(isUtf8(hex('22 ff fe 22'))).toBe(false);
  });

  it('refuses a BOM before a JSON text, and overlong / surrogate encodings', () => {
    expect(isJson(Buffer.concat([hex('ef bb bf'), Buffer.from('{"a":1}')]))).toBe(false);
    expect(isJson(hex('22 c0 af 22'))).toBe(false);
    expect(isJson(hex('22 ed a0 80 22'))).toBe(false);
  });

  it('accepts every JSON text JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => isJson(Buffer.from(JSON.stringify(v) ?? 'null'))),
      { seed: 13, numRuns: 300 },
    );
  });
});
