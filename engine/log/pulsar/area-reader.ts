/**
 * One area in this process: its ONE tailing Pulsar reader, the offsets derived from it
 * (./sequencer.ts), what is known about the numbered records (./area-window.ts), its tails
 * (./area-tails.ts) and its appends.
 *
 * Open: the reader starts at the earliest retained message and reads to the end (caught up).
 * If no anchor made the offsets known by then, the area is either new (nothing to number yet:
 * head 0; the genesis is written lazily, before the first append or when a foreign message
 * arrives) or it needs a genesis now (it holds messages, or the registry says it existed: then it
 * lost its history and the genesis starts a new generation, a new epoch). Genesis: write a fence,
 * read until it comes back (now everything before it is known), then write the anchor "the first
 * message I saw has count 1" (or "my fence has count 0"); racing processes do the same and every
 * reader takes the first anchor it can use (./area-writer.ts).
 *
 * Append: send a data message stamped with (producer name, abe-seq) and an anchor, then wait until
 * this reader numbers it: the offset comes from the log, so every process gives the same answer.
 */
import type { Client, Message, MessageId } from './client-api.ts';
import { EngineError } from '../../errors.ts';
import type { AppendRequest, AppendResult, AreaState, LogRecord } from '../types.ts';
import { AreaTails } from './area-tails.ts';
import { AreaWindow } from './area-window.ts';
import { AreaWriter } from './area-writer.ts';
import { decodeMessage, wireIdempotencyKey, type Anchor, type DataMessage } from './codec.ts';
import type { MetaStore } from './meta.ts';
import type { PulsarModule, ResolvedPulsarLogOptions } from './options.ts';
import type { ProducerPool } from './producers.ts';
import { ReplayGap, replay } from './replay.ts';
import { OffsetSequencer, type Numbered } from './sequencer.ts';
import { TailingReader, type Delivered } from './tailing-reader.ts';

export interface AreaDeps {
  readonly area: string;
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly client: Client;
  readonly pulsar: PulsarModule;
  readonly producers: ProducerPool;
  readonly deadLetters: ProducerPool;
  readonly meta: MetaStore;
  readonly options: ResolvedPulsarLogOptions;
  /** The area reset under us (a genesis of another epoch): the log drops this instance. */
  readonly onDead: (reader: AreaReader) => void;
  /** Tails of a previous instance that failed to open: they continue on this one. */
  readonly tails?: AreaTails;
}

export interface Item {
  readonly data: DataMessage;
  readonly message: Message;
  readonly prevId: MessageId | undefined;
}

const INDEX_EVERY = 256;

export class AreaReader {
  readonly window: AreaWindow;
  readonly tails: AreaTails;
  readonly seq: OffsetSequencer<Item>;
  readonly ready: Promise<void>;
  lastUsed: number;
  /** Time of the newest anchor seen, and data messages since (checkpoint decisions). */
  lastAnchorAt: number;
  dataSinceAnchor = 0;
  private readonly reader: TailingReader;
  private readonly writer: AreaWriter;
  private readonly waiters = new Map<string, { resolve: (r: { offset: number; duplicate: boolean }) => void; reject: (e: Error) => void }>();
  private readonly inflightKeys = new Map<string, Promise<AppendResult>>();
  private resolvedWaiters: (() => void)[] = [];
  private replayChain: Promise<unknown> = Promise.resolve();
  private caughtUp!: () => void;
  private dead = false;

  constructor(readonly d: AreaDeps) {
    const o = d.options;
    this.lastUsed = o.now();
    this.lastAnchorAt = o.now();
    this.window = new AreaWindow(o.cacheRecords, INDEX_EVERY, o.idempotencyTtlMs, o.retention, o.now);
    this.seq = new OffsetSequencer<Item>({
      maxPending: Math.max(o.cacheRecords, 10_000),
      recentWindow: 4096,
      onConflict: (what) => o.onError(new Error(`offset anchor conflict: ${what}`), `area ${d.area}`),
    });
    const source = {
      resolved: () => this.seq.resolved,
      head: () => this.window.head,
      first: () => this.window.first,
      cacheStart: () => this.window.cacheStart,
      slice: (f: number, l: number) => this.window.slice(f, l),
      read: (f: number, l: number) => this.readRange(f, l),
      onError: (e: unknown, w: string) => o.onError(e, `area ${d.area}: ${w}`),
    };
    this.tails = d.tails ?? new AreaTails(source);
    if (d.tails) d.tails.attach(source);
    this.writer = new AreaWriter(this);
    const caughtUp = new Promise<void>((r) => (this.caughtUp = r));
    this.reader = new TailingReader({
      client: d.client,
      pulsar: d.pulsar,
      topic: d.topic,
      receiverQueueSize: 500,
      // The one reader of this area in this process, as the broker's topic stats name it.
      readerName: `${o.producerName}-area`,
      catchUpIdleMs: o.catchUpIdleMs,
      readerStallMs: o.readerStallMs,
      backoffMs: o.backoffMs,
      onMessage: (m) => this.onMessage(m),
      onCaughtUp: () => this.caughtUp(),
      onError: (e, w) => o.onError(e, `area ${d.area}: ${w}`),
    });
    this.ready = this.open(caughtUp);
    this.ready.catch(() => {});
  }

