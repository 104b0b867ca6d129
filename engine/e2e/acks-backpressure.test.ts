/**
 * End to end, real sockets: cumulative acks advance the virtual cursor (visible in /metrics) and
 * stop resends; a vehicle whose acks stop gets the unacked messages again, in order, then is
 * closed with 4001 ack_timeout; a socket that stops reading never slows the others, catches up in
 * order when it reads again, or is closed with 4000 slow_consumer once it fell out of retention.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../errors.ts';
import { areaInfo, metric, publishOk, publishSeq, range, sleep, startTestEngine, until, type TestEngine } from '../testing/harness.ts';

describe('acks (--ack-resend-ms 300 --ack-max-resends 2)', () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await startTestEngine(['--ack-resend-ms', '300', '--ack-max-resends', '2', '--sweep-interval-ms', '50']);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('acks advance the virtual cursor (abe_area_min_acked_offset) and stop resends', async () => {
    const area = 'ack:good';
    const acker = await t.connect();
    const silent = await t.connect({ protocol: 'v1.msgpack' }); // never acks: never gets resends either
    await acker.subscribe(area);
    await silent.subscribe(area);
    const gauge = () => metric(t.base, 'abe_area_min_acked_offset', { area });
    await until('gauge reported', async () => (await gauge()) === 0);
    const acksBefore = (await metric(t.base, 'abe_acks_total')) ?? 0;

    await publishSeq(t.base, area, 10);
    await acker.waitOffset(area, 10);
    await silent.waitOffset(area, 10);
    for (const o of [3, 7, 10]) acker.ack(area, o);
    await acker.sync();
    expect(acker.errors()).toEqual([]);
    expect((await metric(t.base, 'abe_acks_total'))!).toBe(acksBefore + 3);
    // the gauge is the minimum over subscribers: the silent one still holds it at 0
    silent.close();
    await silent.waitClose();
    await until('min acked offset = 10', async () => (await gauge()) === 10);

    // more messages, acked as they come: still no resend after several resend periods
    await publishSeq(t.base, area, 5, 11);
    await acker.waitOffset(area, 15);
    acker.ack(area, 15);
    await until('min acked offset = 15', async () => (await gauge()) === 15);
    await sleep(1000); // > 3 resend periods: absence of resends can only be shown by waiting
    await acker.sync();
    expect(acker.offsets(area)).toEqual(range(1, 15));
    expect(silent.offsets(area)).toEqual(range(1, 10));
    expect(acker.closeInfo).toBeUndefined();
  });

  it('a vehicle that acks once then stops gets the unacked ones again, in order, then 4001 ack_timeout', async () => {
    const area = 'ack:stalled';
    const v = await t.connect();
    await v.subscribe(area);
    const resentBefore = (await metric(t.base, 'abe_messages_resent_total')) ?? 0;
    await publishSeq(t.base, area, 10);
    await v.waitOffset(area, 10);
    v.ack(area, 4);
    const closed = await v.waitClose(5000);
    expect(closed).toEqual({ code: CLOSE.ack_timeout.code, reason: 'ack_timeout' });
    // the original ten, then two resends of 5..10 (ack-max-resends 2), nothing else
    expect(v.offsets(area)).toEqual([...range(1, 10), ...range(5, 10), ...range(5, 10)]);
    expect((await metric(t.base, 'abe_messages_resent_total'))!).toBe(resentBefore + 12);
    expect((await metric(t.base, 'abe_ack_timeout_closes_total'))!).toBeGreaterThanOrEqual(1);
  });

  it('an ack during resends restarts the count: only what is still unacked is resent', async () => {
    const area = 'ack:progress';
    const v = await t.connect();
    await v.subscribe(area);
    await publishSeq(t.base, area, 6);
    await v.waitOffset(area, 6);
    v.ack(area, 2);
    // wait for the first resend round (3..6 again), then ack everything
    await v.waitFor('first resend', () => v.offsets(area).length === 10);
    v.ack(area, 6);
    await v.sync();
    await sleep(1000);
    await v.sync();
    expect(v.offsets(area)).toEqual([...range(1, 6), ...range(3, 6)]);
    expect(v.closeInfo).toBeUndefined();
  });
});

/**
 * Publishes 16 KB messages one by one until the engine has dropped a live write (a subscriber went
 * over its backpressure budget: abe_messages_delivered_total falls behind published x subscribers),
 * then `after` more. How much the kernel buffers before that (socket send + receive buffers, ~4 MB
 * on loopback here) depends on the machine, so the count adapts; bounded at 1,500 messages.
 */
