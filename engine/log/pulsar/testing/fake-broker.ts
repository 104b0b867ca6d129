/**
 * TEST DOUBLE: an in-memory Pulsar broker (one cluster) for the slice of pulsar-client the engine
 * uses. Clients, producers and readers live in ./fake-client.ts. What it models, as Pulsar does:
 *
 * - Topics made of ledgers; ledger ids are handed out increasing across the cluster (BookKeeper),
 *   entry ids restart at 0 in each ledger. A ledger rolls over after `maxEntriesPerLedger`
 *   entries, on `rollover()`, and whenever the topic is (re)loaded by a broker start.
 * - A batched entry holds several messages, ids (ledger, entry, batchIndex).
 * - Retention trims whole ledgers from the front and never the current one; `expireAll()` is what
 *   newer brokers do when everything expired: roll to an empty ledger and delete the rest.
 * - Deduplication per namespace: the broker drops a message whose sequence id is not above the
 *   last one persisted for its producer name and answers it with id (-1,-1).
 * - Auto topic creation (on by default), partitioned topics (metadata only), topic deletion.
 * - Faults: `stop()`/`start()` (connections drop; clients reconnect on their own, producers resend
 *   what was not acknowledged, readers resume after the last message they delivered),
 *   `loseNextReceipts(n)` (persisted, but the producer never hears so; it resends on reconnect),
 *   `fenceClients()` (the broker closes producers/readers for good: they must be recreated).
 */
import type { ProducerMessage } from 'pulsar-client';
import { compareIds, isAfterStart, type IdParts } from '../message-id.ts';
import { FakeMessageId, type StoredMessage } from './fake-message.ts';

export interface FakeBrokerOptions {
  /** Pulsar's managedLedgerMaxEntriesPerLedger (default 50000). */
  readonly maxEntriesPerLedger?: number;
  /** allowAutoTopicCreation (default true). */
  readonly autoTopicCreation?: boolean;
  /** Publish timestamps (default Date.now). */
  readonly now?: () => number;
}

/** A producer or reader attached to the broker. */
export interface Connection {
  readonly topic: string;
  onDisconnect(): void;
  onReconnect(): void;
  onFenced(): void;
  /** New messages were persisted on the topic. */
  notify?(): void;
}

interface Ledger {
  readonly id: bigint;
  entries: number;
}

export class FakeTopic {
  readonly messages: StoredMessage[] = [];
  readonly ledgers: Ledger[] = [];
  readonly lastSequence = new Map<string, number>();
  readonly connections = new Set<Connection>();
  constructor(readonly name: string) {}

  /** First retained message the reader at `position` has not had yet. */
  nextAfter(position: IdParts): StoredMessage | undefined {
    let lo = 0;
    let hi = this.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (isAfterStart(this.messages[mid]!.id.parts, position)) hi = mid;
      else lo = mid + 1;
    }
    return this.messages[lo];
  }

  last(): StoredMessage | undefined {
    return this.messages[this.messages.length - 1];
  }
}

export class FakeBroker {
  readonly stats = { hasNextCalls: 0, readersCreated: 0, producersCreated: 0, sends: 0, subscribeCalls: 0 };
  private up = true;
  private nextLedgerId = 7n;
  private lostReceipts = 0;
  private producerNames = 0;
  private readonly topics = new Map<string, FakeTopic>();
  private readonly partitioned = new Map<string, number>();
  private readonly dedup = new Set<string>();
  private readonly all = new Set<Connection>();
  readonly now: () => number;
  private readonly maxEntries: number;
  readonly autoTopicCreation: boolean;

  constructor(options: FakeBrokerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntriesPerLedger ?? 50_000;
    this.autoTopicCreation = options.autoTopicCreation ?? true;
  }

  get isUp(): boolean {
    return this.up;
  }

  // ------------------------------------------------------------------ used by the fake client

  /** The topic, created if allowed; undefined when it does not exist and may not be created. */
  topic(name: string, create = this.autoTopicCreation): FakeTopic | undefined {
    let t = this.topics.get(name);
    if (!t && create) {
      t = new FakeTopic(name);
      t.ledgers.push({ id: this.nextLedgerId++, entries: 0 });
      this.topics.set(name, t);
    }
    return t;
  }

  isPartitioned(name: string): number {
    return this.partitioned.get(name) ?? 0;
  }

  attach(conn: Connection): void {
    this.all.add(conn);
    this.topic(conn.topic)?.connections.add(conn);
  }

  detach(conn: Connection): void {
    this.all.delete(conn);
    this.topics.get(conn.topic)?.connections.delete(conn);
  }

  newProducerName(): string {
    return `standalone-0-${this.producerNames++}`;
  }

  lastSequenceOf(topic: string, producerName: string): number {
    return this.dedupEnabled(topic) ? (this.topics.get(topic)?.lastSequence.get(producerName) ?? -1) : -1;
  }