  get area(): string {
    return this.d.area;
  }

  get isCaughtUp(): boolean {
    return this.reader.caughtUp;
  }

  private async open(caughtUp: Promise<void>): Promise<void> {
    const partitions = await this.d.client.getPartitionsForTopic(this.d.topic);
    if (partitions.length !== 1 || /-partition-\d+$/.test(partitions[0]!)) {
      throw new EngineError('log_unavailable', `${this.d.topic} is a partitioned topic: the engine needs one non-partitioned topic per area (merged partitions have no order every reader agrees on)`);
    }
    await this.reader.start();
    await caughtUp;
    if (!this.seq.resolved && this.needsGenesis()) await this.writer.genesis();
  }

  /** Unresolved after catching up: a genesis is due now when there is something to number or an old area. */
  needsGenesis(): boolean {
    return this.seq.firstPendingDataKey() !== undefined || this.d.meta.generation(this.d.area) !== undefined || this.seq.maxSeenGeneration >= 0;
  }

  healthy(): boolean {
    return this.reader.healthy();
  }

  epoch(): string {
    return this.seq.resolved ? this.seq.epoch : this.d.meta.epoch;
  }

  /** The anchor a message written now carries: the newest message read and its count. */
  anchor(): Anchor | undefined {
    const ref = this.seq.lastKey;
    return this.seq.resolved && ref !== undefined ? { ref, count: this.seq.count, epoch: this.seq.epoch } : undefined;
  }

  whenResolved(): Promise<void> {
    return this.seq.resolved ? Promise.resolve() : new Promise((r) => this.resolvedWaiters.push(r));
  }

  async state(): Promise<AreaState> {
    this.lastUsed = this.d.options.now();
    await this.ready;
    return { epoch: this.epoch(), head: this.window.head, first: this.seq.resolved ? this.window.first : 1 };
  }

  async append(req: AppendRequest): Promise<AppendResult> {
    this.lastUsed = this.d.options.now();
    await this.ready;
    if (!this.seq.resolved) await this.writer.genesis();
    const key = req.idempotencyKey === undefined ? undefined : wireIdempotencyKey(req.idempotencyKey);
    if (key !== undefined) {
      const earlier = this.window.idempotent(key, this.d.options.now());
      if (earlier !== undefined) return { offset: earlier, epoch: this.epoch(), duplicate: true };
      const inflight = this.inflightKeys.get(key);
      if (inflight) return { ...(await inflight), duplicate: true };
    }
    const p = this.send(req);
    if (key === undefined) return p;
    this.inflightKeys.set(key, p);
    try {
      return await p;
    } finally {
      this.inflightKeys.delete(key);
    }
  }

