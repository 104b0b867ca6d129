/**
 * The embedded log: an LMDB env (npm `lmdb`) in one directory, shareable by several engine
 * processes. Layout in ./embedded-codec.ts. Every append is one async LMDB write transaction
 * (serialized across processes by LMDB's writer lock); lmdb-js batches the transactions queued
 * in one event turn into a single commit.
 *
 * Durability: lmdb-js opens with `overlappingSync` (default on Linux/macOS): a transaction's promise
 * resolves once it is committed and visible (survives kill -9: the pages are in the OS page cache
 * and the committed meta page is used on reopen when the boot id is unchanged), and the fsync runs
 * afterwards, off the writer lock. `db.flushed` resolves when the newest commit of this process
 * is synced; awaited after our commit resolved, it covers our transaction (LMDB syncs up to the
 * latest meta, so a later flush implies ours). 'commit' answers after the commit, 'flush' after
 * that flush too.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { EngineError } from '../errors.ts';
import {
  EPOCH_KEY,
  OPENED_KEY,
  PROBE_KEY,
  HEAD_RANGE,
  decodeRecord,
  encodeRecord,
  headKey,
  idemKey,
  messageKey,
  recordTime,
  type HeadEntry,
} from './embedded-codec.ts';
import { DurableWatermark } from './durable-watermark.ts';
import { absorbLmdbCommitRejections, commitFailureReason } from './lmdb-failures.ts';
import { WriteHealth } from './write-health.ts';
import { TailManager } from './tail-manager.ts';
import type {
  AppendRequest,
  AppendResult,
  AreaLog,
  AreaState,
  LogRecord,
  RetentionPolicy,
  TailHandle,
  TailListener,
} from './types.ts';

export interface EmbeddedLogOptions {
  /** Directory of the LMDB env (created if missing). */
  readonly dir: string;
  readonly retention: RetentionPolicy;
  /** How long an idempotency key is remembered (ms; 0 = forever). */
  readonly idempotencyTtlMs: number;
  /** 'commit': resolve appends after the LMDB commit; 'flush': also after the fsync. */
  readonly durability: 'flush' | 'commit';
  /** How often tails look for appends made by other processes (ms). */
  readonly tailPollMs: number;
  /** Retention sweep period (ms, default 1000; 0 = only when `sweep()` is called). */
  readonly retentionSweepMs?: number;
  /** Clock for retention by age and idempotency expiry (default Date.now). */
  readonly now?: () => number;
  /** Records per tail listener call (default 256). */
  readonly tailBatchSize?: number;
  /** Errors that have no caller to go to (sweep, tail read, a tail listener that threw). Default: console.error. */
  readonly onError?: (error: unknown, where: string) => void;
  /** The log stopped or started again taking writes (full disk, EIO...; ./write-health.ts). Default: console.error. */
  readonly onWritable?: (writable: boolean, reason: string) => void;
  /** While writes fail, how often a probe write checks whether they work again (ms, default 1000). */
  readonly writeProbeMs?: number;
}

/**
 * The least the write probe stores (./write-health.ts): a store with less headroom than this is
 * not ready, and a probe the size of a few pages would call a nearly full disk ready.
 */
const PROBE_MIN_BYTES = 64 * 1024;

/** Deletions per sweep transaction, so one sweep never holds the writer lock for long. */
const SWEEP_BUDGET = 10_000;

type IdemEntry = [offset: number, time: number];

export class EmbeddedLog implements AreaLog {
  readonly kind = 'embedded';
  private env!: RootDatabase;
  private messages!: Database<Buffer, [string, number]>;
  private meta!: Database<unknown, string | [string, string]>;
  private idem!: Database<IdemEntry, [string, string]>;
  private idemTime!: Database<null, [number, string, string]>;
  private epoch = '';
  private opened = false;
  private closed = false;
  private readonly writes: WriteHealth;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly tails: TailManager;
  private readonly durable: DurableWatermark;
  private readonly onError: (error: unknown, where: string) => void;

  constructor(private readonly options: EmbeddedLogOptions) {
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? ((error, where) => console.error(`[embedded log] ${where}:`, error));
    const flush = options.durability === 'flush';
    this.durable = new DurableWatermark(
      (done) => (this.env as unknown as { sync(cb: (error?: unknown) => void): void }).sync(done),
      (area) => this.tails.notify(area),
      this.onError,
    );
    this.tails = new TailManager(
      {
        readSync: (a, f, l) => this.readSync(a, f, l),
        headSync: (a) => this.headEntry(a)?.[0] ?? 0,
        // With durability 'commit' a committed record is what the publisher was promised.
        ceiling: (a) => (flush ? this.durable.ceiling(a) : Infinity),
        requestDurable: (a, head) => {
          if (flush) this.durable.request(a, head);
        },
      },
      { pollMs: options.tailPollMs, batchSize: options.tailBatchSize ?? 256, onError: this.onError },
    );
    const onWritable = options.onWritable ?? ((writable, reason) => console.error(`[embedded log] writable=${writable}: ${reason}`));
    this.writes = new WriteHealth((bytes) => this.probeWrite(bytes), options.writeProbeMs ?? 1000, PROBE_MIN_BYTES, { onChange: onWritable });
  }

