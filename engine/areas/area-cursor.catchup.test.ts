/**
 * AreaCursor catch-up (replay from the ring or the log) then live, on the in-memory AreaLog double
 * and fake Subscribers (./testing/cursor-harness.ts).
 */
import { describe, expect, it } from 'vitest';
import { CATCHING_UP, LIVE, REPLAYING } from './virtual-cursors.ts';
import { AREA, env, flush, range } from './testing/cursor-harness.ts';

describe('AreaCursor: catch-up (replay) then live', () => {
  it('from the ring, synchronously, with no gap and no duplicate at the boundary', async () => {
    const e = await env({ ringSize: 64 }, 0);
    e.publish(10);
    const { sub, slot } = e.sub(3);
    expect(sub.offsets).toEqual(range(4, 10));
    expect(e.vc.state[slot]).toBe(LIVE);
    e.publish(2);
    expect(sub.offsets).toEqual(range(4, 12));
    expect(e.log.readCalls).toBe(0);
    expect(e.counts.replayed).toBe(7);
  });

  it('from the log in batches when the ring is tiny, while publishing continues during the replay', async () => {
    const e = await env({ ringSize: 2, replayBatch: 3 });
    e.log.manualReads = true;
    e.publish(20);
    const { sub, slot } = e.sub(0);
    expect(e.vc.state[slot]).toBe(REPLAYING);
    expect(sub.offsets).toEqual([]);
    let published = 20;
    let guard = 0;
    while (e.log.pendingReads > 0 && guard++ < 100) {
      // new messages arrive while the read is in flight: live fan-out must skip the slot
      e.publish(1);
      published++;
      e.log.releaseRead();
      await flush();
    }
    expect(e.vc.state[slot]).toBe(LIVE);
    e.publish(2);
    expect(sub.offsets).toEqual(range(1, published + 2));
    expect(e.log.readCalls).toBeGreaterThan(5);
    expect(sub.violations).toEqual([]);
  });

  it('a replay read never sends past what the tail delivered (it may not be durable yet); live sends the rest', async () => {
    const e = await env({ ringSize: 1, replayBatch: 100 });
    e.publish(5);
    for (let i = 0; i < 5; i++) e.log.appendNow(AREA); // 6..10 in the log, not yet tailed
    const { sub } = e.sub(0);
    await flush();
    expect(sub.offsets).toEqual(range(1, 5));
    e.log.pump(); // 6..10 arrive live, in order
    e.publish(1);
    expect(sub.offsets).toEqual(range(1, 11));
  });

  it('a failed log read leaves the slot CATCHING_UP and the next sweep retries it', async () => {
    const e = await env({ ringSize: 1 });
    e.publish(5);
    e.log.failReads = 1;
    const { sub, slot } = e.sub(0);
    await flush();
    expect(sub.offsets).toEqual([]);
    expect(e.vc.state[slot]).toBe(CATCHING_UP);
    expect(e.errors.some((w) => w.startsWith('replay read'))).toBe(true);
    e.cursor.sweep(e.clock.t);
    await flush();
    expect(sub.offsets).toEqual(range(1, 5));
    expect(e.vc.state[slot]).toBe(LIVE);
  });

  it('a read result for a slot that was detached and reused is dropped (generation check)', async () => {
    const e = await env({ ringSize: 1, replayBatch: 100 });
    e.log.manualReads = true;
    e.publish(8);
    const a = e.sub(0);
    expect(e.log.pendingReads).toBe(1);
    e.cursor.detach(a.slot);
    a.sub.detached = true;
    const b = e.sub(4); // reuses the freed slot
    expect(b.slot).toBe(a.slot);
    while (e.log.releaseRead()) await flush();
    expect(a.sub.offsets).toEqual([]);
    expect(a.sub.violations).toEqual([]);
    expect(b.sub.offsets).toEqual(range(5, 8));
  });

  it('an undecodable payload is counted, skipped on every path, and never stalls the area', async () => {
    const e = await env({ ringSize: 1 });
    const live = e.sub(0);
    e.publish(1);
    e.publish(1, { poison: true });
    e.publish(1);
    await flush(); // the ring (size 1) no longer holds 2: the live slot steps over it via the log
    expect(live.sub.offsets).toEqual([1, 3]);
    expect(e.counts.undeliverable).toBe(1);
    const late = e.sub(0); // from the log (ring holds only 3)
    await flush();
    expect(late.sub.offsets).toEqual([1, 3]);
    e.publish(1);
    expect(live.sub.offsets).toEqual([1, 3, 4]);
    expect(late.sub.offsets).toEqual([1, 3, 4]);
    expect(e.errors.filter((w) => w.startsWith('encode offset 2')).length).toBeGreaterThanOrEqual(2);
  });
});
