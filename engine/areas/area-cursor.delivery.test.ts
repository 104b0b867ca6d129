/**
 * AreaCursor live fan-out and backpressure, on the in-memory AreaLog double and fake Subscribers
 * (./testing/cursor-harness.ts).
 */
import { describe, expect, it } from 'vitest';
import { WRITE_DROPPED } from './subscriber.ts';
import { LIVE, PAUSED } from './virtual-cursors.ts';
import { AREA, env, FakeSub, range } from './testing/cursor-harness.ts';

describe('AreaCursor: live fan-out', () => {
  it('opens at the log head with one tail; every LIVE subscriber gets each message once, in order, in its own format', async () => {
    const e = await env({}, 5);
    expect(e.cursor.head).toBe(5);
    expect(e.log.openTails).toBe(1);
    const subs = [e.sub(5, 0), e.sub(5, 1), e.sub(5, 0)];
    for (const { slot } of subs) expect(e.vc.state[slot]).toBe(LIVE);
    e.log.appendNow(AREA);
    e.log.appendNow(AREA);
    e.log.pump(1);
    e.log.appendNow(AREA);
    e.log.pump();
    for (const { sub, slot } of subs) {
      expect(sub.offsets).toEqual([6, 7, 8]);
      expect(sub.violations).toEqual([]);
      expect(e.vc.sent[slot]).toBe(8);
    }
    expect(e.counts.delivered).toBe(9);
    expect(e.log.readCalls).toBe(0);
    expect(e.cursor.subscriberCount).toBe(3);
  });

  it('adding subscribers never adds log reads while they are live', async () => {
    const e = await env({ ringSize: 4 });
    for (let i = 0; i < 50; i++) e.sub(0, i % 2);
    e.publish(20);
    expect(e.log.readCalls).toBe(0);
    expect(e.log.openTails).toBe(1);
  });

  it('a subscriber that resumed ahead of this cursor waits for live to pass its offset', async () => {
    const e = await env({}, 3);
    // the vehicle had offset 6 from another process; this cursor has only read 3
    const { sub, slot } = e.sub(6);
    expect(e.vc.state[slot]).toBe(LIVE);
    e.log.appendNow(AREA);
    e.log.appendNow(AREA);
    e.log.appendNow(AREA);
    e.log.appendNow(AREA);
    e.log.pump();
    expect(sub.offsets).toEqual([7]);
  });

  it('detach removes a subscriber in O(1) and keeps the others in place', async () => {
    const e = await env();
    const subs = [e.sub(0), e.sub(0), e.sub(0), e.sub(0)];
    e.publish(1);
    e.cursor.detach(subs[1].slot);
    subs[1].sub.detached = true;
    e.cursor.detach(subs[1].slot); // twice: no-op
    e.cursor.detach(subs[0].slot);
    subs[0].sub.detached = true;
    e.publish(2);
    expect(subs.map((s) => s.sub.offsets)).toEqual([[1], [1], [1, 2, 3], [1, 2, 3]]);
    expect(e.cursor.subscriberCount).toBe(2);
    expect(e.cursor.idleSince).toBe(0);
    e.cursor.detach(subs[2].slot);
    e.cursor.detach(subs[3].slot);
    expect(e.cursor.idleSince).toBe(e.clock.t);
    for (const s of subs) expect(s.sub.violations).toEqual([]);
  });

  it('close() stops the tail and delivery', async () => {
    const e = await env();
    const { sub } = e.sub(0);
    e.publish(1);
    e.cursor.close();
    expect(e.log.openTails).toBe(0);
    e.publish(1);
    expect(sub.offsets).toEqual([1]);
  });
});

describe('AreaCursor: backpressure', () => {
  it('a dropped write pauses only that subscriber; it catches up in order on resume', async () => {
    const e = await env({ ringSize: 64 });
    const slow = e.sub(0);
    const fast = e.sub(0);
    e.publish(2);
    slow.sub.dropping = true;
    e.publish(5);
    expect(fast.sub.offsets).toEqual(range(1, 7));
    expect(slow.sub.offsets).toEqual([1, 2]);
    expect(slow.sub.paused).toBe(true);
    expect(e.vc.state[slow.slot]).toBe(PAUSED);
    expect(e.vc.sent[slow.slot]).toBe(2);
    e.cursor.sweep(e.clock.t + 10_000); // still paused: the sweep leaves it alone
    expect(slow.sub.offsets).toEqual([1, 2]);
    // the transport saw the socket drain
    slow.sub.dropping = false;
    slow.sub.paused = false;
    e.cursor.resume(slow.slot, slow.sub);
    expect(slow.sub.offsets).toEqual(range(1, 7));
    expect(e.vc.state[slow.slot]).toBe(LIVE);
    e.publish(1);
    expect(slow.sub.offsets).toEqual(range(1, 8));
    expect(fast.sub.offsets).toEqual(range(1, 8));
  });

  it('the sweep catches up a slot whose connection is no longer paused', async () => {
    const e = await env();
    const s = e.sub(0);
    s.sub.dropping = true;
    e.publish(3);
    s.sub.dropping = false;
    s.sub.paused = false; // e.g. another area's resume cleared the connection flag
    e.cursor.sweep(e.clock.t);
    expect(s.sub.offsets).toEqual([1, 2, 3]);
  });

  it('a drop in the middle of a catch-up pauses it at the right offset', async () => {
    const e = await env({ ringSize: 64 });
    e.publish(10);
    const s = new FakeSub(0);
    let budget = 4;
    const write = s.write.bind(s);
    s.write = (f, o) => (budget-- > 0 ? write(f, o) : WRITE_DROPPED);
    const slot = e.cursor.attach(s, 0);
    e.cursor.start(slot, s);
    expect(s.offsets).toEqual([1, 2, 3, 4]);
    expect(e.vc.sent[slot]).toBe(4);
    expect(e.vc.state[slot]).toBe(PAUSED);
    budget = 1000;
    s.paused = false;
    e.cursor.resume(slot, s);
    expect(s.offsets).toEqual(range(1, 10));
  });

  it('No Local: live, from the ring and from the log, a subscriber never gets what it published, and its cursor passes it', async () => {
    const e = await env({ ringSize: 4 });
    e.publish(2, { origin: 'me' });
    e.publish(6); // offsets 1-2 are now only in the log, 5-8 in the ring
    const fromLog = new FakeSub(0);
    fromLog.skipOrigin = 'me';
    const slot = e.cursor.attach(fromLog, 0);
    e.cursor.start(slot, fromLog);
    await new Promise((r) => setTimeout(r, 0));
    const live = e.sub(8);
    live.sub.skipOrigin = 'me';
    e.publish(1, { origin: 'me' });
    e.publish(1, { origin: 'other' });
    e.publish(1, { origin: 'me' });
    await new Promise((r) => setTimeout(r, 0));
    expect(fromLog.offsets).toEqual([3, 4, 5, 6, 7, 8, 10]);
    expect(live.sub.offsets).toEqual([10]);
    expect(e.vc.sent[slot]).toBe(11);
    expect(e.vc.sent[live.slot]).toBe(11);
    expect([...fromLog.violations, ...live.sub.violations]).toEqual([]);
  });
});