  async open(): Promise<void> {
    if (this.opened) throw new Error('EmbeddedLog.open() called twice');
    mkdirSync(this.options.dir, { recursive: true });
    absorbLmdbCommitRejections();
    this.env = open({ path: this.options.dir, maxDbs: 8 });
    this.messages = this.env.openDB({ name: 'messages', encoding: 'binary' });
    this.meta = this.env.openDB({ name: 'meta' });
    this.idem = this.env.openDB({ name: 'idem' });
    this.idemTime = this.env.openDB({ name: 'idem-time' });
    this.epoch = await this.env.childTransaction(() => {
      const existing = this.meta.get(EPOCH_KEY);
      if (typeof existing === 'string') return existing;
      const epoch = randomBytes(8).toString('hex');
      this.meta.putSync(EPOCH_KEY, epoch);
      return epoch;
    });
    // A store that cannot take writes (disk already full) opens not ready and keeps probing.
    await this.writes.check();
    this.opened = true;
    const sweepMs = this.options.retentionSweepMs ?? 1000;
    if (sweepMs > 0) {
      this.sweepTimer = setInterval(() => {
        // Deleting needs new pages too (copy-on-write): no sweep while writes fail.
        if (!this.writes.writable) return;
        this.sweep().catch(async (error: unknown) => {
          // The sweep may be the first writer to meet a full disk: it says so like an append would.
          const reason = await commitFailureReason(error);
          this.writes.failed(reason);
          this.onError(new Error(reason, { cause: error }), 'retention sweep');
        });
      }, sweepMs);
      this.sweepTimer.unref();
    }
  }

  async state(area: string): Promise<AreaState> {
    this.assertOpen();
    const entry = this.headEntry(area);
    const head = entry?.[0] ?? 0;
    // A cursor starts at this head and replays up to it: it must not name an offset that is
    // committed but not yet durable (ours awaiting its flush, or another process's).
    if (this.options.durability === 'flush') await this.durable.whenDurable(area, head);
    return { epoch: this.epoch, head, first: entry?.[1] ?? 1 };
  }

  async append(area: string, request: AppendRequest): Promise<AppendResult> {
    this.assertOpen();
    if (!this.writes.writable) throw new EngineError('log_unavailable', `the log cannot take writes: ${this.writes.reason}`);
    const value = encodeRecord(request.time, request.expiresAt, request.contentType, request.payload, request.headers);
    const ik = request.idempotencyKey === undefined ? undefined : idemKey(area, request.idempotencyKey);
    const ttl = this.options.idempotencyTtlMs;
    const now = this.now();
    let result: { offset: number; duplicate: boolean };
    try {
      // childTransaction: a throw inside rolls back this append only (a plain async transaction
      // callback that throws keeps its earlier writes).
      result = await this.env.childTransaction(() => {
        if (ik) {
          const prev = this.idem.get(ik);
          if (prev && (ttl <= 0 || now - prev[1] <= ttl)) return { offset: prev[0], duplicate: true };
        }
        const entry = this.meta.get(headKey(area)) as HeadEntry | undefined;
        const offset = (entry?.[0] ?? 0) + 1;
        this.messages.putSync(messageKey(area, offset), value);
        this.meta.putSync(headKey(area), [offset, entry?.[1] ?? 1]);
        if (ik) {
          this.idem.putSync(ik, [offset, now]);
          this.idemTime.putSync([now, ik[0], ik[1]], null);
        }
        return { offset, duplicate: false };
      });
      // Committed (visible to every reader, survives kill -9) but not yet fsynced: tails stay below
      // the durable watermark, so no vehicle sees an offset a power loss could take back.
      if (this.options.durability === 'flush') {
        await this.env.flushed;
        if (!result.duplicate) this.durable.flushed(area, result.offset);
      }
    } catch (error) {
      const reason = await commitFailureReason(error);
      this.writes.failed(reason, value.byteLength);
      throw new EngineError('log_unavailable', `append to ${area} failed: ${reason}`, { cause: error });
    }
    if (!result.duplicate) this.tails.notify(area);
    return { offset: result.offset, epoch: this.epoch, duplicate: result.duplicate };
  }

  async read(area: string, from: number, limit: number): Promise<LogRecord[]> {
    this.assertOpen();
    const records = this.readSync(area, from, limit).records;
    // Range reads (catch-up, history) hand records out too: only once they are durable.
    if (this.options.durability === 'flush' && records.length > 0) await this.durable.whenDurable(area, records[records.length - 1].offset);
    return records;
  }

  tail(area: string, after: number, listener: TailListener): TailHandle {
    this.assertOpen();
    return this.tails.add(area, after, listener);
  }

  async areas(): Promise<string[]> {
    this.assertOpen();
    const out: string[] = [];
    for (const key of this.meta.getKeys(HEAD_RANGE)) out.push((key as [string, string])[1]);
    return out;
  }