async function publishUntilOverBudget(t: TestEngine, area: string, subscribers: number, after: number): Promise<number> {
  const pad = 'p'.repeat(16 * 1024);
  const deliveredBefore = (await metric(t.base, 'abe_messages_delivered_total')) ?? 0;
  let n = 0;
  for (;;) {
    n++;
    await publishOk(t.base, area, { i: n, pad });
    if (n % 10 !== 0) continue;
    const delivered = ((await metric(t.base, 'abe_messages_delivered_total')) ?? 0) - deliveredBefore;
    if (delivered < n * subscribers) break;
    if (n >= 1500) throw new Error(`no socket went over its budget after ${n} x 16 KB`);
  }
  for (let k = 0; k < after; k++) await publishOk(t.base, area, { i: ++n, pad });
  return n;
}

describe('a socket that stops reading (--max-backpressure-bytes 65536)', () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await startTestEngine(['--max-backpressure-bytes', '65536']);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('does not slow the others, and catches up in order when it reads again', async () => {
    const area = 'bp:catchup';
    const slow = await t.connect();
    const fast = await Promise.all([t.connect(), t.connect({ protocol: 'v1.msgpack' })]);
    await slow.subscribe(area);
    for (const f of fast) await f.subscribe(area);
    const replayedBefore = (await metric(t.base, 'abe_messages_replayed_total')) ?? 0;
    slow.ws.pause(); // stop reading: the kernel buffers fill, then the engine's 64 KB budget

    const total = await publishUntilOverBudget(t, area, 3, 100);
    for (const f of fast) await f.waitOffset(area, total);
    for (const f of fast) expect(f.offsets(area)).toEqual(range(1, total));
    expect(slow.messages(area).length).toBe(0);

    slow.ws.resume();
    await slow.waitOffset(area, total, 20_000);
    await slow.sync();
    expect(slow.offsets(area)).toEqual(range(1, total));
    expect(slow.messages(area).map((m) => (m.data as { i: number }).i)).toEqual(range(1, total));
    // part of it came through catch-up (from the ring), not live fan-out
    expect((await metric(t.base, 'abe_messages_replayed_total'))!).toBeGreaterThan(replayedBefore);
    expect(slow.closeInfo).toBeUndefined();
  });

  it('with two areas on the slow socket, both catch up in order', async () => {
    const A = 'bp:two-a';
    const B = 'bp:two-b';
    const slow = await t.connect({ protocol: 'v1.msgpack' });
    const fast = await t.connect();
    for (const v of [slow, fast]) {
      await v.subscribe(A);
      await v.subscribe(B);
    }
    slow.ws.pause();
    const totalA = await publishUntilOverBudget(t, A, 2, 50);
    // B gets small messages while the socket is already over budget
    const b = [];
    for (let i = 1; i <= 30; i++) b.push((await publishOk(t.base, B, { b: i })).offset);
    await fast.waitOffset(A, totalA);
    await fast.waitOffset(B, 30);
    slow.ws.resume();
    await slow.waitOffset(A, totalA, 20_000);
    await slow.waitOffset(B, 30, 20_000);
    await slow.sync();
    expect(slow.offsets(A)).toEqual(range(1, totalA));
    expect(slow.offsets(B)).toEqual(range(1, 30));
    expect(b).toEqual(range(1, 30));
    expect(slow.closeInfo).toBeUndefined();
  });
});

describe('a socket that stops reading and falls out of retention (--retain-count 50 --ring-size 8)', () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await startTestEngine(['--max-backpressure-bytes', '65536', '--retain-count', '50', '--ring-size', '8']);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('is closed with 4000 slow_consumer while the others get everything', async () => {
    const area = 'bp:gone';
    const slow = await t.connect();
    const fast = await t.connect();
    await slow.subscribe(area);
    await fast.subscribe(area);
    slow.ws.pause();
    const total = await publishUntilOverBudget(t, area, 2, 100);
    await fast.waitOffset(area, total);
    expect(fast.offsets(area)).toEqual(range(1, total));
    // the embedded log's retention sweep runs every second
    await until('retention trimmed the area', async () => (await areaInfo(t.base, area)).first === total - 49);

    slow.ws.resume();
    const closed = await slow.waitClose();
    expect(closed).toEqual({ code: CLOSE.slow_consumer.code, reason: 'slow_consumer' });
    // what it did get before the close is a gap-free prefix
    const got = slow.offsets(area);
    expect(got).toEqual(range(1, got.length));
    expect(got.length).toBeLessThan(total - 49);
    expect((await metric(t.base, 'abe_slow_consumer_closes_total'))!).toBe(1);
    expect(await metric(t.base, 'abe_connection_closes_total', { reason: 'slow_consumer' })).toBe(1);
    // the other vehicle is unaffected
    await publishOk(t.base, area, { i: total + 1 });
    await fast.waitOffset(area, total + 1);
    expect(fast.closeInfo).toBeUndefined();
  });
});
