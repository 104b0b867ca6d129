/**
 * VirtualCursors: slot allocation (free list, reuse, growth by doubling), generations, and the
 * cumulative-ack rules, against a Map model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CATCHING_UP, FREE, LIVE, VirtualCursors } from './virtual-cursors.ts';

/** Bytes of every typed array the instance holds (whatever arrays it grows). */
function typedArrayBytes(vc: VirtualCursors): number {
  return Object.values(vc).reduce((n: number, v: unknown) => n + (ArrayBuffer.isView(v) ? v.byteLength : 0), 0);
}

describe('VirtualCursors: allocation', () => {
  it('a new slot starts CATCHING_UP at its start offset, acked = sent = start, no ack mode', () => {
    const vc = new VirtualCursors(4);
    const s = vc.alloc(42, 1000);
    expect(vc.state[s]).toBe(CATCHING_UP);
    expect(vc.sent[s]).toBe(42);
    expect(vc.acked[s]).toBe(42);
    expect(vc.since[s]).toBe(1000);
    expect(vc.resends[s]).toBe(0);
    expect(vc.ackMode[s]).toBe(0);
    expect(vc.index[s]).toBe(-1);
    expect(vc.used).toBe(1);
  });

  it('capacity is at least 16 and byteSize is what the typed arrays hold', () => {
    expect(new VirtualCursors(1).capacity).toBe(16);
    expect(new VirtualCursors(100).capacity).toBe(100);
    const vc = new VirtualCursors(16);
    expect(vc.byteSize).toBe(typedArrayBytes(vc));
    expect(vc.byteSize / vc.capacity).toBeLessThanOrEqual(64); // DESIGN: ~2 KB per idle connection in all
  });

  it('free bumps the generation, reuses the slot, and a double free is a no-op', () => {
    const vc = new VirtualCursors(16);
    const a = vc.alloc(1, 0);
    const b = vc.alloc(1, 0);
    const g = vc.generation[a];
    vc.free(a);
    expect(vc.state[a]).toBe(FREE);
    expect(vc.generation[a]).toBe(g + 1);
    expect(vc.used).toBe(1);
    vc.free(a); // double free must not push the slot twice onto the free list
    expect(vc.generation[a]).toBe(g + 1);
    expect(vc.used).toBe(1);
    const c = vc.alloc(7, 5);
    expect(c).toBe(a);
    const d = vc.alloc(8, 5);
    expect(d).not.toBe(a);
    expect(d).not.toBe(b);
    expect(vc.used).toBe(3);
    // the reused slot carries nothing over except its generation
    expect([vc.sent[c], vc.acked[c], vc.ackMode[c], vc.resends[c]]).toEqual([7, 7, 0, 0]);
    expect(vc.generation[c]).toBe(g + 1);
  });

  it('freeing a slot that was never allocated changes nothing', () => {
    const vc = new VirtualCursors(16);
    vc.free(5);
    expect(vc.used).toBe(0);
    expect(vc.generation[5]).toBe(0);
    expect(vc.alloc(1, 0)).toBe(0);
  });

  it('grows by doubling and keeps every value', () => {
    const vc = new VirtualCursors(16);
    const slots: number[] = [];
    for (let i = 0; i < 16; i++) {
      const s = vc.alloc(i * 3, i);
      vc.sent[s] = i * 3 + 2;
      vc.ack(s, i * 3 + 1, i + 100);
      vc.state[s] = LIVE;
      vc.index[s] = i;
      slots.push(s);
    }
    vc.free(slots[3]);
    vc.alloc(0, 0); // reuses slot 3, no growth
    expect(vc.capacity).toBe(16);
    vc.alloc(0, 0); // 17th: grows
    expect(vc.capacity).toBe(32);
    for (let i = 0; i < 16; i++) {
      if (i === 3) continue;
      const s = slots[i];
      expect([vc.sent[s], vc.acked[s], vc.since[s], vc.ackMode[s], vc.state[s], vc.index[s]]).toEqual([i * 3 + 2, i * 3 + 1, i + 100, 1, LIVE, i]);
    }
    expect(vc.generation[slots[3]]).toBe(1);
    expect(vc.byteSize).toBe(typedArrayBytes(vc));
    expect(vc.sent.length).toBe(32);
  });
});

