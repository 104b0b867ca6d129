/**
 * The in-memory double of pulsar-client must behave like Pulsar where the engine relies on it;
 * these tests pin the semantics the double claims (./fake-broker.ts, ./fake-client.ts).
 */
import type { Message, Producer } from 'pulsar-client';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeBroker } from './fake-broker.ts';
import { fakePulsarModule, type FakeClient } from './fake-client.ts';
import { FakeMessageId } from './fake-message.ts';

const TOPIC = 'persistent://public/default/t';
let client: FakeClient;
afterEach(async () => {
  await client?.close();
});

function setup(options: ConstructorParameters<typeof FakeBroker>[0] = {}): FakeBroker {
  const broker = new FakeBroker(options);
  client = fakePulsarModule(broker).createClient({ serviceUrl: 'pulsar://double:6650' });
  return broker;
}

async function readAll(startMessageId = FakeMessageId.earliest(), max = 100): Promise<Message[]> {
  const reader = await client.createReader({ topic: TOPIC, startMessageId });
  const out: Message[] = [];
  for (;;) {
    const m = await reader.readNext(30).catch(() => undefined);
    if (!m || out.push(m) >= max) break;
  }
  await reader.close();
  return out;
}

const texts = (ms: Message[]) => ms.map((m) => m.getData().toString());
const idOf = (m: Message) => (m.getMessageId() as FakeMessageId).parts;

async function producer(extra: Partial<Parameters<FakeClient['createProducer']>[0]> = {}): Promise<Producer> {
  return client.createProducer({ topic: TOPIC, batchingEnabled: false, ...extra });
}

describe('the pulsar-client double', () => {
  it('orders ids by ledger and entry across rollovers; entry ids restart per ledger', async () => {
    setup({ maxEntriesPerLedger: 2 });
    const p = await producer();
    for (let i = 0; i < 5; i++) await p.send({ data: Buffer.from(`m${i}`) });
    const ms = await readAll();
    expect(texts(ms)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(ms.map((m) => [Number(idOf(m).ledger) - Number(idOf(ms[0]!).ledger), Number(idOf(m).entry)])).toEqual([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0]]);
    expect(ms[0]!.getMessageId().toString()).toMatch(/^\(\d+,0,-1,-1\)$/);
  });

  it('starts readers at earliest, latest, or exclusively after an id (batch index aware)', async () => {
    setup();
    const p = await producer({ batchingEnabled: true, batchingMaxMessages: 3 });
    await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((v) => p.send({ data: Buffer.from(v) })));
    const all = await readAll();
    expect(texts(all)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(all.map((m) => idOf(m).batchIndex)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(texts(await readAll(all[1]!.getMessageId() as FakeMessageId))).toEqual(['c', 'd', 'e', 'f']);
    const p0 = idOf(all[0]!);
    // An entry id without a batch index does not exclude the batch stored there (the real broker's answer).
    expect(texts(await readAll(FakeMessageId.of(p0.ledger, p0.entry)))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    const latest = await client.createReader({ topic: TOPIC, startMessageId: FakeMessageId.latest() });
    await p.send({ data: Buffer.from('g') });
    await p.flush();
    expect((await latest.readNext(100)).getData().toString()).toBe('g');
    await expect(latest.readNext(20)).rejects.toThrow('Failed to receive message: TimeOut');
    await latest.close();
    await expect(latest.readNext()).rejects.toThrow('AlreadyClosed');
  });

  it('awaits a listener that returns a promise before the next message', async () => {
    setup();
    const p = await producer();
    for (const v of ['1', '2', '3']) await p.send({ data: Buffer.from(v) });
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const reader = await client.createReader({
      topic: TOPIC,
      startMessageId: FakeMessageId.earliest(),
      listener: (m) => {
        log.push(`start ${m.getData()}`);
        if (m.getData().toString() === '1') return gate.then(() => void log.push('end 1')) as unknown as void;
      },
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(['start 1']);
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'start 3']);
    expect(reader.hasNext()).toBe(false);
  });

  it('deduplicates resends per producer name when the namespace has deduplication', async () => {
    const broker = setup();
    broker.setDeduplication('public/default', true);
    const p = await producer({ producerName: 'p1' });
    await p.send({ data: Buffer.from('x'), sequenceId: 5 });
    const dup = (await p.send({ data: Buffer.from('x again'), sequenceId: 5 })) as FakeMessageId;
    expect(dup.parts.ledger).toBe(-1n);
    expect(texts(await readAll())).toEqual(['x']);
    await expect(producer({ producerName: 'p1' })).rejects.toThrow('Failed to create producer: ProducerBusy');
    await p.close();
    const again = await producer({ producerName: 'p1' });
    await again.send({ data: Buffer.from('y') }); // generated sequence ids continue after the broker's last
    expect(broker.stored(TOPIC).map((m) => m.sequenceId)).toEqual([5, 6]);
  });

  it('queues sends while the broker is down, times them out, and resends after reconnecting', async () => {
    const broker = setup();
    const p = await producer({ sendTimeoutMs: 60 });
    broker.stop();
    expect(p.isConnected()).toBe(false);
    await expect(p.send({ data: Buffer.from('lost') })).rejects.toThrow('Failed to send message: TimeOut');
    const kept = p.send({ data: Buffer.from('kept') });
    await expect(client.createReader({ topic: TOPIC, startMessageId: FakeMessageId.earliest() })).rejects.toThrow('Failed to create reader: ConnectError');
    broker.start();
    await kept;
    expect(texts(await readAll())).toEqual(['kept']);
  });

  it('resends a message whose receipt was lost on the next reconnect (a duplicate without deduplication)', async () => {
    const broker = setup();
    const p = await producer({ sendTimeoutMs: 5000 });
    broker.loseNextReceipts(1);
    const pending = p.send({ data: Buffer.from('once?') });
    await new Promise((r) => setTimeout(r, 10));
    expect(broker.stored(TOPIC)).toHaveLength(1);
    broker.stop();
    broker.start();
    await pending;
    expect(texts(await readAll())).toEqual(['once?', 'once?']);
  });

  it('trims whole ledgers from the front, never the current one; readers continue at the first retained', async () => {
    const broker = setup({ maxEntriesPerLedger: 2 });
    const p = await producer();
    for (let i = 0; i < 6; i++) await p.send({ data: Buffer.from(`m${i}`) });
    expect(broker.trimLedgers(TOPIC, 10)).toBe(2);
    expect(texts(await readAll())).toEqual(['m4', 'm5']);
    broker.expireAll(TOPIC);
    expect(await readAll()).toEqual([]);
  });

  it('closes clients of a deleted topic for good; the name comes back as a new topic', async () => {
    const broker = setup();
    const p = await producer();
    await p.send({ data: Buffer.from('old') });
    const reader = await client.createReader({ topic: TOPIC, startMessageId: FakeMessageId.earliest() });
    const ledgers = broker.ledgerIds(TOPIC);
    broker.deleteTopic(TOPIC);
    expect(reader.isConnected()).toBe(false);
    await expect(p.send({ data: Buffer.from('x') })).rejects.toThrow('AlreadyClosed');
    const p2 = await producer();
    await p2.send({ data: Buffer.from('new') });
    expect(texts(await readAll())).toEqual(['new']);
    expect(broker.ledgerIds(TOPIC)[0]! > ledgers[0]!).toBe(true);
    await expect(client.subscribe({ topic: TOPIC, subscription: 's' })).rejects.toThrow(/does not model subscriptions/);
  });
});