  private async send(req: AppendRequest): Promise<AppendResult> {
    const o = this.d.options;
    let outcome: Promise<{ offset: number; duplicate: boolean }> | undefined;
    let waiterKey = '';
    try {
      await this.writer.sendData(req, (seq) => {
        waiterKey = `${o.producerName}:${seq}`;
        outcome = new Promise((resolve, reject) => this.waiters.set(waiterKey, { resolve, reject }));
      });
      const timeout = o.sendTimeoutMs * 2 + 1000;
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        outcome!,
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new EngineError('log_unavailable', `${this.d.topic}: persisted, but not read back within ${timeout} ms`)), timeout);
        }),
      ]).finally(() => clearTimeout(timer));
      return { offset: r.offset, epoch: this.epoch(), duplicate: r.duplicate };
    } finally {
      this.waiters.delete(waiterKey);
    }
  }

  async read(from: number, limit: number): Promise<LogRecord[]> {
    this.lastUsed = this.d.options.now();
    return this.readRange(from, limit);
  }

  private async readRange(from: number, limit: number): Promise<LogRecord[]> {
    await this.ready;
    const max = Math.floor(limit);
    if (!this.seq.resolved || max <= 0) return [];
    for (let attempt = 0; ; attempt++) {
      const w = this.window;
      const start = Number.isNaN(from) ? w.first : Math.max(w.first, Math.ceil(from));
      const end = Math.min(w.head, start + max - 1);
      if (start > end) return [];
      if (start >= w.cacheStart) return w.slice(start, end - start + 1);
      const entry = w.indexFloor(start);
      if (!entry) return w.slice(w.cacheStart, end - w.cacheStart + 1);
      const to = Math.min(end, w.cacheStart - 1);
      try {
        const older = await this.serialized(() =>
          replay({
            client: this.d.client,
            pulsar: this.d.pulsar,
            topic: this.d.topic,
            entry,
            from: start,
            to,
            isTombstone: (off) => w.isTombstone(off),
            idleTimeoutMs: Math.max(5000, this.d.options.catchUpIdleMs * 10),
          }),
        );
        return to < end ? [...older, ...w.slice(to + 1, end - to)] : older;
      } catch (error) {
        if (!(error instanceof ReplayGap) || attempt >= 8) throw error;
        this.d.options.onError(error, `area ${this.d.area}: replay`);
        w.advanceFirst(w.indexAfter(entry.offset)?.offset ?? w.cacheStart); // conservative: the next known position
      }
    }
  }

  /** Logical retention by count and age (the age walk reads record times, replaying if needed). */
  async applyRetention(now: number): Promise<void> {
    const { maxCount, maxAgeMs } = this.d.options.retention;
    const w = this.window;
    if (!this.seq.resolved || w.empty) return;
    if (maxCount > 0) w.advanceFirst(w.head - maxCount + 1);
    if (maxAgeMs <= 0) return;
    const cutoff = now - maxAgeMs;
    let first = w.first;
    // Outside the cache, skip indexed stretches whose next indexed record is already too old.
    for (let next = w.indexAfter(first); next && next.offset <= w.cacheStart && next.time < cutoff; next = w.indexAfter(first)) first = next.offset;
    walk: while (first <= w.head) {
      const batch = await this.readRange(first, 256);
      if (batch.length === 0) break;
      for (const r of batch) {
        if (r.time >= cutoff) break walk;
        first = r.offset + 1;
      }
    }
    w.advanceFirst(first);
  }

  /** Housekeeping from the log's sweep. */
  async sweep(now: number): Promise<void> {
    this.reader.check(now);
    this.window.expire(now);
    await this.applyRetention(now);
    if (this.seq.resolved && this.reader.caughtUp) void this.writer.maybeCheckpoint(now);
  }

  idle(now: number): boolean {
    return this.tails.size === 0 && this.waiters.size === 0 && now - this.lastUsed >= this.d.options.areaIdleMs;
  }

  /** Stops the reader; `keepTails` leaves the tails open for a re-created instance. */
  async close(keepTails = false): Promise<void> {
    this.dead = true;
    if (!keepTails) this.tails.closeAll();
    for (const w of this.waiters.values()) w.reject(new EngineError('log_unavailable', `area ${this.d.area} closed before its append was read back`));
    this.waiters.clear();
    await this.reader.close();
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.replayChain.then(fn, fn);
    this.replayChain = p.catch(() => {});
    return p;
  }

  private onMessage(m: Delivered): void {
    if (this.dead) return;
    const decoded = decodeMessage(m.message);
    const isData = decoded.kind === 'data';
    const wasResolved = this.seq.resolved;
    const genesis = decoded.kind === 'control' && decoded.control === 'genesis';
    const item: Item | undefined = isData ? { data: decoded, message: m.message, prevId: m.prevId } : undefined;
    const res = this.seq.push({ key: m.key, data: isData, ...(decoded.anchor ? { anchor: decoded.anchor } : {}), genesis }, item);
    if (res.reset !== undefined) return this.reset(res.reset);
    if (decoded.anchor) {
      this.lastAnchorAt = this.d.options.now();
      this.dataSinceAnchor = 0;
    } else if (isData) this.dataSinceAnchor++;
    for (const n of res.numbered) this.number(n);
    if (res.dropped.length > 0) this.d.options.onError(new Error(`${res.dropped.length} message(s) before the area's genesis are not numbered`), `area ${this.d.area}`);
    if (decoded.kind === 'control' && decoded.fence !== undefined) this.writer.fenceSeen(decoded.fence, m.key);
    if (!wasResolved && this.seq.resolved) for (const r of this.resolvedWaiters.splice(0)) r();
    if (!this.seq.resolved && isData && this.reader.caughtUp) {
      this.writer.genesis().catch((e: unknown) => this.d.options.onError(e, `area ${this.d.area}: genesis`));
    }
    this.tails.notify();
  }

  private number(n: Numbered<Item>): void {
    const c = this.window.classify(n.offset, n.item.data);
    this.window.add(c.record, n.key, n.item.prevId, c.tombstone);
    const data = n.item.data;
    if (data.deadLetter !== undefined) this.writer.deadLetter(n.item.message, n.offset, n.key, data.deadLetter);
    if (data.seq !== undefined && !c.resend) {
      const key = `${data.producer}:${data.seq}`;
      const w = this.waiters.get(key);
      if (w) {
        this.waiters.delete(key);
        w.resolve({ offset: c.duplicateOf ?? n.offset, duplicate: c.duplicateOf !== undefined });
      }
    }
  }

  private reset(epoch: string): void {
    this.d.options.onError(new Error(`area was reset (new epoch ${epoch}); reopening it from the start, its tails end here`), `area ${this.d.area}`);
    this.dead = true;
    this.d.onDead(this);
    void this.close();
  }
}
