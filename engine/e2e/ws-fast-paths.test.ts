/**
 * End to end, real sockets: the promise-free paths of 332006e behave like the general ones.
 *   - synchronous subscribe (cursor open, no same-epoch since): `subscribed` first, then exactly
 *     what was published after its offset; other-epoch since; unsubscribe while a log-bound
 *     subscribe is pending; the subscription limit counting a pending subscribe
 *   - ack fast path: same answers as the general decoder (bad_ack, prefix areas, after moving
 *     between areas), and never accepting what it refuses (uint64 offsets)
 *   - synchronous upgrade with a cached token: expired tokens are refused, the sweep closes
 *     connections of cached principals on expiry
 */
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AreaRegistry } from '../areas/registry.ts';
import { signToken, TEST_HS_SECRET } from '../auth/testing.ts';
import { CLOSE } from '../errors.ts';
import { areaInfo, metric, publishOk, publishSeq, range, sleep, startTestEngine, tryConnect, until, Vehicle, type Frame, type TestEngine } from '../testing/harness.ts';

function msgpackAckPrefix(area: string): Buffer {
  const full = Buffer.from(pack({ type: 'ack', area, offset: 0 }));
  return full.subarray(0, full.length - 1);
}

function uint64Ack(area: string, offset: number): Buffer {
  const v = Buffer.alloc(8);
  v.writeBigUInt64BE(BigInt(offset));
  return Buffer.concat([msgpackAckPrefix(area), Buffer.from([0xcf]), v]);
}

/** Holds the log's state() answer for `area` for `ms` (a subscribe with a same-epoch since waits for it). */
function slowStateFor(t: TestEngine, area: string, ms: number): () => void {
  const log = t.engine.log as { state: (a: string) => Promise<unknown> };
  const orig = log.state;
  log.state = async (a: string) => {
    if (a === area) await sleep(ms);
    return orig.call(log, a);
  };
  return () => {
    log.state = orig;
  };
}

const typesFrom = (v: Vehicle, area: string): string[] => v.frames.filter((f: Frame) => f.area === area).map((f) => f.type);