  /**
   * Persists messages as one entry (a batch when more than one, or when `batched`). Returns the id
   * per message, (-1,-1) for one dropped by deduplication, and whether the receipt is lost.
   */
  persist(topicName: string, producerName: string, messages: readonly { msg: ProducerMessage; seq: number }[], batched: boolean): { ids: FakeMessageId[]; receiptLost: boolean } {
    const t = this.topic(topicName);
    if (!t || !this.up) throw new Error('broker not available');
    this.stats.sends += messages.length;
    const dedup = this.dedupEnabled(topicName);
    const kept = messages.filter(({ seq }) => !dedup || seq > (t.lastSequence.get(producerName) ?? -1));
    const ids = new Map<number, FakeMessageId>();
    if (kept.length > 0) {
      let ledger = t.ledgers[t.ledgers.length - 1]!;
      if (ledger.entries >= this.maxEntries) ledger = this.roll(t);
      const entry = BigInt(ledger.entries++);
      const asBatch = batched || kept.length > 1;
      const now = this.now();
      kept.forEach(({ msg, seq }, i) => {
        const id = FakeMessageId.of(ledger.id, entry, asBatch ? i : -1, asBatch ? kept.length : 0);
        ids.set(seq, id);
        t.messages.push({
          id,
          topic: topicName,
          data: Buffer.from(msg.data),
          properties: { ...(msg.properties ?? {}) },
          publishTimestamp: now,
          eventTimestamp: msg.eventTimestamp ?? 0,
          producerName,
          sequenceId: seq,
          partitionKey: msg.partitionKey ?? '',
          orderingKey: msg.orderingKey ?? '',
        });
        t.lastSequence.set(producerName, Math.max(seq, t.lastSequence.get(producerName) ?? -1));
      });
      for (const c of t.connections) c.notify?.();
    }
    const receiptLost = kept.length > 0 && this.lostReceipts > 0;
    if (receiptLost) this.lostReceipts--;
    return { ids: messages.map(({ seq }) => ids.get(seq) ?? FakeMessageId.of(-1, -1)), receiptLost };
  }

  // ------------------------------------------------------------------ controls for tests

  setDeduplication(namespace: string, enabled: boolean): void {
    if (enabled) this.dedup.add(namespace);
    else this.dedup.delete(namespace);
  }

  createPartitionedTopic(name: string, partitions: number): void {
    this.partitioned.set(name, partitions);
  }

  rollover(name: string): void {
    const t = this.topics.get(name);
    if (t) this.roll(t);
  }

  /** Deletes the oldest `count` ledgers of a topic, never the current one. Returns how many went. */
  trimLedgers(name: string, count: number): number {
    const t = this.topics.get(name);
    if (!t) return 0;
    const n = Math.max(0, Math.min(count, t.ledgers.length - 1));
    const gone = new Set(t.ledgers.splice(0, n).map((l) => l.id));
    let cut = 0;
    while (cut < t.messages.length && gone.has(t.messages[cut]!.id.parts.ledger)) cut++;
    t.messages.splice(0, cut);
    return n;
  }

  /** Everything expired: roll to an empty ledger and delete all the others. */
  expireAll(name: string): void {
    const t = this.topics.get(name);
    if (!t) return;
    this.roll(t);
    this.trimLedgers(name, t.ledgers.length - 1);
  }

  /** `pulsar-admin topics delete -f`: clients on it are closed; the name can be created again. */
  deleteTopic(name: string): void {
    const t = this.topics.get(name);
    if (!t) return;
    for (const c of [...t.connections]) c.onFenced();
    this.topics.delete(name);
  }

  /** The broker goes away: every connection drops (clients keep retrying). */
  stop(): void {
    this.up = false;
    for (const c of [...this.all]) c.onDisconnect();
  }

  /** The broker is back: topics are reloaded on new ledgers, clients reconnect. */
  start(): void {
    this.up = true;
    for (const t of this.topics.values()) {
      const current = t.ledgers[t.ledgers.length - 1]!;
      if (current.entries === 0) t.ledgers.pop();
      t.ledgers.push({ id: this.nextLedgerId++, entries: 0 });
    }
    for (const c of [...this.all]) c.onReconnect();
  }

  /** The broker closes the producers and readers of a topic (or all) for good. */
  fenceClients(name?: string): void {
    for (const c of [...this.all]) if (name === undefined || c.topic === name) c.onFenced();
  }

  /** The next `n` persisted sends never get their receipt to the producer. */
  loseNextReceipts(n: number): void {
    this.lostReceipts += n;
  }

  stored(name: string): readonly StoredMessage[] {
    return this.topics.get(name)?.messages ?? [];
  }

  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  ledgerIds(name: string): bigint[] {
    return this.topics.get(name)?.ledgers.map((l) => l.id) ?? [];
  }

  private roll(t: FakeTopic): Ledger {
    const ledger = { id: this.nextLedgerId++, entries: 0 };
    t.ledgers.push(ledger);
    return ledger;
  }

  private dedupEnabled(topic: string): boolean {
    const m = /^persistent:\/\/([^/]+\/[^/]+)\//.exec(topic);
    return m !== null && this.dedup.has(m[1]!);
  }
}

export function sortedIds(messages: readonly StoredMessage[]): boolean {
  return messages.every((m, i) => i === 0 || compareIds(messages[i - 1]!.id.parts, m.id.parts) < 0);
}
