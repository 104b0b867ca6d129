/**
 * What the double models, checked on the REAL broker (WebSocket client): messages from producers
 * that are not the engine (batched, undecodable), two engine processes on one topic, a late reader,
 * and a partitioned topic. The double's versions of these tests: ./resilience.test.ts,
 * ./ordering.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { offsets, range, waitUntil } from '../contract-support.ts';
import { NO_BROKER_NOTICE, realBroker } from './testing/broker.ts';
import { realCluster, req, type RealCluster } from './testing/harness.ts';
import { deadLetterScenario } from './testing/scenarios.ts';

const b = realBroker();
if (!b) console.warn(`[pulsar foreign] ${NO_BROKER_NOTICE}`);

let c: RealCluster | undefined;
afterEach(async () => {
  await c?.closeAll();
  c = undefined;
});

describe.skipIf(!b)('PulsarLog and other producers on the real broker', () => {
  it('numbers batched messages of another producer one offset each, the same in every process, early or late', async () => {
    c = await realCluster(b!);
    const first = await c.open();
    expect((await first.append('camera', req('engine-1'))).offset).toBe(1);
    const foreign = await c.foreignClient().createProducer({ topic: c.topic('camera'), batchingEnabled: true, batchingMaxMessages: 10, batchingMaxPublishDelayMs: 50 });
    await Promise.all(range(1, 25).map((i) => foreign.send({ data: Buffer.from(JSON.stringify({ i })), properties: { 'abe-content-type': 'json' } })));
    expect((await first.append('camera', req('engine-2'))).offset).toBe(27);
    // The broker batched them: several messages share an entry, told apart by batch index.
    const raw = await c.messages(c.topic('camera'), 28);
    const batched = raw.filter((m) => m.id.batchIndex >= 0);
    expect(batched.length).toBeGreaterThanOrEqual(20);
    const late = await c.open();
    const all = await late.read('camera', 1, 100);
    expect(offsets(all)).toEqual(range(1, 27));
    expect(all.slice(1, 26).map((r) => JSON.parse(Buffer.from(r.payload).toString()).i)).toEqual(range(1, 25));
    expect(await first.read('camera', 1, 100)).toEqual(all);
  });

  it('tombstones undecodable messages, dead-letters them with the reason, and never stalls the area', async () => {
    c = await realCluster(b!);
    await deadLetterScenario(c);
  });

  it('two engine processes appending at once get distinct, dense offsets that both agree on', async () => {
    c = await realCluster(b!);
    const [p1, p2] = [await c.open(), await c.open()];
    const answers = await Promise.all(range(1, 30).map((i) => (i % 2 ? p1 : p2).append('shared', req(`m${i}`))));
    expect(answers.map((a) => a.offset).sort((x, y) => x - y)).toEqual(range(1, 30));
    expect(new Set(answers.map((a) => a.epoch)).size).toBe(1);
    // Each process has read back its own appends; the other's arrive through its reader soon after.
    for (const p of [p1, p2]) await waitUntil(async () => (await p.state('shared')).head === 30, 'both processes at head 30', 10_000);
    const [r1, r2] = [await p1.read('shared', 1, 100), await p2.read('shared', 1, 100)];
    expect(r1).toEqual(r2);
    for (const a of answers) expect(Buffer.from(r1[a.offset - 1]!.payload).toString()).toMatch(/^m\d+$/);
  });

  it('refuses a partitioned area topic (merged partitions have no agreed order)', async () => {
    c = await realCluster(b!);
    const log = await c.open();
    await b!.admin.put(`/admin/v2/persistent/${c.namespace}/area-parts/partitions`, 3);
    await expect(log.state('parts')).rejects.toThrow(/partitioned topic/);
    expect((await log.append('fine', req('y'))).offset).toBe(1);
  });
});