describe('synchronous subscribe and the ack fast path (dev mode)', () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await startTestEngine(['--max-subscriptions', '2']);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it.each(['v1.json', 'v1.msgpack'] as const)('a subscribe on an open area during a publish burst: subscribed first, then exactly head+1.. (%s)', async (protocol) => {
    const area = `sync:burst:${protocol}`;
    const opener = await t.connect();
    await opener.subscribe(area); // opens the cursor: later subscribes take the synchronous path
    await publishSeq(t.base, area, 5);
    await opener.waitOffset(area, 5);
    let publishing = true;
    let last = 5;
    const burst = (async () => {
      while (publishing) last = (await publishOk(t.base, area, { n: last + 1 })).offset;
    })();
    const late: Vehicle[] = [];
    const answers: Frame[] = [];
    const now = vi.spyOn(AreaRegistry.prototype, 'subscribeNow');
    for (let i = 0; i < 8; i++) {
      const v = await t.connect({ protocol });
      late.push(v);
      answers.push(await v.subscribe(area));
      await sleep(5);
    }
    publishing = false;
    await burst;
    // every late subscribe took the synchronous path
    expect(now.mock.results.filter((r) => r.type === 'return' && r.value !== undefined).length).toBe(late.length);
    now.mockRestore();
    for (let i = 0; i < late.length; i++) {
      const v = late[i];
      const a = answers[i];
      expect(a).toMatchObject({ type: 'subscribed', recovered: false });
      await v.waitOffset(area, last);
      await v.sync();
      const types = typesFrom(v, area);
      expect(types[0]).toBe('subscribed'); // nothing of the area before the answer
      expect(v.offsets(area)).toEqual(range((a.offset as number) + 1, last)); // no gap, no duplicate
    }
  });

  it('since of another epoch on an open area: recovered:false at the head, counted once', async () => {
    const area = 'sync:epoch';
    const opener = await t.connect();
    await opener.subscribe(area);
    await publishSeq(t.base, area, 4);
    await opener.waitOffset(area, 4);
    const resumes = (await metric(t.base, 'abe_resume_requests_total')) ?? 0;
    const recoveredFalse = (await metric(t.base, 'abe_recovered_false_total')) ?? 0;
    const v = await t.connect({ protocol: 'v1.msgpack' });
    expect(await v.subscribe(area, { epoch: 'not-this-epoch', offset: 2 })).toMatchObject({ type: 'subscribed', recovered: false, offset: 4 });
    await publishOk(t.base, area, { n: 5 });
    await v.waitOffset(area, 5);
    await v.sync();
    expect(v.offsets(area)).toEqual([5]);
    expect(await metric(t.base, 'abe_resume_requests_total')).toBe(resumes + 1);
    expect(await metric(t.base, 'abe_recovered_false_total')).toBe(recoveredFalse + 1);
  });

  it('subscribe with since (log round trip), unsubscribe, subscribe again without: one live subscription, slots given back', async () => {
    const area = 'sync:pending';
    const opener = await t.connect();
    await opener.subscribe(area);
    await publishSeq(t.base, area, 3);
    const { epoch } = await areaInfo(t.base, area);
    const subsBefore = (await metric(t.base, 'abe_subscriptions'))!;
    const v = await t.connect();
    const restore = slowStateFor(t, area, 300);
    v.send({ type: 'subscribe', area, since: { epoch, offset: 1 } }); // needs the log: async, held 300 ms
    v.send({ type: 'unsubscribe', area });
    v.send({ type: 'subscribe', area }); // synchronous
    await v.sync();
    await sleep(400); // the held subscribe resolves now, finds the area taken and gives its slot back
    restore();
    await v.sync();
    // the pending subscribe is never answered; the unsubscribe and the synchronous subscribe are
    expect(typesFrom(v, area)).toEqual(['unsubscribed', 'subscribed']);
    const answer = [...v.frames].reverse().find((f) => f.type === 'subscribed' && f.area === area)!;
    const fromOffset = answer.offset as number;
    await publishOk(t.base, area, { n: 4 });
    await v.waitOffset(area, 4);
    await v.sync();
    // what arrived after the last `subscribed` is exactly what was published after its offset
    const lastAnswerAt = v.frames.lastIndexOf(answer);
    const after = v.frames.slice(lastAnswerAt).filter((f) => f.type === 'message' && f.area === area).map((f) => f.offset);
    expect(after).toEqual(range(fromOffset + 1, 4));
    expect(await metric(t.base, 'abe_subscriptions')).toBe(subsBefore + 1);
    v.close();
    await v.waitClose();
    await until('subscription gauge back', async () => (await metric(t.base, 'abe_subscriptions')) === subsBefore);
    expect((await areaInfo(t.base, area)).subscribers).toBe(1); // only the opener: no leaked slot
  });

  it('--max-subscriptions 2 counts a subscribe still waiting for the log', async () => {
    const a = 'sync:lim:a';
    const b = 'sync:lim:b';
    const opener = await t.connect();
    await opener.subscribe(a);
    await opener.subscribe(b);
    await publishSeq(t.base, b, 2);
    const { epoch } = await areaInfo(t.base, b);
    const v = await t.connect();
    await v.subscribe(a); // synchronous
    const restore = slowStateFor(t, b, 300);
    v.send({ type: 'subscribe', area: b, since: { epoch, offset: 0 } }); // log round trip, held 300 ms
    v.send({ type: 'subscribe', area: 'sync:lim:c' }); // synchronous path would attach: must be refused first
    expect(await v.waitClose()).toEqual({ code: CLOSE.too_many_subscriptions.code, reason: 'too_many_subscriptions' });
    expect(typesFrom(v, b)).toEqual([]); // b was still pending when c was refused
    await sleep(400);
    restore();
    expect((await areaInfo(t.base, b)).subscribers).toBe(1); // the held subscribe of the closed connection gave its slot back
  });

  it('ack fast path answers like the general decoder: bad_ack, prefix areas, after moving between areas', async () => {
    const a = 'fast:a';
    const b = 'fast:a1';
    const v = await t.connect({ protocol: 'v1.msgpack' });
    await v.subscribe(a);
    await publishSeq(t.base, a, 3);
    await v.waitOffset(a, 3);
    const acks = (await metric(t.base, 'abe_acks_total')) ?? 0;
    v.ack(a, 4); // fast path: never sent
    v.ack(b, 1); // same prefix, not subscribed: general path
    v.ack(a, 3); // fast path: fine
    await v.sync();
    expect(v.errors().map((e) => [e.code, e.area])).toEqual([
      ['bad_ack', a],
      ['not_subscribed', b],
    ]);
    expect(await metric(t.base, 'abe_acks_total')).toBe(acks + 1);
    // move: subscribe b, unsubscribe a; b becomes the only (inline) subscription
    await v.subscribe(b);
    v.send({ type: 'unsubscribe', area: a });
    await publishSeq(t.base, b, 2);
    await v.waitOffset(b, 2);
    v.ack(b, 2);
    v.ack(a, 3);
    v.ack(b, 3);
    await v.sync();
    expect(v.errors().slice(2).map((e) => [e.code, e.area])).toEqual([
      ['not_subscribed', a],
      ['bad_ack', b],
    ]);
    expect(await metric(t.base, 'abe_acks_total')).toBe(acks + 2);
    expect(v.closeInfo).toBeUndefined();
  });

  it('a uint64-encoded ack on a two-area connection: the general decoder closes 4502 bad_frame', async () => {
    const v = await t.connect({ protocol: 'v1.msgpack' });
    await v.subscribe('u64:a');
    await v.subscribe('u64:b');
    await publishOk(t.base, 'u64:a', { n: 1 });
    await v.waitOffset('u64:a', 1);
    v.sendRaw(uint64Ack('u64:a', 1), true);
    expect(await v.waitClose()).toEqual({ code: CLOSE.bad_frame.code, reason: 'bad_frame' });
  });

  it('the same uint64-encoded ack on a one-area connection: the fast path leaves it to the general decoder, 4502 bad_frame', async () => {
    const v = await t.connect({ protocol: 'v1.msgpack' });
    await v.subscribe('u64:one');
    await publishOk(t.base, 'u64:one', { n: 1 });
    await v.waitOffset('u64:one', 1);
    v.sendRaw(uint64Ack('u64:one', 1), true);
    expect(await v.waitClose(2000)).toEqual({ code: CLOSE.bad_frame.code, reason: 'bad_frame' });
  });
});

