/**
 * AreaCursor acks, resends and ack_timeout closes, on the in-memory AreaLog double and fake
 * Subscribers (./testing/cursor-harness.ts).
 */
import { describe, expect, it } from 'vitest';
import { LIVE, PAUSED } from './virtual-cursors.ts';
import { env, flush, range } from './testing/cursor-harness.ts';

describe('AreaCursor: acks, resends and closes', () => {
  it('a subscriber that never acked never gets resends', async () => {
    const e = await env({ resendAfterMs: 100 });
    const s = e.sub(0);
    e.publish(3);
    for (let i = 1; i <= 5; i++) e.cursor.sweep(e.clock.t + i * 1000);
    expect(s.sub.offsets).toEqual([1, 2, 3]);
    expect(e.counts.resent).toBe(0);
  });

  it('resend after the timeout rewinds to acked+1 (duplicates, order kept); progress resets the count', async () => {
    const e = await env({ resendAfterMs: 100, maxResends: 3 });
    const s = e.sub(0);
    e.publish(5);
    expect(e.vc.ack(s.slot, 2, e.clock.t)).toBe(true);
    e.clock.t += 100;
    e.cursor.sweep(e.clock.t); // not yet: strictly more than resendAfterMs
    expect(s.sub.offsets).toEqual([1, 2, 3, 4, 5]);
    e.clock.t += 1;
    e.cursor.sweep(e.clock.t);
    expect(s.sub.offsets).toEqual([1, 2, 3, 4, 5, 3, 4, 5]);
    expect(e.counts.resent).toBe(3);
    expect(e.vc.resends[s.slot]).toBe(1);
    expect(e.vc.state[s.slot]).toBe(LIVE);
    // live continues after the resent ones, in order
    e.publish(1);
    expect(s.sub.offsets).toEqual([1, 2, 3, 4, 5, 3, 4, 5, 6]);
    // an ack that advances resets the resend count; acking everything stops resends
    expect(e.vc.ack(s.slot, 4, e.clock.t)).toBe(true);
    expect(e.vc.resends[s.slot]).toBe(0);
    expect(e.vc.ack(s.slot, 6, e.clock.t)).toBe(true);
    e.clock.t += 10_000;
    e.cursor.sweep(e.clock.t);
    expect(s.sub.offsets).toEqual([1, 2, 3, 4, 5, 3, 4, 5, 6]);
    expect(e.vc.ack(s.slot, 7, e.clock.t)).toBe(false);
  });

  it('the resend timer starts when the oldest unacked message is sent, not at the last ack', async () => {
    const e = await env({ resendAfterMs: 100 });
    const s = e.sub(0);
    e.vc.ack(s.slot, 0, e.clock.t); // ack mode on, nothing outstanding
    e.clock.t += 5000;
    e.publish(1);
    e.clock.t += 50;
    e.cursor.sweep(e.clock.t);
    expect(s.sub.offsets).toEqual([1]);
    e.clock.t += 51;
    e.cursor.sweep(e.clock.t);
    expect(s.sub.offsets).toEqual([1, 1]);
  });

  it('resend from the log when the ring no longer holds the unacked messages', async () => {
    const e = await env({ resendAfterMs: 100, ringSize: 2 });
    const s = e.sub(0);
    e.publish(6);
    e.vc.ack(s.slot, 1, e.clock.t);
    e.clock.t += 101;
    e.cursor.sweep(e.clock.t);
    await flush();
    expect(s.sub.offsets).toEqual([...range(1, 6), ...range(2, 6)]);
  });

  it('ack_timeout close after maxResends resends without ack progress', async () => {
    const e = await env({ resendAfterMs: 100, maxResends: 2 });
    const s = e.sub(0);
    e.vc.ack(s.slot, 0, e.clock.t);
    e.publish(3);
    for (let i = 0; i < 3; i++) {
      e.clock.t += 101;
      e.cursor.sweep(e.clock.t);
    }
    expect(s.sub.offsets).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3]);
    expect(s.sub.closeReason).toBe('ack_timeout');
    expect(s.sub.closeDetail).toMatch(/no ack past 0 after 2 resends/);
    expect(e.counts.ackTimeoutCloses).toBe(1);
    expect(e.counts.resent).toBe(6);
  });

  it('after an ack_timeout close, nothing is written to the closed subscriber before the transport detaches it', async () => {
    // Subscriber contract: "true once closed or closing; areas never write to it again".
    const e = await env({ resendAfterMs: 100, maxResends: 0 });
    const s = e.sub(0);
    e.vc.ack(s.slot, 0, e.clock.t);
    e.publish(1);
    e.clock.t += 101;
    e.cursor.sweep(e.clock.t);
    expect(s.sub.closeReason).toBe('ack_timeout');
    e.publish(1); // live fan-out before the deferred close detaches the slot
    expect(s.sub.violations).toEqual([]);
  });

  it('maxResends above 255 still closes with ack_timeout', async () => {
    // config allows any ack-max-resends >= 0; the resend counter is a Uint8Array
    const e = await env({ resendAfterMs: 1, maxResends: 256 });
    const s = e.sub(0);
    e.vc.ack(s.slot, 0, e.clock.t);
    e.publish(1);
    for (let i = 0; i < 300 && !s.sub.closed; i++) {
      e.clock.t += 2;
      e.cursor.sweep(e.clock.t);
    }
    expect(s.sub.closeReason).toBe('ack_timeout');
  });

  it('an ack for an offset the vehicle received before a resend rewind is accepted (not bad_ack)', async () => {
    const e = await env({ resendAfterMs: 100 });
    const s = e.sub(0);
    e.publish(5);
    expect(e.vc.ack(s.slot, 1, e.clock.t)).toBe(true);
    // the socket is over its budget when the resend fires: the rewind cannot be re-sent yet
    s.sub.dropping = true;
    e.clock.t += 101;
    e.cursor.sweep(e.clock.t);
    expect(s.sub.offsets).toEqual([1, 2, 3, 4, 5]);
    // the vehicle's ack for offset 5 (which it did receive) arrives now
    expect(e.vc.ack(s.slot, 5, e.clock.t)).toBe(true);
  });

  it('an over-budget (PAUSED) subscriber inside the retained window is not closed with ack_timeout', async () => {
    // DESIGN: a socket over its backpressure budget "is disconnected with a reason only when it
    // falls out of the retained window". Nothing can be resent to a PAUSED slot, so no resend
    // should count against it.
    const e = await env({ resendAfterMs: 100, maxResends: 2, ringSize: 1024 });
    const s = e.sub(0);
    e.publish(2);
    e.vc.ack(s.slot, 1, e.clock.t);
    s.sub.dropping = true;
    e.publish(3);
    expect(e.vc.state[s.slot]).toBe(PAUSED);
    for (let i = 0; i < 5; i++) {
      e.clock.t += 101;
      e.cursor.sweep(e.clock.t);
    }
    expect(s.sub.closed).toBe(false);
    s.sub.dropping = false;
    s.sub.paused = false;
    e.cursor.resume(s.slot, s.sub);
    expect(s.sub.offsets.slice(-4)).toEqual(range(2, 5));
  });

  it('sweep returns the minimum acked offset (head when there are no subscribers)', async () => {
    const e = await env({}, 4);
    expect(e.cursor.sweep(e.clock.t)).toBe(4);
    const a = e.sub(4);
    const b = e.sub(4);
    e.publish(3);
    e.vc.ack(a.slot, 6, e.clock.t);
    e.vc.ack(b.slot, 5, e.clock.t);
    expect(e.cursor.sweep(e.clock.t)).toBe(5);
  });
});
