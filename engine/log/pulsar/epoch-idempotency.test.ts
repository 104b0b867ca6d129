/**
 * Epochs (store epoch from the meta topic; a new generation when an area topic lost its history),
 * idempotency across processes, and a physical retention shorter than the engine's window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { collect, offsets, range, text, waitUntil } from '../contract-support.ts';
import { doubleCluster, req, type DoubleCluster } from './testing/harness.ts';

let c: DoubleCluster;
afterEach(async () => {
  await c.closeAll();
});

describe('epoch', () => {
  it('is the store epoch, agreed by processes that start at the same time', async () => {
    c = doubleCluster();
    const [a, b] = await Promise.all([c.open(), c.open()]);
    expect(a.epoch).toMatch(/^[0-9a-f]{16}$/);
    expect(b.epoch).toBe(a.epoch);
    expect((await a.state('x')).epoch).toBe(a.epoch);
    expect((await b.append('y', req('1'))).epoch).toBe(a.epoch);
  });

  for (const how of ['deleted and recreated', 'expired completely'] as const) {
    it(`starts a new generation when the area topic was ${how}`, async () => {
      c = doubleCluster();
      const a = await c.open();
      for (const i of range(1, 3)) await a.append('city:r', req(`old${i}`));
      const epoch = a.epoch;
      await a.close();
      if (how === 'deleted and recreated') c.broker.deleteTopic(c.topic('city:r'));
      else c.broker.expireAll(c.topic('city:r'));
      const b = await c.open();
      expect(await b.state('city:r')).toEqual({ epoch: `${epoch}.1`, head: 0, first: 1 });
      expect(await b.append('city:r', req('new'))).toMatchObject({ offset: 1, epoch: `${epoch}.1` });
      expect((await b.state('untouched')).epoch).toBe(epoch);
      expect(await b.areas()).toContain('city:r');
      const d = await c.open();
      expect(await d.state('city:r')).toEqual({ epoch: `${epoch}.1`, head: 1, first: 1 });
      expect(c.sink.errors.some((e) => /lost its history/.test(String(e.error)))).toBe(true);
    });
  }

  it('ends the tails of an area that is reset under a running process; the next open sees the new epoch', async () => {
    c = doubleCluster();
    const a = await c.open({ readerStallMs: 10 });
    const t = collect(a, 'z', 0);
    await a.append('z', req('old'));
    await t.reach(1);
    c.broker.deleteTopic(c.topic('z'));
    const b = await c.open();
    expect((await b.append('z', req('new'))).epoch).toBe(`${b.epoch}.1`);
    await waitUntil(() => {
      void a.sweep();
      return c.sink.errors.some((e) => /area was reset/.test(String(e.error)));
    }, 'the running process to notice the reset');
    expect(offsets(t.records)).toEqual([1]);
    expect(await a.state('z')).toMatchObject({ epoch: `${b.epoch}.1`, head: 1 });
  });
});

describe('idempotency across processes', () => {
  it('answers a retry on another process with the first offset, without appending', async () => {
    c = doubleCluster();
    const [a, b] = [await c.open(), await c.open()];
    const first = await a.append('i', req('v1', { idempotencyKey: 'k' }));
    const tb = collect(b, 'i', 0);
    await tb.reach(1);
    expect(await b.append('i', req('v1-retry', { idempotencyKey: 'k' }))).toMatchObject({ offset: first.offset, duplicate: true });
    expect(c.broker.stored(c.topic('i')).filter((m) => m.properties['abe-idempotency-key'] === 'k')).toHaveLength(1);
  });

  it('delivers once when two processes append the same key at the same time', async () => {
    c = doubleCluster();
    const [a, b] = [await c.open(), await c.open()];
    await Promise.all([a.state('j'), b.state('j')]);
    const t = collect(a, 'j', 0);
    const [ra, rb] = await Promise.all([a.append('j', req('from-a', { idempotencyKey: 'same' })), b.append('j', req('from-b', { idempotencyKey: 'same' }))]);
    expect(ra.offset).toBe(rb.offset);
    expect([ra.duplicate, rb.duplicate].sort()).toEqual([false, true]);
    await t.reach(2);
    // both messages reached the topic: the later one keeps its offset as a tombstone
    expect(t.records.filter((r) => r.expiresAt === 0).map(text)).toHaveLength(1);
  });

  it('remembers keys for idempotencyTtlMs by record time', async () => {
    let now = 1_000_000;
    c = doubleCluster();
    const a = await c.open({ idempotencyTtlMs: 1000, now: () => now });
    expect((await a.append('t', req('x', { idempotencyKey: 'k', time: now }))).offset).toBe(1);
    now += 500;
    expect(await a.append('t', req('x', { idempotencyKey: 'k', time: now }))).toMatchObject({ offset: 1, duplicate: true });
    now += 1000;
    expect(await a.append('t', req('x', { idempotencyKey: 'k', time: now }))).toMatchObject({ offset: 2, duplicate: false });
  });
});

describe('physical retention shorter than the engine window', () => {
  it('a replay that finds the start gone moves first forward and returns what is there', async () => {
    c = doubleCluster({ maxEntriesPerLedger: 3 });
    const a = await c.open({ cacheRecords: 2 });
    for (const i of range(1, 30)) await a.append('g', req(`m${i}`));
    c.broker.trimLedgers(c.topic('g'), 4);
    const got = await a.read('g', 1, 100);
    expect(got.length).toBeGreaterThan(0);
    const st = await a.state('g');
    expect(st.first).toBeGreaterThan(1);
    expect(offsets(got)).toEqual(range(st.first, 30));
    expect(got.map(text)).toEqual(range(st.first, 30).map((i) => `m${i}`));
    expect(c.sink.errors.some((e) => /physical retention/.test(String(e.error)))).toBe(true);
  });
});
