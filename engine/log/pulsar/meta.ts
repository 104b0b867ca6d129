/**
 * The store's meta topic (`persistent://{tenant}/{ns}/abe-meta`): the store epoch and the registry
 * of areas, read by one reader per process for the life of the log. Records are JSON:
 *
 *   {"kind":"epoch","epoch":"<16 hex>","nonce":"..."}   the FIRST one in the topic is the store epoch
 *   {"kind":"area","area":"city:d7","gen":0}            the area got a genesis in generation `gen`
 *
 * Store epoch: at open, the reader reads the topic to its end. With no epoch record, this process
 * proposes one and reads on until its own proposal comes back; every process then adopts the first
 * epoch record in topic order, so racing first starts agree. A new namespace, or a meta topic that
 * lost its records, gives a new store epoch.
 *
 * Registry: an area topic that has no usable anchor although the registry knows the area lost its
 * history (deleted and recreated, removed as inactive, or expired while nobody read it); its next
 * genesis starts a new generation, i.e. a new epoch for that area (./area-reader.ts). The registry
 * also answers `areas()` (Pulsar's client API cannot list topics).
 *
 * The meta topic must keep its records: give it infinite retention (README, "Pulsar").
 */
import { randomBytes } from 'node:crypto';
import type { Client, Producer } from './client-api.ts';
import { EngineError } from '../../errors.ts';
import type { PulsarModule } from './options.ts';
import { withTimeout } from './area-writer.ts';
import { TailingReader } from './tailing-reader.ts';

export interface MetaStoreOptions {
  readonly client: Client;
  readonly pulsar: PulsarModule;
  readonly topic: string;
  readonly producerName: string;
  readonly sendTimeoutMs: number;
  readonly catchUpIdleMs: number;
  readonly readerStallMs: number;
  readonly backoffMs: { readonly initial: number; readonly max: number };
  readonly onError: (error: unknown, where: string) => void;
}

type MetaRecord = { kind: 'epoch'; epoch: string; nonce?: string } | { kind: 'area'; area: string; gen: number };

export class MetaStore {
  epoch = '';
  private readonly registry = new Map<string, number>();
  private readonly reader: TailingReader;
  private producer: Producer | undefined;
  private caughtUp!: () => void;
  private readonly caughtUpP = new Promise<void>((r) => (this.caughtUp = r));
  private readonly nonceSeen = new Map<string, () => void>();

  constructor(private readonly o: MetaStoreOptions) {
    this.reader = new TailingReader({
      client: o.client,
      pulsar: o.pulsar,
      topic: o.topic,
      receiverQueueSize: 1000,
      readerName: `${o.producerName}-meta`,
      catchUpIdleMs: o.catchUpIdleMs,
      readerStallMs: o.readerStallMs,
      backoffMs: o.backoffMs,
      onMessage: (d) => this.onRecord(d.message.getData()),
      onCaughtUp: () => this.caughtUp(),
      onError: o.onError,
    });
  }

  /**
   * Opens the meta topic; this is also the log's check of its configuration, in the order Pulsar
   * checks it: lookup (the namespace exists and the role may use it), consume (the reader), produce
   * (the producer, made now so a role without produce is found at start, not at the first publish).
   */
  async open(): Promise<void> {
    const partitions = await this.o.client.getPartitionsForTopic(this.o.topic);
    if (partitions.length !== 1) throw new EngineError('log_unavailable', `${this.o.topic} is a partitioned topic: the meta topic must be non-partitioned`);
    await this.reader.start();
    await this.ensureProducer();
    await this.caughtUpP;
    if (this.epoch) return;
    const nonce = randomBytes(8).toString('hex');
    const back = new Promise<void>((r) => this.nonceSeen.set(nonce, r));
    await this.write({ kind: 'epoch', epoch: randomBytes(8).toString('hex'), nonce });
    // Everything before our proposal has been read once it is back: the first epoch record is known.
    await withTimeout(back, this.o.sendTimeoutMs * 2 + 1000, `${this.o.topic}: reading back the epoch proposal`);
    if (!this.epoch) throw new Error(`meta topic ${this.o.topic}: no epoch after proposing one`);
  }

  healthy(): boolean {
    return this.reader.healthy();
  }

  check(now: number): void {
    this.reader.check(now);
  }

  /** Highest generation the registry knows for the area (undefined: never had a genesis). */
  generation(area: string): number | undefined {
    return this.registry.get(area);
  }

  areas(): string[] {
    return [...this.registry.keys()];
  }

  async register(area: string, gen: number): Promise<void> {
    await this.write({ kind: 'area', area, gen });
    this.note(area, gen);
  }

  async close(): Promise<void> {
    await this.reader.close();
    await this.producer?.close().catch(() => {});
    this.producer = undefined;
  }

  private async ensureProducer(): Promise<Producer> {
    this.producer ??= await this.o.client.createProducer({
      topic: this.o.topic,
      producerName: `${this.o.producerName}-meta`,
      batchingEnabled: false,
      sendTimeoutMs: this.o.sendTimeoutMs,
    });
    return this.producer;
  }

  private async write(record: MetaRecord): Promise<void> {
    try {
      await (await this.ensureProducer()).send({ data: Buffer.from(JSON.stringify(record)) });
    } catch (error) {
      const p = this.producer;
      this.producer = undefined;
      void p?.close().catch(() => {});
      throw new EngineError('log_unavailable', `cannot write the Pulsar meta topic ${this.o.topic}`, { cause: error });
    }
  }

  private onRecord(data: Buffer): void {
    let r: MetaRecord;
    try {
      r = JSON.parse(data.toString('utf8')) as MetaRecord;
    } catch {
      this.o.onError(new Error('undecodable record'), `meta topic ${this.o.topic}`);
      return;
    }
    if (r.kind === 'epoch' && typeof r.epoch === 'string' && /^[0-9a-f]{16}$/.test(r.epoch)) {
      if (!this.epoch) this.epoch = r.epoch;
      if (r.nonce) {
        this.nonceSeen.get(r.nonce)?.();
        this.nonceSeen.delete(r.nonce);
      }
    } else if (r.kind === 'area' && typeof r.area === 'string' && Number.isSafeInteger(r.gen) && r.gen >= 0) {
      this.note(r.area, r.gen);
    }
  }

  private note(area: string, gen: number): void {
    this.registry.set(area, Math.max(gen, this.registry.get(area) ?? 0));
  }
}
