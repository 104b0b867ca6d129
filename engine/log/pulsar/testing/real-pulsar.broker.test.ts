/**
 * The semantics the double (./fake-*.ts, pinned in ./fake-pulsar.test.ts) claims for Pulsar, checked
 * on the REAL broker through the WebSocket client: message ids ordered by (ledger, entry, batch
 * index) with entry ids restarting in every ledger, and reader start positions (earliest, latest,
 * exclusively after an id; a batch index excludes the batch up to it). The offset scheme
 * (../sequencer.ts, ../message-id.ts isAfterStart) rests on exactly these. One claim of the double
 * was wrong and is fixed in both: an entry id without a batch index does NOT exclude the batch
 * stored at that entry (the double excluded the whole entry).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../contract-support.ts';
import { PulsarAdmin } from '../admin.ts';
import type { Client, Message, MessageId } from '../client-api.ts';
import { decodeMessageId, encodeMessageId } from '../message-id.ts';
import { websocketModule } from '../websocket/client.ts';
import { WsMessageId } from '../websocket/message.ts';
import { NO_BROKER_NOTICE, realBroker, testNamespace } from './broker.ts';

const b = realBroker();
if (!b) console.warn(`[pulsar semantics] ${NO_BROKER_NOTICE}`);

describe.skipIf(!b)('Pulsar as the double models it, on the real broker', () => {
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let client: Client;
  beforeAll(async () => {
    ns = await testNamespace(b!);
    client = websocketModule.createClient({ serviceUrl: b!.webUrl, token: b!.engineToken });
  });
  afterAll(async () => {
    await client?.close();
    await ns?.drop();
  });

  const topicOf = (name: string): string => `persistent://${ns.namespace}/${name}`;
  const texts = (ms: Message[]): string[] => ms.map((m) => m.getData().toString());
  const parts = (m: Message) => decodeMessageId(m.getMessageId().serialize());

  async function readAll(topic: string, start: MessageId, expect: number): Promise<Message[]> {
    const got: Message[] = [];
    const reader = await client.createReader({ topic, startMessageId: start, listener: (m) => void got.push(m) });
    if (expect > 0) await waitUntil(() => got.length >= expect, `${expect} messages`, 10_000);
    await new Promise((r) => setTimeout(r, 300)); // and nothing more
    await reader.close();
    return got;
  }

  it('orders ids by ledger and entry across rollovers; entry ids restart per ledger', async () => {
    const topic = topicOf('rollover');
    for (let i = 0; i < 5; i++) {
      const p = await client.createProducer({ topic });
      await p.send({ data: Buffer.from(`m${i}`) });
      await p.close();
      // Unloading the topic closes its ledger; the next producer writes into a new one.
      if (i % 2 === 1) await b!.admin.put(PulsarAdmin.topicUrl(topic, '/unload'));
    }
    const ms = await readAll(topic, WsMessageId.earliest(), 5);
    expect(texts(ms)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    const ids = ms.map(parts);
    const ledgers = [...new Set(ids.map((p) => p.ledger))];
    expect(ledgers.length).toBe(3);
    expect([...ledgers].sort((x, y) => (x < y ? -1 : 1))).toEqual(ledgers);
    expect(ids.map((p) => [ledgers.indexOf(p.ledger), Number(p.entry)])).toEqual([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0]]);
  });

  it('starts readers at earliest, latest, or exclusively after an id (batch index aware)', async () => {
    const topic = topicOf('starts');
    const p = await client.createProducer({ topic, batchingEnabled: true, batchingMaxMessages: 3, batchingMaxPublishDelayMs: 200 });
    await Promise.all(['a', 'b', 'c'].map((v) => p.send({ data: Buffer.from(v) })));
    await Promise.all(['d', 'e', 'f'].map((v) => p.send({ data: Buffer.from(v) })));
    const all = await readAll(topic, WsMessageId.earliest(), 6);
    expect(texts(all)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(all.map((m) => parts(m).batchIndex)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(texts(await readAll(topic, all[1]!.getMessageId(), 4))).toEqual(['c', 'd', 'e', 'f']);
    const p0 = parts(all[0]!);
    const wholeEntry = new WsMessageId(encodeMessageId({ ledger: p0.ledger, entry: p0.entry, partition: -1, batchIndex: -1, batchSize: 0 }));
    expect(texts(await readAll(topic, wholeEntry, 6))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']); // the batch at that entry is not excluded
    const got: Message[] = [];
    const latest = await client.createReader({ topic, startMessageId: WsMessageId.latest(), listener: (m) => void got.push(m) });
    const single = await client.createProducer({ topic });
    await single.send({ data: Buffer.from('g') });
    await waitUntil(() => got.length === 1, 'the one message after latest', 10_000);
    expect(texts(got)).toEqual(['g']);
    await latest.close();
  });
});