  healthy(): boolean {
    return this.opened && !this.closed && this.writes.writable;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.writes.close();
    this.tails.closeAll();
    this.durable.close();
    if (!this.opened) return;
    await this.sweeping?.catch(() => {});
    await this.durable.idle();
    await this.env.close();
  }

  /**
   * Applies retention now (also run every `retentionSweepMs`): per area, deletes from the front the
   * records beyond `maxCount` and those older than `maxAgeMs`, then expired idempotency keys.
   * Concurrent calls share one run.
   */
  sweep(): Promise<void> {
    this.assertOpen();
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async runSweep(): Promise<void> {
    const now = this.now();
    const { maxCount, maxAgeMs } = this.options.retention;
    if (maxCount > 0 || maxAgeMs > 0) {
      for (const area of await this.areas()) {
        while (!this.closed && (await this.env.childTransaction(() => this.trimArea(area, now)))) {
          /* budget used up: more to delete in the next transaction */
        }
      }
    }
    const ttl = this.options.idempotencyTtlMs;
    if (ttl > 0) {
      while (!this.closed && (await this.env.childTransaction(() => this.expireIdempotency(now - ttl)))) {
        /* more keys to expire */
      }
    }
  }

  /** Inside a write transaction. Returns true when the budget ran out before the area was done. */
  private trimArea(area: string, now: number): boolean {
    const entry = this.meta.get(headKey(area)) as HeadEntry | undefined;
    if (!entry) return false;
    const [head, first] = entry;
    const { maxCount, maxAgeMs } = this.options.retention;
    const limit = Math.min(head + 1, first + SWEEP_BUDGET);
    let newFirst = first;
    if (maxCount > 0 && head - first + 1 > maxCount) newFirst = Math.min(head - maxCount + 1, limit);
    if (maxAgeMs > 0) {
      const cutoff = now - maxAgeMs;
      while (newFirst < limit) {
        const bytes = this.messages.getBinaryFast(messageKey(area, newFirst));
        if (bytes && recordTime(bytes) >= cutoff) break;
        newFirst++;
      }
    }
    if (newFirst === first) return false;
    for (let offset = first; offset < newFirst; offset++) this.messages.removeSync(messageKey(area, offset));
    this.meta.putSync(headKey(area), [head, newFirst]);
    return newFirst === first + SWEEP_BUDGET && newFirst <= head;
  }

  /** Inside a write transaction: drops idempotency keys recorded before `cutoff`. */
  private expireIdempotency(cutoff: number): boolean {
    // collect first: no deletes while a cursor is open on the same db
    const keys = Array.from(this.idemTime.getKeys({ end: [cutoff], limit: SWEEP_BUDGET }));
    for (const key of keys) {
      const ik: [string, string] = [key[1], key[2]];
      const current = this.idem.get(ik);
      if (current && current[1] === key[0]) this.idem.removeSync(ik);
      this.idemTime.removeSync(key);
    }
    return keys.length === SWEEP_BUDGET;
  }

  /**
   * The write the health probe makes (at open, then while writes fail): `bytes` under one meta
   * key, committed (so the disk really had the room), then deleted in a second transaction. In
   * 'flush' mode it is also what makes the durable watermark trustworthy: LMDB skips
   * an env sync that its own last commit already covers, and a freshly opened env believes every
   * existing commit is synced; one real write + flush makes that true.
   */
  private async probeWrite(bytes: number): Promise<void> {
    const filler = Buffer.alloc(bytes);
    try {
      await this.env.childTransaction(() => {
        this.meta.putSync(OPENED_KEY, Date.now());
        this.meta.putSync(PROBE_KEY, filler);
      });
      if (this.options.durability === 'flush') await this.env.flushed;
    } catch (error) {
      throw new Error(await commitFailureReason(error), { cause: error });
    }
    // The room is there: give it back (a failed delete only leaves the bytes for the next probe).
    await this.env.childTransaction(() => this.meta.removeSync(PROBE_KEY)).catch(() => undefined);
  }

  private headEntry(area: string): HeadEntry | undefined {
    return this.meta.get(headKey(area)) as HeadEntry | undefined;
  }

  private readSync(area: string, from: number, limit: number): { records: LogRecord[]; head: number; first: number } {
    const entry = this.headEntry(area);
    if (!entry) return { records: [], head: 0, first: 1 };
    const [head, first] = entry;
    const start = Number.isNaN(from) ? first : Math.max(first, Math.ceil(from));
    const max = Math.floor(limit);
    const records: LogRecord[] = [];
    if (max <= 0 || start > head) return { records, head, first };
    const range = this.messages.getRange({ start: messageKey(area, start), end: messageKey(area, head + 1), limit: max });
    for (const { key, value } of range) records.push(decodeRecord(key[1], value));
    return { records, head, first };
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineError('log_unavailable', 'the log is closed');
    if (!this.opened) throw new Error('EmbeddedLog used before open()');
  }
}
