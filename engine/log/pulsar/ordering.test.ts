/**
 * Offset derivation under the orderings Pulsar produces, on the in-memory double: ledger rollover,
 * batched entries, readers recreated from a saved position, producer resends after a broker
 * restart (with and without broker deduplication), messages from foreign producers, processes
 * that start after retention removed the beginning of the topic, racing first appends.
 * Several PulsarLog instances on one broker stand for engine processes on different hosts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { collect, offsets, range, text, waitUntil } from '../contract-support.ts';
import type { LogRecord } from '../types.ts';
import type { PulsarLog } from './pulsar-log.ts';
import { doubleCluster, req, type DoubleCluster } from './testing/harness.ts';

let c: DoubleCluster;
afterEach(async () => {
  expect(c.broker.stats.hasNextCalls, 'the engine must never call Reader.hasNext()').toBe(0);
  expect(c.broker.stats.subscribeCalls, 'the engine must never subscribe').toBe(0);
  await c.closeAll();
});

const delivered = (records: readonly LogRecord[]) => records.filter((r) => r.expiresAt === 0).map((r) => [r.offset, text(r)]);
const mapping = (records: readonly LogRecord[]) => records.map((r) => [r.offset, text(r), r.expiresAt === 0]);

async function readAll(log: PulsarLog, area: string): Promise<LogRecord[]> {
  const st = await log.state(area);
  return log.read(area, st.first, 100_000);
}

describe('offsets across ledger rollover', () => {
  it('two processes appending concurrently and a third reading from scratch agree on every offset', async () => {
    c = doubleCluster({ maxEntriesPerLedger: 2 });
    const [a, b] = [await c.open(), await c.open()];
    const ta = collect(a, 'z', 0);
    const tb = collect(b, 'z', 0);
    const results = await Promise.all(range(1, 20).flatMap((i) => [a.append('z', req(`a${i}`)), b.append('z', req(`b${i}`))]));
    expect(results.map((r) => r.offset).sort((x, y) => x - y)).toEqual(range(1, 40));
    await ta.reach(40);
    await tb.reach(40);
    expect(mapping(ta.records)).toEqual(mapping(tb.records));
    expect([...ta.problems, ...tb.problems]).toEqual([]);
    expect(c.broker.ledgerIds(c.topic('z')).length).toBeGreaterThan(20);
    const late = await c.open({ cacheRecords: 5 });
    expect(mapping(await readAll(late, 'z'))).toEqual(mapping(ta.records));
    expect(await late.state('z')).toMatchObject({ head: 40, first: 1, epoch: (await a.state('z')).epoch });
  });
});

describe('batched entries from a foreign producer', () => {
  it('numbers batch messages in (ledger, entry, batch index) order, also when replaying from inside a batch', async () => {
    c = doubleCluster({ maxEntriesPerLedger: 3 });
    const a = await c.open();
    const tail = collect(a, 'b', 0);
    const foreign = await c.foreignClient().createProducer({ topic: c.topic('b'), batchingEnabled: true, batchingMaxMessages: 5 });
    await Promise.all(range(1, 23).map((i) => foreign.send({ data: Buffer.from(`f${i}`) })));
    await tail.reach(23);
    expect(delivered(tail.records)).toEqual(range(1, 23).map((i) => [i, `f${i}`]));
    expect(c.broker.stored(c.topic('b')).some((m) => m.id.parts.batchIndex > 0)).toBe(true);
    const later = await c.open({ cacheRecords: 2 });
    expect(delivered(await later.read('b', 7, 9))).toEqual(range(7, 15).map((i) => [i, `f${i}`]));
    expect((await later.append('b', req('engine'))).offset).toBe(24);
    await tail.reach(24);
  });
});

describe('reader restarts', () => {
  it('a reader closed by the broker is recreated after its last message: no gap, no duplicate', async () => {
    c = doubleCluster();
    const a = await c.open({ readerStallMs: 10 });
    const t = collect(a, 'r', 0);
    for (let i = 1; i <= 10; i++) await a.append('r', req(`m${i}`));
    await t.reach(10);
    const created = c.broker.stats.readersCreated;
    c.broker.fenceClients(c.topic('r'));
    const b = await c.open();
    for (let i = 11; i <= 20; i++) await b.append('r', req(`m${i}`));
    await waitUntil(() => {
      void a.sweep();
      return t.records.length >= 20;
    }, 'the recreated reader to catch up');
    expect(offsets(t.records)).toEqual(range(1, 20));
    expect(t.records.map(text)).toEqual(range(1, 20).map((i) => `m${i}`));
    expect(t.problems).toEqual([]);
    expect(c.broker.stats.readersCreated).toBeGreaterThan(created);
  });

  it('a broker restart (client reconnects by itself) continues the tail without a gap or duplicate', async () => {
    c = doubleCluster();
    const a = await c.open();
    const t = collect(a, 'r', 0);
    for (let i = 1; i <= 5; i++) await a.append('r', req(`m${i}`));
    await t.reach(5);
    c.broker.stop();
    c.broker.start();
    for (let i = 6; i <= 10; i++) await a.append('r', req(`m${i}`));
    await t.reach(10);
    expect(offsets(t.records)).toEqual(range(1, 10));
    expect(t.problems).toEqual([]);
    expect(c.broker.ledgerIds(c.topic('r')).length).toBeGreaterThan(1);
  });
});

describe('producer resend after a broker restart (receipt lost)', () => {
  for (const deduplication of [true, false]) {
    it(`gives the message one delivered offset (broker deduplication ${deduplication ? 'on' : 'off'})`, async () => {
      c = doubleCluster({ deduplication });
      const a = await c.open();
      const t = collect(a, 'p', 0);
      expect((await a.append('p', req('x1'))).offset).toBe(1);
      c.broker.loseNextReceipts(1);
      const pending = a.append('p', req('x2'));
      await waitUntil(() => c.broker.stored(c.topic('p')).some((m) => m.data.toString() === 'x2'), 'x2 persisted');
      c.broker.stop();
      c.broker.start(); // the producer resends x2 with the same sequence id
      expect(await pending).toMatchObject({ offset: 2, duplicate: false });
      const third = await a.append('p', req('x3'));
      const copies = c.broker.stored(c.topic('p')).filter((m) => m.data.toString() === 'x2').length;
      expect(copies).toBe(deduplication ? 1 : 2);
      expect(third.offset).toBe(deduplication ? 3 : 4); // without dedup the resend keeps an offset, as a tombstone
      await t.reach(third.offset);
      expect(delivered(t.records)).toEqual([[1, 'x1'], [2, 'x2'], [third.offset, 'x3']]);
      const fresh = await c.open();
      expect(mapping(await readAll(fresh, 'p'))).toEqual(mapping(t.records));
    });
  }
});

describe('foreign producers', () => {
  it('numbers messages produced before any engine opened the area, then engine and foreign ones alike', async () => {
    c = doubleCluster();
    const foreign = await c.foreignClient().createProducer({ topic: c.topic('city:f'), batchingEnabled: false });
    for (const v of ['f1', 'f2', 'f3']) await foreign.send({ data: Buffer.from(v), properties: { 'abe-content-type': 'binary' } });
    const a = await c.open();
    expect(await a.state('city:f')).toMatchObject({ head: 3, first: 1 });
    expect((await a.append('city:f', req('e4'))).offset).toBe(4);
    await foreign.send({ data: Buffer.from('f5') });
    const b = await c.open();
    const t = collect(b, 'city:f', 0);
    await t.reach(5);
    expect(delivered(t.records)).toEqual([[1, 'f1'], [2, 'f2'], [3, 'f3'], [4, 'e4'], [5, 'f5']]);
    expect(await b.areas()).toContain('city:f');
  });

  it('a process starting after retention removed the genesis resolves from a checkpoint and agrees', async () => {
    c = doubleCluster({ maxEntriesPerLedger: 4 });
    const a = await c.open({ checkpointEveryMessages: 5 });
    const t = collect(a, 'q', 0);
    const foreign = await c.foreignClient().createProducer({ topic: c.topic('q'), batchingEnabled: false });
    for (let i = 1; i <= 40; i++) {
      await foreign.send({ data: Buffer.from(`f${i}`) });
      if (i % 5 === 0) {
        await t.reach(i);
        await a.sweep(); // writes a checkpoint: only foreign traffic since the last anchor
      }
    }
    await t.reach(40);
    expect(c.broker.trimLedgers(c.topic('q'), 6)).toBe(6);
    const late = await c.open();
    const st = await late.state('q');
    expect(st.head).toBe(40);
    expect(st.first).toBeGreaterThan(5);
    const mine = await late.read('q', 0, 100);
    expect(mapping(mine)).toEqual(mapping(t.records.filter((r) => r.offset >= st.first)));
  });
});

describe('first appends racing on a new area', () => {
  it('two processes agree on one epoch and dense offsets', async () => {
    c = doubleCluster();
    const [a, b] = [await c.open(), await c.open()];
    const results = await Promise.all(range(1, 6).flatMap((i) => [a.append('new', req(`a${i}`)), b.append('new', req(`b${i}`))]));
    expect(results.map((r) => r.offset).sort((x, y) => x - y)).toEqual(range(1, 12));
    expect(new Set(results.map((r) => r.epoch))).toEqual(new Set([a.epoch]));
    expect(mapping(await readAll(a, 'new'))).toEqual(mapping(await readAll(b, 'new')));
  });
});