describe('VirtualCursors: acks', () => {
  it('cumulative: advancing sets acked, since and clears resends', () => {
    const vc = new VirtualCursors();
    const s = vc.alloc(10, 0);
    vc.sent[s] = 20;
    vc.resends[s] = 3;
    expect(vc.ack(s, 15, 500)).toBe(true);
    expect([vc.acked[s], vc.since[s], vc.resends[s], vc.ackMode[s]]).toEqual([15, 500, 0, 1]);
    expect(vc.ack(s, 20, 600)).toBe(true);
    expect([vc.acked[s], vc.since[s]]).toEqual([20, 600]);
  });

  it('an ack beyond what was sent is rejected and changes nothing (not even ack mode)', () => {
    const vc = new VirtualCursors();
    const s = vc.alloc(10, 0);
    vc.sent[s] = 12;
    expect(vc.ack(s, 13, 99)).toBe(false);
    expect([vc.acked[s], vc.since[s], vc.ackMode[s]]).toEqual([10, 0, 0]);
  });

  it('an old or repeated ack is accepted and changes nothing but ack mode', () => {
    const vc = new VirtualCursors();
    const s = vc.alloc(10, 0);
    vc.sent[s] = 20;
    vc.ack(s, 18, 100);
    vc.resends[s] = 2;
    expect(vc.ack(s, 18, 200)).toBe(true);
    expect(vc.ack(s, 3, 300)).toBe(true);
    expect(vc.ack(s, 0, 300)).toBe(true);
    expect([vc.acked[s], vc.since[s], vc.resends[s], vc.ackMode[s]]).toEqual([18, 100, 2, 1]);
  });

  it('acking the start offset of a fresh subscription switches ack mode on', () => {
    const vc = new VirtualCursors();
    const s = vc.alloc(5, 0);
    expect(vc.ack(s, 5, 1)).toBe(true);
    expect(vc.ackMode[s]).toBe(1);
    expect(vc.acked[s]).toBe(5);
  });
});

type Op =
  | { kind: 'alloc'; start: number }
  | { kind: 'free'; pick: number }
  | { kind: 'send'; pick: number; n: number }
  | { kind: 'ack'; pick: number; delta: number };

interface ModelSlot {
  sent: number;
  acked: number;
  since: number;
  ackMode: number;
  resends: number;
  generation: number;
}

describe('VirtualCursors: property', () => {
  it('random alloc/free/send/ack against a Map model; slots are never handed out twice', () => {
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('alloc' as const), start: fc.nat(1000) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('send' as const), pick: fc.nat(), n: fc.integer({ min: 1, max: 5 }) }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('ack' as const), pick: fc.nat(), delta: fc.integer({ min: -6, max: 3 }) }) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
        const vc = new VirtualCursors(16);
        const live = new Map<number, ModelSlot>();
        const generations = new Map<number, number>();
        let now = 0;
        for (const op of ops) {
          now += 7;
          const inUse = [...live.keys()];
          if (op.kind === 'alloc') {
            const s = vc.alloc(op.start, now);
            expect(live.has(s)).toBe(false);
            expect(s).toBeLessThan(vc.capacity);
            live.set(s, { sent: op.start, acked: op.start, since: now, ackMode: 0, resends: 0, generation: generations.get(s) ?? 0 });
            vc.resends[s] = 1; // something for a later ack to clear
            live.get(s)!.resends = 1;
          } else if (inUse.length > 0) {
            const s = inUse[op.pick % inUse.length];
            const m = live.get(s)!;
            if (op.kind === 'free') {
              vc.free(s);
              live.delete(s);
              generations.set(s, m.generation + 1);
            } else if (op.kind === 'send') {
              vc.sent[s] += op.n;
              m.sent += op.n;
            } else {
              const offset = m.acked + op.delta + (op.delta > 0 ? m.sent - m.acked - 1 : 0);
              const ok = vc.ack(s, offset, now);
              expect(ok).toBe(offset <= m.sent);
              if (ok) {
                m.ackMode = 1;
                if (offset > m.acked) {
                  m.acked = offset;
                  m.since = now;
                  m.resends = 0;
                }
              }
            }
          }
          expect(vc.used).toBe(live.size);
          for (const [s, m] of live) {
            expect([vc.sent[s], vc.acked[s], vc.since[s], vc.ackMode[s], vc.resends[s], vc.generation[s]]).toEqual([
              m.sent,
              m.acked,
              m.since,
              m.ackMode,
              m.resends,
              m.generation,
            ]);
            expect(vc.state[s]).not.toBe(FREE);
          }
          for (const [s, g] of generations) {
            if (!live.has(s)) {
              expect(vc.state[s]).toBe(FREE);
              expect(vc.generation[s]).toBe(g);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
