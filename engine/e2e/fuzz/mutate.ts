/**
 * TEST HELPERS ONLY (fuzz suites): byte-level mutations of valid inputs, as fast-check arbitraries.
 *
 * A mutation is data (a small record), applied afterwards to whatever bytes the generator built:
 * positions are plain naturals taken modulo the input length, so one mutation means something on
 * any input and fast-check can shrink both the input and the mutation independently. A failing
 * run prints the mutations, and `applyMutations` turns them back into the exact bytes sent.
 */
import fc from 'fast-check';

export type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'duplicate'; readonly at: number; readonly length: number };

/** Bytes that parsers trip over: NUL, ASCII edges, quote/backslash, msgpack's never-used C1, UTF-8 lead/continuation bytes. */
const INTERESTING = [0x00, 0x01, 0x22, 0x5c, 0x7b, 0x7d, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc3, 0xdf, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xfe, 0xff];

const byteArb = fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 }));

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: byteArb }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(byteArb, { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 24 }) }),
);

/** Zero to `max` mutations; zero keeps the valid input (the engine must answer it normally). */
export const mutationsArb = (max = 3): fc.Arbitrary<Mutation[]> => fc.array(mutationArb, { maxLength: max });

export function applyMutation(input: Uint8Array, m: Mutation): Buffer {
  const b = Buffer.from(input);
  const n = b.length;
  switch (m.kind) {
    case 'flip':
      if (n > 0) b[m.at % n] ^= 1 << m.bit;
      return b;
    case 'set':
      if (n > 0) b[m.at % n] = m.value;
      return b;
    case 'truncate':
      return b.subarray(0, n === 0 ? 0 : m.at % n);
    case 'insert': {
      const at = m.at % (n + 1);
      return Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    }
    case 'delete': {
      if (n === 0) return b;
      const at = m.at % n;
      return Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
    }
    case 'duplicate': {
      if (n === 0) return b;
      const at = m.at % n;
      const region = b.subarray(at, at + m.length);
      return Buffer.concat([b.subarray(0, at + region.length), region, b.subarray(at + region.length)]);
    }
  }
}

export function applyMutations(input: Uint8Array, ms: readonly Mutation[]): Buffer {
  let b: Buffer = Buffer.from(input);
  for (const m of ms) b = applyMutation(b, m);
  return b;
}

/** `bytes` split at the cut points (naturals, taken modulo the length): never an empty piece, always at least one. */
export function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  if (bytes.length < 2 || cuts.length === 0) return [bytes];
  const points = [...new Set(cuts.map((c) => 1 + (c % (bytes.length - 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** `arb` one time in `n`, else null (fc.option's `freq` is the other way round: nil one time in freq). */
export const rarely = <T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

/** `value` printed by fast-check as `show()` (a counterexample then shows the bytes as hex, not as a number array). */
export function printable<T extends object>(value: T, show: () => string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: show, enumerable: false });
  return value;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
