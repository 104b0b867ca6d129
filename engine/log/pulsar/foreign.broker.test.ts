/**
 * What the double models, checked on the REAL broker (WebSocket client): messages from producers
 * that are not the engine (batched, undecodable), two engine processes on one topic, a late reader,
 * and a partitioned topic. The double's versions of these tests: ./resilience.test.ts,
 * ./ordering.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { collect, offsets, range, waitUntil } from '../contract-support.ts';
import type { Message } from './client-api.ts';
import { decodeMessageId } from './message-id.ts';
import { NO_BROKER_NOTICE, realBroker } from './testing/broker.ts';
import { realCluster, req, type RealCluster } from './testing/harness.ts';
import { WsMessageId } from './websocket/message.ts';

const b = realBroker();
if (!b) console.warn(`[pulsar foreign] ${NO_BROKER_NOTICE}`);

let c: RealCluster | undefined;
afterEach(async () => {
  await c?.closeAll();
  c = undefined;
});

/** Every message of `topic` from the start, read with a plain reader. */
async function readTopic(cl: RealCluster, topic: string, count: number): Promise<Message[]> {
  const got: Message[] = [];
  const reader = await cl.foreignClient().createReader({ topic, startMessageId: WsMessageId.earliest(), listener: (m) => void got.push(m) });
  await waitUntil(() => got.length >= count, `${count} messages on ${topic}`, 15_000);
  await reader.close();
  return got;
}

describe.skipIf(!b)('PulsarLog and other producers on the real broker', () => {
  it('numbers batched messages of another producer one offset each, the same in every process, early or late', async () => {
    c = await realCluster(b!);
    const first = await c.open();
    expect((await first.append('camera', req('engine-1'))).offset).toBe(1);
    const foreign = await c.foreignClient().createProducer({ topic: c.topic('camera'), batchingEnabled: true, batchingMaxMessages: 10, batchingMaxPublishDelayMs: 50 });
    await Promise.all(range(1, 25).map((i) => foreign.send({ data: Buffer.from(JSON.stringify({ i })), properties: { 'abe-content-type': 'json' } })));
    expect((await first.append('camera', req('engine-2'))).offset).toBe(27);
    // The broker batched them: several messages share an entry, told apart by batch index.
    const raw = await readTopic(c, c.topic('camera'), 28);
    const batched = raw.map((m) => decodeMessageId(m.getMessageId().serialize())).filter((p) => p.batchIndex >= 0);
    expect(batched.length).toBeGreaterThanOrEqual(20);
    const late = await c.open();
    const all = await late.read('camera', 1, 100);
    expect(offsets(all)).toEqual(range(1, 27));
    expect(all.slice(1, 26).map((r) => JSON.parse(Buffer.from(r.payload).toString()).i)).toEqual(range(1, 25));
    expect(await first.read('camera', 1, 100)).toEqual(all);
  });

  it('tombstones undecodable messages, dead-letters them with the reason, and never stalls the area', async () => {
    const dead: [string, string][] = [];
    c = await realCluster(b!);
    const log = await c.open({ onDeadLetter: (area, reason) => dead.push([area, reason]) });
    const t = collect(log, 'd:1', 0);
    await log.append('d:1', req('ok1'));
    const foreign = await c.foreignClient().createProducer({ topic: c.topic('d:1') });
    await foreign.send({ data: Buffer.from('x'), properties: { 'abe-content-type': 'text/plain' } });
    await foreign.send({ data: Buffer.from('{not json'), properties: { 'abe-content-type': 'json' } });
    await foreign.send({ data: Buffer.from('x'), properties: { 'abe-time': 'yesterday' } });
    await foreign.send({ data: Buffer.from('{"fine":true}'), properties: { 'abe-content-type': 'json' } });
    await t.reach(5, 15_000);
    expect(t.records.map((r) => [r.offset, r.expiresAt === 0, r.contentType])).toEqual([
      [1, true, 'binary'],
      [2, false, 'binary'],
      [3, false, 'binary'],
      [4, false, 'binary'],
      [5, true, 'json'],
    ]);
    expect(dead).toEqual([['d:1', 'bad_content_type'], ['d:1', 'invalid_payload'], ['d:1', 'bad_time']]);
    const letters = await readTopic(c, `${c.topic('d:1')}-DLQ`, 3);
    expect(letters.map((m) => m.getProperties()['abe-dlq-reason'])).toEqual(['bad_content_type', 'invalid_payload', 'bad_time']);
    expect(letters[1]!.getProperties()).toMatchObject({ 'abe-dlq-source-topic': c.topic('d:1'), 'abe-dlq-offset': '3', 'abe-dlq-area': 'd:1', 'abe-content-type': 'json' });
    expect(letters[1]!.getData().toString()).toBe('{not json');
    expect((await log.append('d:1', req('ok2'))).offset).toBe(6);
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
