/**
 * AreaCursor under log retention (slow_consumer closes) and message expiry, on the in-memory
 * AreaLog double and fake Subscribers (./testing/cursor-harness.ts).
 */
import { describe, expect, it } from 'vitest';
import { LIVE } from './virtual-cursors.ts';
import { AREA, env, flush, range } from './testing/cursor-harness.ts';

describe('AreaCursor: retention and expiry', () => {
  it('slow_consumer close when retention passed a paused subscriber position; others carry on', async () => {
    const e = await env({ ringSize: 4 });
    const slow = e.sub(0);
    const fast = e.sub(0);
    e.publish(2);
    slow.sub.dropping = true;
    e.publish(18);
    e.log.trimTo(AREA, 15);
    slow.sub.dropping = false;
    slow.sub.paused = false;
    e.cursor.resume(slow.slot, slow.sub); // ring holds 17..20; needs 3: reads the log, which starts at 15
    await flush();
    expect(slow.sub.closeReason).toBe('slow_consumer');
    expect(slow.sub.closeDetail).toMatch(/needs offset 3, oldest retained is 15/);
    expect(slow.sub.offsets).toEqual([1, 2]);
    expect(e.counts.slowConsumerCloses).toBe(1);
    expect(e.cursor.first).toBe(15);
    e.publish(1);
    expect(fast.sub.offsets).toEqual(range(1, 21));
    expect(slow.sub.violations).toEqual([]);
  });

  it('a paused subscriber still inside the retained window is caught up, not closed', async () => {
    const e = await env({ ringSize: 4 });
    const slow = e.sub(0);
    slow.sub.dropping = true;
    e.publish(20);
    e.log.trimTo(AREA, 1);
    slow.sub.dropping = false;
    slow.sub.paused = false;
    e.cursor.resume(slow.slot, slow.sub);
    await flush();
    expect(slow.sub.closed).toBe(false);
    expect(slow.sub.offsets).toEqual(range(1, 20));
  });

  it('records the tail skipped (trimmed before this cursor read them) close the subscribers that needed them', async () => {
    const e = await env({ ringSize: 8 });
    const live = e.sub(0);
    e.publish(2);
    for (let i = 0; i < 8; i++) e.log.appendNow(AREA); // 3..10
    e.log.trimTo(AREA, 7);
    e.log.pump(); // delivers 7..10: the jump tells the cursor 3..6 are gone
    expect(e.cursor.first).toBe(7);
    expect(live.sub.closeReason).toBe('slow_consumer');
    expect(live.sub.offsets).toEqual([1, 2]);
    const fresh = e.sub(e.cursor.head);
    e.publish(1);
    expect(fresh.sub.offsets).toEqual([11]);
  });

  it('expired entries are skipped on the live, ring and log paths', async () => {
    const e = await env({ ringSize: 64 });
    const live = e.sub(0);
    const paused = e.sub(0);
    paused.sub.dropping = true;
    e.publish(1); // 1
    e.publish(1, { expiresAt: e.clock.t + 50 }); // 2: live while fresh
    e.publish(1, { expiresAt: 1 }); // 3: already expired
    e.publish(1); // 4
    expect(live.sub.offsets).toEqual([1, 2, 4]);
    e.clock.t += 100; // 2 is now expired too
    paused.sub.dropping = false;
    paused.sub.paused = false;
    e.cursor.resume(paused.slot, paused.sub); // from the ring
    expect(paused.sub.offsets).toEqual([1, 4]);
    expect(e.vc.sent[paused.slot]).toBe(4);

    const e2 = await env({ ringSize: 1 });
    e2.publish(1);
    e2.publish(1, { expiresAt: 1 });
    e2.publish(2);
    e2.publish(1, { expiresAt: 1 }); // 5 expired and it is the head
    const fromLog = e2.sub(0);
    await flush();
    expect(fromLog.sub.offsets).toEqual([1, 3, 4]);
    expect(e2.vc.sent[fromLog.slot]).toBe(5);
    expect(e2.vc.state[fromLog.slot]).toBe(LIVE);
    e2.publish(1);
    expect(fromLog.sub.offsets).toEqual([1, 3, 4, 6]);
  });
});
