/**
 * TEST DOUBLE: `Client`, `Producer` and `Reader` of pulsar-client (index.d.ts) over the in-memory
 * broker of ./fake-broker.ts. Behaviour follows the C++ client the package wraps:
 *
 * - Errors are `Error`s with the package's messages ("Failed to send message: TimeOut", ...).
 * - Producer: `batchingEnabled` defaults to true (entries of up to `batchingMaxMessages`, flushed
 *   after `batchingMaxPublishDelayMs`); explicit or generated sequence ids (generated ones continue
 *   from the broker's last for a named producer under deduplication); sends wait while
 *   disconnected and are resent on reconnect; `sendTimeoutMs` (default 30000) rejects them.
 *   Producer names are unique per topic (ProducerBusy).
 * - Reader: starts after `startMessageId` (exclusive; earliest = first retained, latest = only new);
 *   a listener is called once per message, in order, and is awaited when it returns a promise;
 *   after a reconnect it resumes after the last message it delivered. `hasNext()` works but is
 *   counted (the engine must never call it). No subscriptions: `subscribe()` is refused.
 */
import type { Client, Consumer, Message, MessageId, Producer, ProducerConfig, ProducerMessage, Reader, ReaderConfig as PulsarClientReaderConfig } from 'pulsar-client';
import type { ClientConfig, MessageId as AnyMessageId, PulsarModule } from '../client-api.ts';

/** pulsar-client's ReaderConfig, with any MessageId that serializes (the narrow interface's) as start. */
type ReaderConfig = Omit<PulsarClientReaderConfig, 'startMessageId'> & { startMessageId: AnyMessageId };
import type { IdParts } from '../message-id.ts';
import type { Connection, FakeBroker } from './fake-broker.ts';
import { FakeMessage, FakeMessageId, partsOf } from './fake-message.ts';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