describe('synchronous upgrade with a cached token (auth on)', () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET]);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a cached token: connects again without waiting, is closed on expiry, and is refused once expired', async () => {
    // exp on the next-but-one second boundary: at least 1 s to connect twice
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await signToken({ sub: 'car-cached', subscribe: ['cached:*'], exp });
    const first = await t.connect({ token }); // verifies and caches
    expect(await first.subscribe('cached:1')).toMatchObject({ type: 'subscribed' });
    const second = await t.connect({ queryToken: token }); // same token: synchronous path
    expect(await second.subscribe('cached:1')).toMatchObject({ type: 'subscribed' });
    second.send({ type: 'subscribe', area: 'other:1' });
    expect(await second.waitClose()).toEqual({ code: CLOSE.forbidden.code, reason: 'forbidden' }); // the cached principal's rights
    const third = await t.connect({ token });
    expect(await third.waitClose(6000)).toEqual({ code: CLOSE.token_expired.code, reason: 'token_expired' });
    expect(await first.waitClose(6000)).toEqual({ code: CLOSE.token_expired.code, reason: 'token_expired' });
    await until('expired', () => Date.now() >= exp * 1000);
    const failures = (await metric(t.base, 'abe_auth_failures_total', { reason: 'invalid_token' })) ?? 0;
    const again = await tryConnect(t.wsUrl, { token });
    expect(again).not.toBeInstanceOf(Vehicle);
    expect(again).toMatchObject({ status: 401 });
    expect(await metric(t.base, 'abe_auth_failures_total', { reason: 'invalid_token' })).toBe(failures + 1);
  });
});
