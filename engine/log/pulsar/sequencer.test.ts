/**
 * Offset derivation, pure (./sequencer.ts): readers that start at different points of one topic
 * number every data message identically, from the first anchor they can use on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffsetSequencer, type SeqMessage } from './sequencer.ts';

const seq = (conflicts: string[] = [], maxPending = 10_000) =>
  new OffsetSequencer<string>({ maxPending, recentWindow: 1000, onConflict: (w) => conflicts.push(w) });

function feed(s: OffsetSequencer<string>, msgs: readonly SeqMessage[]): Map<string, number> {
  const got = new Map<string, number>();
  for (const m of msgs) {
    const r = s.push(m, m.key);
    for (const n of r.numbered) {
      expect(got.has(n.item)).toBe(false);
      got.set(n.item, n.offset);
    }
  }
  return got;
}

const data = (key: string, anchor?: SeqMessage['anchor']): SeqMessage => ({ key, data: true, ...(anchor ? { anchor } : {}) });
const ctl = (key: string, anchor?: SeqMessage['anchor'], genesis = false): SeqMessage => ({ key, data: false, genesis, ...(anchor ? { anchor } : {}) });

describe('OffsetSequencer', () => {
  it('resolves at a genesis on a fence (count 0) and counts data +1', () => {
    const s = seq();
    const got = feed(s, [ctl('f'), ctl('g', { ref: 'f', count: 0, epoch: 'E' }, true), data('a'), ctl('x'), data('b')]);
    expect([...got]).toEqual([['a', 1], ['b', 2]]);
    expect(s).toMatchObject({ resolved: true, epoch: 'E', count: 2, lastKey: 'b' });
  });

  it('numbers foreign messages read before the anchor backwards from it', () => {
    const s = seq();
    const got = feed(s, [data('p'), data('q'), ctl('c'), data('r', { ref: 'q', count: 41, epoch: 'E' })]);
    expect([...got]).toEqual([['p', 40], ['q', 41], ['r', 42]]);
  });

  it('drops data before a genesis anchored on a later message, reports them', () => {
    const s = seq();
    const r1 = s.push(data('early'), 'early');
    const r2 = s.push(ctl('f'), undefined);
    const r3 = s.push(ctl('g', { ref: 'f', count: 0, epoch: 'E' }, true), undefined);
    expect([r1, r2].every((r) => r.numbered.length === 0)).toBe(true);
    expect(r3.dropped).toEqual(['early']);
  });

  it('ignores anchors whose reference it never saw, then resolves on a usable one', () => {
    const s = seq();
    expect(s.push(data('a', { ref: 'gone', count: 9, epoch: 'E.2' }), 'a').numbered).toEqual([]);
    expect(s.maxSeenGeneration).toBe(2);
    expect(s.firstPendingDataKey()).toBe('a');
    const r = s.push(ctl('k', { ref: 'a', count: 10, epoch: 'E.2' }), undefined);
    expect(r.numbered.map((n) => [n.item, n.offset])).toEqual([['a', 10]]);
  });

  it('reports conflicting anchors and keeps its own count (first anchor wins)', () => {
    const conflicts: string[] = [];
    const s = seq(conflicts);
    const got = feed(s, [ctl('f'), ctl('g', { ref: 'f', count: 0, epoch: 'E' }, true), data('a'), data('b', { ref: 'a', count: 7, epoch: 'E' }), ctl('g2', { ref: 'f', count: 0, epoch: 'E' }, true)]);
    expect(got.get('b')).toBe(2);
    expect(conflicts).toHaveLength(1);
    feed(s, [data('c', { ref: 'b', count: 2, epoch: 'OTHER' })]);
    expect(conflicts[1]).toMatch(/epoch OTHER/);
  });

  it('signals a reset on a genesis of another epoch', () => {
    const s = seq();
    feed(s, [ctl('f'), ctl('g', { ref: 'f', count: 0, epoch: 'E' }, true), data('a')]);
    expect(s.push(ctl('g9', { ref: 'a', count: 0, epoch: 'E.1' }, true)).reset).toBe('E.1');
  });

  it('bounds the unresolved buffer', () => {
    const s = seq([], 3);
    for (const k of ['a', 'b', 'c', 'd']) s.push(data(k), k);
    expect(s.pendingCount).toBe(3);
    // 'a' was pushed out, so an anchor on it cannot be used (and pushes 'b' out too)
    expect(s.push(ctl('x', { ref: 'a', count: 1, epoch: 'E' })).numbered).toEqual([]);
    // pushing y drops c: the buffer holds d, x, y
    expect(s.push(ctl('y', { ref: 'd', count: 4, epoch: 'E' })).numbered.map((n) => [n.item, n.offset])).toEqual([['d', 4]]);
  });

  it('every reader agrees on offsets, whatever message it starts at (property)', () => {
    // A topic as writers build it: a genesis, then foreign data, engine data carrying an anchor about
    // the newest message its writer had read (some lag), checkpoints, fences.
    const op = fc.oneof(
      fc.constant({ t: 'foreign' as const, lag: 0 }),
      fc.record({ t: fc.constant('engine' as const), lag: fc.nat(5) }),
      fc.record({ t: fc.constant('checkpoint' as const), lag: fc.nat(5) }),
      fc.constant({ t: 'fence' as const, lag: 0 }),
    );
    fc.assert(
      fc.property(fc.nat(3), fc.array(op, { maxLength: 60 }), fc.nat(), (foreignFirst, ops, startSeed) => {
        const msgs: SeqMessage[] = [];
        const truth = new Map<string, number>();
        const counts: number[] = [];
        let n = 0;
        const add = (m: SeqMessage, count: number) => {
          msgs.push(m);
          counts.push(count);
        };
        for (let i = 0; i < foreignFirst; i++) {
          truth.set(`d${i}`, i + 1);
          add(data(`d${i}`), i + 1);
          n = i + 1;
        }
        add(ctl('fence0'), n);
        const genesisAnchor = foreignFirst > 0 ? { ref: 'd0', count: 1, epoch: 'E' } : { ref: 'fence0', count: 0, epoch: 'E' };
        add(ctl('genesis', genesisAnchor, true), n);
        const anchorAt = (lag: number) => {
          const i = Math.max(0, msgs.length - 1 - lag);
          return { ref: msgs[i]!.key, count: counts[i]!, epoch: 'E' };
        };
        ops.forEach((o, i) => {
          if (o.t === 'foreign' || o.t === 'engine') {
            n++;
            truth.set(`m${i}`, n);
            add(data(`m${i}`, o.t === 'engine' ? anchorAt(o.lag) : undefined), n);
          } else add(ctl(`c${i}`, o.t === 'checkpoint' ? anchorAt(o.lag) : undefined), n);
        });
        const start = startSeed % msgs.length;
        const conflicts: string[] = [];
        const got = feed(seq(conflicts), msgs.slice(start));
        expect(conflicts).toEqual([]);
        for (const [key, offset] of got) expect(offset).toBe(truth.get(key));
        if (start === 0) expect(got.size).toBe(truth.size);
        // once resolved, nothing after the resolution point is missed
        const numberedKeys = msgs.slice(start).filter((m) => m.data && got.has(m.key)).map((m) => m.key);
        const lastMissing = msgs.slice(start).filter((m) => m.data && !got.has(m.key)).map((m) => truth.get(m.key)!);
        if (numberedKeys.length > 0 && lastMissing.length > 0) expect(Math.max(...lastMissing)).toBeLessThan(got.get(numberedKeys[0]!)!);
      }),
      { numRuns: 300 },
    );
  });
});
