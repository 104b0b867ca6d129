/**
 * FrameRing against a plain-array model: contiguous and non-contiguous pushes, lookups,
 * capacity eviction and the byte count.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameRing, type RingEntry } from './ring.ts';

function entry(offset: number, sizes: readonly number[] = [3, 5]): RingEntry {
  return { offset, time: offset * 10, expiresAt: 0, origin: '', frames: sizes.map((n) => new Uint8Array(n).fill(offset & 0xff)) };
}

function bytesOf(e: RingEntry): number {
  return e.frames.reduce((n, f) => n + f.byteLength, 0);
}

/** The obvious model: a contiguous run of at most `capacity` entries, restarted on a jump. */
class RingModel {
  entries: RingEntry[] = [];
  constructor(readonly capacity: number) {}
  push(e: RingEntry): void {
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined && e.offset !== last.offset + 1) this.entries = [];
    this.entries.push(e);
    if (this.entries.length > this.capacity) this.entries.shift();
  }
  get(offset: number): RingEntry | undefined {
    return this.entries.find((e) => e.offset === offset);
  }
  clear(): void {
    this.entries = [];
  }
  get first(): number {
    return this.entries[0]?.offset ?? 0;
  }
  get last(): number {
    return this.entries[this.entries.length - 1]?.offset ?? 0;
  }
  get bytes(): number {
    return this.entries.reduce((n, e) => n + bytesOf(e), 0);
  }
}

type Op =
  | { kind: 'next'; sizes: number[] }
  | { kind: 'jump'; by: number; sizes: number[] }
  | { kind: 'clear' }
  | { kind: 'get'; delta: number };

const sizesArb = fc.array(fc.nat(40), { minLength: 0, maxLength: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('next' as const), sizes: sizesArb }) },
  // by: a forward gap (trimmed records), a repeat or a step back (log reset)
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('jump' as const), by: fc.integer({ min: -5, max: 30 }), sizes: sizesArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('get' as const), delta: fc.integer({ min: -3, max: 3 }) }) },
);

function checkAgainstModel(ring: FrameRing, model: RingModel): void {
  expect(ring.size).toBe(model.entries.length);
  expect(ring.first).toBe(model.first);
  expect(ring.last).toBe(model.last);
  expect(ring.byteSize).toBe(model.bytes);
  expect(ring.size).toBeLessThanOrEqual(ring.capacity);
  if (model.entries.length > 0) expect(ring.last - ring.first + 1).toBe(ring.size);
}

describe('FrameRing', () => {
  it('rejects a capacity below 1 or not an integer', () => {
    expect(() => new FrameRing(0)).toThrow(RangeError);
    expect(() => new FrameRing(-3)).toThrow(RangeError);
    expect(() => new FrameRing(1.5)).toThrow(RangeError);
    expect(() => new FrameRing(Number.NaN)).toThrow(RangeError);
  });

  it('is empty at first', () => {
    const r = new FrameRing(4);
    expect(r.size).toBe(0);
    expect(r.first).toBe(0);
    expect(r.last).toBe(0);
    expect(r.byteSize).toBe(0);
    expect(r.get(0)).toBeUndefined();
    expect(r.get(1)).toBeUndefined();
  });

  it('evicts the oldest entry at capacity and keeps the byte count', () => {
    const r = new FrameRing(3);
    for (let o = 1; o <= 5; o++) r.push(entry(o, [o]));
    expect([r.first, r.last, r.size]).toEqual([3, 5, 3]);
    expect(r.byteSize).toBe(3 + 4 + 5);
    expect(r.get(2)).toBeUndefined();
    expect(r.get(3)?.offset).toBe(3);
    expect(r.get(5)?.offset).toBe(5);
    expect(r.get(6)).toBeUndefined();
  });

  it('a gap in offsets restarts the ring at the new offset', () => {
    const r = new FrameRing(4);
    r.push(entry(1));
    r.push(entry(2));
    r.push(entry(10, [7]));
    expect([r.first, r.last, r.size, r.byteSize]).toEqual([10, 10, 1, 7]);
    expect(r.get(2)).toBeUndefined();
    expect(r.get(10)?.offset).toBe(10);
  });

  it('capacity 1 holds only the newest', () => {
    const r = new FrameRing(1);
    for (let o = 1; o <= 4; o++) {
      r.push(entry(o, [o]));
      expect([r.first, r.last, r.byteSize]).toEqual([o, o, o]);
      expect(r.get(o - 1)).toBeUndefined();
    }
  });

  it('returns the very entry object that was pushed (frames are shared, never copied)', () => {
    const r = new FrameRing(8);
    const e = entry(1);
    r.push(e);
    expect(r.get(1)).toBe(e);
    expect(r.get(1)!.frames[0]).toBe(e.frames[0]);
  });

  it('property: behaves like the array model', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 1000 }), fc.array(opArb, { maxLength: 150 }), (cap, start, ops) => {
        const ring = new FrameRing(cap);
        const model = new RingModel(cap);
        let nextOffset = start;
        for (const op of ops) {
          if (op.kind === 'next') {
            const e = entry(nextOffset++, op.sizes);
            ring.push(e);
            model.push(e);
          } else if (op.kind === 'jump') {
            const o = Math.max(1, nextOffset + op.by);
            const e = entry(o, op.sizes);
            ring.push(e);
            model.push(e);
            nextOffset = o + 1;
          } else if (op.kind === 'clear') {
            ring.clear();
            model.clear();
          } else {
            // probe around both ends and the middle
            for (const base of [model.first, model.last, (model.first + model.last) >> 1, nextOffset]) {
              const o = base + op.delta;
              expect(ring.get(o)).toBe(model.get(o));
            }
          }
          checkAgainstModel(ring, model);
        }
        for (let o = model.first - cap - 1; o <= nextOffset + cap + 1; o++) expect(ring.get(o)).toBe(model.get(o));
      }),
      { numRuns: 500 },
    );
  });
});