interface PendingSend {
  readonly msg: ProducerMessage;
  readonly seq: number;
  readonly done: Promise<unknown>;
  resolve(id: MessageId): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

class FakeProducer implements Producer, Connection {
  private state: 'connected' | 'disconnected' | 'fenced' | 'closed' = 'connected';
  private readonly pending: PendingSend[] = [];
  private batch: PendingSend[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private lastSeq: number;
  private readonly batching: boolean;

  constructor(
    private readonly broker: FakeBroker,
    readonly topic: string,
    readonly name: string,
    private readonly config: ProducerConfig,
    private readonly release: (p: FakeProducer) => void,
  ) {
    this.batching = config.batchingEnabled ?? true;
    this.lastSeq = config.initialSequenceId ?? broker.lastSequenceOf(topic, name);
  }

  send(message: ProducerMessage): Promise<MessageId> {
    if (this.state === 'closed' || this.state === 'fenced') return Promise.reject(new Error('Failed to send message: AlreadyClosed'));
    const seq = message.sequenceId ?? this.lastSeq + 1;
    this.lastSeq = Math.max(this.lastSeq, seq);
    let resolve!: (id: MessageId) => void;
    let reject!: (e: Error) => void;
    const done = new Promise<MessageId>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const p: PendingSend = { msg: message, seq, done: done.catch(() => {}), resolve, reject };
    const timeout = this.config.sendTimeoutMs ?? 30_000;
    if (timeout > 0) p.timer = setTimeout(() => this.settle(p, new Error('Failed to send message: TimeOut')), timeout);
    this.pending.push(p);
    if (!this.batching) this.dispatch([p], false);
    else {
      this.batch.push(p);
      if (this.batch.length >= (this.config.batchingMaxMessages ?? 1000)) this.flushBatch();
      else this.batchTimer ??= setTimeout(() => this.flushBatch(), this.config.batchingMaxPublishDelayMs ?? 10);
    }
    return done;
  }

  async flush(): Promise<null> {
    this.flushBatch();
    await Promise.all(this.pending.map((p) => p.done));
    return null;
  }

  async close(): Promise<null> {
    if (this.state === 'closed') return null;
    this.state = 'closed';
    this.failAll('Failed to send message: AlreadyClosed');
    this.release(this);
    return null;
  }

  getProducerName(): string {
    return this.name;
  }
  getTopic(): string {
    return this.topic;
  }
  isConnected(): boolean {
    return this.state === 'connected' && this.broker.isUp;
  }

  onDisconnect(): void {
    if (this.state === 'connected') this.state = 'disconnected';
  }

  onReconnect(): void {
    if (this.state !== 'disconnected') return;
    this.state = 'connected';
    const resend = this.pending.filter((p) => !this.batch.includes(p));
    if (this.batching && resend.length > 0) this.dispatch(resend, true);
    else for (const p of resend) this.dispatch([p], false);
  }

  onFenced(): void {
    if (this.state === 'closed') return;
    this.state = 'fenced';
    this.failAll('Failed to send message: AlreadyClosed');
  }

  private flushBatch(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    const batch = this.batch;
    this.batch = [];
    if (batch.length > 0) this.dispatch(batch, true);
  }

  private dispatch(ps: PendingSend[], batched: boolean): void {
    setImmediate(() => {
      if (this.state !== 'connected' || !this.broker.isUp) return; // stays pending: resent on reconnect
      const live = ps.filter((p) => this.pending.includes(p));
      if (live.length === 0) return;
      const { ids, receiptLost } = this.broker.persist(this.topic, this.name, live.map((p) => ({ msg: p.msg, seq: p.seq })), batched);
      if (receiptLost) return; // persisted, but we never hear so: resent on the next reconnect
      live.forEach((p, i) => this.settle(p, ids[i]!));
    });
  }

  private settle(p: PendingSend, outcome: MessageId | Error): void {
    const i = this.pending.indexOf(p);
    if (i < 0) return;
    this.pending.splice(i, 1);
    const b = this.batch.indexOf(p);
    if (b >= 0) this.batch.splice(b, 1);
    if (p.timer) clearTimeout(p.timer);
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  private failAll(message: string): void {
    for (const p of [...this.pending]) this.settle(p, new Error(message));
  }
}

interface Waiter {
  resolve(m: Message): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

class FakeReader implements Reader, Connection {
  private state: 'connected' | 'disconnected' | 'fenced' | 'closed' = 'connected';
  private position: IdParts;
  private pumping = false;
  private again = false;
  private readonly waiters: Waiter[] = [];

  constructor(
    private readonly broker: FakeBroker,
    readonly topic: string,
    private readonly config: ReaderConfig,
    private readonly release: (r: FakeReader) => void,
  ) {
    const start = partsOf(config.startMessageId);
    const before: IdParts = { ledger: -1n, entry: -1n, partition: -1, batchIndex: -1, batchSize: 0 };
    if (start.ledger === 0x7fffffffffffffffn) this.position = broker.topic(topic, false)?.last()?.id.parts ?? before;
    else this.position = start;
  }

  readNext(timeout?: number): Promise<Message> {
    if (this.state === 'closed' || this.state === 'fenced') return Promise.reject(new Error('Failed to receive message: AlreadyClosed'));
    return new Promise<Message>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (timeout !== undefined && timeout > 0) {
        w.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new Error('Failed to receive message: TimeOut'));
        }, timeout);
      }
      this.waiters.push(w);
      this.notify();
    });
  }

  hasNext(): boolean {
    this.broker.stats.hasNextCalls++;
    return this.isConnected() && this.broker.topic(this.topic, false)?.nextAfter(this.position) !== undefined;
  }

  isConnected(): boolean {
    return this.state === 'connected' && this.broker.isUp;
  }

  seek(_messageId: MessageId): Promise<null> {
    return Promise.reject(new Error('Failed to seek message by id: the double does not model seek (the engine does not use it)'));
  }

  seekTimestamp(_timestamp: number): Promise<null> {
    return Promise.reject(new Error('Failed to seek message by timestamp: the double does not model seek (the engine does not use it)'));
  }

  async close(): Promise<null> {
    if (this.state === 'closed') return null;
    this.state = 'closed';
    this.failWaiters();
    this.release(this);
    return null;
  }

  onDisconnect(): void {
    if (this.state === 'connected') this.state = 'disconnected';
  }

  onReconnect(): void {
    if (this.state !== 'disconnected') return;
    this.state = 'connected';
    this.notify();
  }

  onFenced(): void {
    if (this.state === 'closed') return;
    this.state = 'fenced';
    this.failWaiters();
  }

  notify(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump();
  }

  private async pump(): Promise<void> {
    do {
      this.again = false;
      for (;;) {
        if (!this.isConnected()) break;
        const next = this.broker.topic(this.topic, false)?.nextAfter(this.position);
        if (!next) break;
        const listener = this.config.listener;
        if (!listener && this.waiters.length === 0) break;
        await tick(); // delivered from the client's listener thread: never inside the caller's turn
        if (!this.isConnected()) break;
        this.position = next.id.parts;
        const message = new FakeMessage(next);
        if (listener) {
          const ret: unknown = listener(message, this);
          if (ret instanceof Promise) await ret.catch(() => {});
        } else {
          const w = this.waiters.shift()!;
          if (w.timer) clearTimeout(w.timer);
          w.resolve(message);
        }
      }
    } while (this.again);
    this.pumping = false;
  }

  private failWaiters(): void {
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new Error('Failed to receive message: AlreadyClosed'));
    }
  }
}

