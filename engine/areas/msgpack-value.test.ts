/**
 * 64-bit MessagePack integers (0xcf / 0xd3), as msgpack-python and others write any integer
 * >= 2^32: every vehicle format encodes them (they were a BigInt that made JSON.stringify throw,
 * so the message reached no subscriber and its history page answered 500).
 */
import { describe, expect, it } from 'vitest';
import { PayloadView } from './encoding.ts';
import { jsonOfValue, unpackValue } from './msgpack-value.ts';

/** {"t": <uint64 n>} and {"d": <int64 n>} written with the 64-bit formats, whatever n's size. */
function u64Map(key: string, n: bigint, signed: boolean): Uint8Array {
  const b = Buffer.alloc(1 + 1 + key.length + 9);
  let i = 0;
  b[i++] = 0x81; // fixmap of 1
  b[i++] = 0xa0 | key.length;
  i += b.write(key, i, 'latin1');
  b[i++] = signed ? 0xd3 : 0xcf;
  if (signed) b.writeBigInt64BE(n, i);
  else b.writeBigUInt64BE(n, i);
  return b;
}

const view = (payload: Uint8Array): PayloadView => new PayloadView({ offset: 1, time: 0, expiresAt: 0, contentType: 'msgpack', payload });

describe('64-bit MessagePack integers', () => {
  it('one that fits a number exactly is a number for every format (a ms timestamp)', () => {
    const p = view(u64Map('t', 1_733_500_000_000n, false));
    expect(p.value()).toEqual({ t: 1_733_500_000_000 });
    expect(p.jsonText()).toBe('{"t":1733500000000}');
    expect(unpackValue(u64Map('d', -5n, true))).toEqual({ d: -5 });
  });

  it('one past 2^53 keeps its exact digits as a JSON string, and never throws', () => {
    const p = view(u64Map('t', 18_446_744_073_709_551_615n, false));
    expect(() => p.jsonText()).not.toThrow();
    expect(p.jsonText()).toBe('{"t":"18446744073709551615"}');
    expect(jsonOfValue({ a: [1n << 60n] })).toBe('{"a":["1152921504606846976"]}');
  });
});
