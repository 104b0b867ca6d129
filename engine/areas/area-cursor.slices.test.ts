/**
 * Sliced fan-out (AreaSettings.fanoutSliceMs): a fan-out that uses up its slice goes on in later
 * event-loop turns, so accepts and other I/O run in between [fan-out.ts Slice]. On the in-memory
 * AreaLog double; a slice of Number.MIN_VALUE ms is always over, so each slice writes exactly
 * `fanoutSliceCheck` slots and the tests are deterministic.
 */
import { describe, expect, it } from 'vitest';
import { AREA, env, flush, range } from './testing/cursor-harness.ts';
import { LIVE } from './virtual-cursors.ts';

const SLICED = { fanoutSliceMs: Number.MIN_VALUE, fanoutSliceCheck: 2 };

async function settle(rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) await flush();
}

describe('AreaCursor: sliced fan-out', () => {
  it('yields the event loop between slices: other I/O runs before the fan-out reaches the last subscriber', async () => {
    const e = await env(SLICED);
    const subs = range(1, 7).map(() => e.sub(0));
    let ioRanAt = -1;
    setImmediate(() => {
      ioRanAt = subs.filter((s) => s.sub.offsets.length > 0).length;
    });
    e.publish(1);
    expect(subs.filter((s) => s.sub.offsets.length > 0).length).toBe(2); // the first slice
    await settle();
    expect(ioRanAt).toBeGreaterThan(0);
    expect(ioRanAt).toBeLessThan(7);
    for (const s of subs) expect(s.sub.offsets).toEqual([1]);
    expect(e.counts.delivered).toBe(7);
    expect(e.counts.fanoutSlices).toBe(3); // slices of 2, 2, 2, 1 slots: three turns after the first
  });

  it('the tail waits: records published during a sliced fan-out reach everyone after it, in order, once', async () => {
    const e = await env(SLICED);
    const subs = range(1, 5).map(() => e.sub(0));
    e.publish(1);
    e.publish(3); // the tail is busy: these stay in the log
    expect(e.cursor.head).toBe(1);
    await settle();
    e.log.pump();
    await settle();
    for (const s of subs) {
      expect(s.sub.offsets).toEqual([1, 2, 3, 4]);
      expect(s.sub.violations).toEqual([]);
    }
  });

  it('a detach between slices that moves an unvisited subscriber behind the loop: the straggler pass still delivers', async () => {
    const e = await env(SLICED);
    const subs = range(1, 6).map(() => e.sub(0));
    e.publish(1);
    // slices visit indexes 0-1 first; detaching index 0 swaps the last (unvisited) subscriber into it
    expect(subs[5].sub.offsets).toEqual([]);
    e.cursor.detach(subs[0].slot);
    subs[0].sub.detached = true;
    await settle();
    for (const s of subs.slice(1)) expect(s.sub.offsets).toEqual([1]);
    expect(e.vc.state[subs[5].slot]).toBe(LIVE);
  });

  it('a subscriber that attaches between slices gets the message once from its catch-up, not again from the fan-out', async () => {
    const e = await env(SLICED);
    const subs = range(1, 5).map(() => e.sub(0));
    e.publish(1);
    const late = e.sub(0);
    expect(late.sub.offsets).toEqual([1]);
    await settle();
    expect(late.sub.offsets).toEqual([1]);
    for (const s of subs) expect(s.sub.offsets).toEqual([1]);
  });

  it('batches slice too (a burst read in one tail call)', async () => {
    const e = await env(SLICED);
    const subs = range(1, 5).map(() => e.sub(0));
    for (let i = 0; i < 4; i++) e.log.appendNow(AREA);
    e.log.pump();
    await settle();
    for (const s of subs) expect(s.sub.offsets).toEqual([1, 2, 3, 4]);
    expect(e.counts.fanoutSlices).toBeGreaterThan(0);
  });

  it('close() between slices stops the fan-out', async () => {
    const e = await env(SLICED);
    const subs = range(1, 6).map(() => e.sub(0));
    e.publish(1);
    e.cursor.close();
    await settle();
    expect(subs.filter((s) => s.sub.offsets.length > 0).length).toBe(2);
  });

  it('fanoutSliceWhen false (no connects arriving): the fan-out runs whole in one turn', async () => {
    let connecting = false;
    const e = await env({ ...SLICED, fanoutSliceWhen: () => connecting });
    const subs = range(1, 7).map(() => e.sub(0));
    e.publish(1);
    expect(subs.filter((s) => s.sub.offsets.length > 0).length).toBe(7);
    expect(e.counts.fanoutSlices).toBe(0);
    connecting = true;
    e.publish(1);
    expect(subs.filter((s) => s.sub.offsets.length > 1).length).toBe(2);
    await settle();
    for (const s of subs) expect(s.sub.offsets).toEqual([1, 2]);
  });
});