export class FakeClient implements Omit<Client, 'createReader'> {
  private readonly owned = new Set<FakeProducer | FakeReader>();
  private closed = false;

  constructor(
    readonly config: ClientConfig,
    private readonly broker: FakeBroker,
  ) {
    if (!config.serviceUrl) throw new Error('serviceUrl is required');
  }

  async createProducer(config: ProducerConfig): Promise<Producer> {
    await tick();
    const fail = (why: string) => new Error(`Failed to create producer: ${why}`);
    if (this.closed) throw fail('AlreadyClosed');
    if (!this.broker.isUp) throw fail('ConnectError');
    if (this.broker.isPartitioned(config.topic)) throw fail('the double does not model partitioned producers');
    const topic = this.broker.topic(config.topic);
    if (!topic) throw fail('TopicNotFound');
    const name = config.producerName ?? this.broker.newProducerName();
    for (const c of topic.connections) if (c instanceof FakeProducer && c.name === name) throw fail('ProducerBusy');
    const producer = new FakeProducer(this.broker, config.topic, name, config, (p) => this.drop(p));
    this.adopt(producer);
    this.broker.stats.producersCreated++;
    return producer;
  }

  subscribe(_config?: unknown): Promise<Consumer> {
    this.broker.stats.subscribeCalls++;
    return Promise.reject(new Error('Failed to create consumer: the double does not model subscriptions (the engine reads with Readers only)'));
  }

  async createReader(config: ReaderConfig): Promise<Reader> {
    await tick();
    const fail = (why: string) => new Error(`Failed to create reader: ${why}`);
    if (this.closed) throw fail('AlreadyClosed');
    if (!config.startMessageId) throw new Error('StartMessageId is required and must be specified as a MessageId object when creating reader');
    if (!this.broker.isUp) throw fail('ConnectError');
    if (this.broker.isPartitioned(config.topic)) throw fail('the double does not model readers on partitioned topics');
    if (!this.broker.topic(config.topic)) throw fail('TopicNotFound');
    const reader = new FakeReader(this.broker, config.topic, config, (r) => this.drop(r));
    this.adopt(reader);
    this.broker.stats.readersCreated++;
    reader.notify();
    return reader;
  }

  async getPartitionsForTopic(topic: string): Promise<string[]> {
    await tick();
    if (!this.broker.isUp) throw new Error('Failed to GetPartitionsForTopic: ConnectError');
    const n = this.broker.isPartitioned(topic);
    if (n > 0) return Array.from({ length: n }, (_, i) => `${topic}-partition-${i}`);
    if (!this.broker.topic(topic)) throw new Error('Failed to GetPartitionsForTopic: TopicNotFound');
    return [topic];
  }

  async close(): Promise<null> {
    this.closed = true;
    await Promise.all([...this.owned].map((c) => c.close()));
    return null;
  }

  private adopt(c: FakeProducer | FakeReader): void {
    this.owned.add(c);
    this.broker.attach(c);
  }

  private drop(c: FakeProducer | FakeReader): void {
    this.owned.delete(c);
    this.broker.detach(c);
  }
}

/**
 * The client module as PulsarLog gets it (../client-api.ts), backed by `broker`. FakeClient keeps
 * the rest of pulsar-client's API too (readNext, hasNext, seek, subscribe), so a test can see the
 * engine never reaches for it.
 */
export type FakePulsarModule = Omit<PulsarModule, 'createClient'> & { createClient(config: ClientConfig): FakeClient };

export function fakePulsarModule(broker: FakeBroker): FakePulsarModule & PulsarModule {
  const mod: FakePulsarModule = { kind: 'double', createClient: (config: ClientConfig) => new FakeClient(config, broker), MessageId: FakeMessageId };
  return mod;
}
