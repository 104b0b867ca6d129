/**
 * What one process knows about one area's numbered records: head, the logical first retained
 * offset, the newest records (cache), a sparse index offset -> position (to replay older ranges
 * from Pulsar), and the per-record decisions that are not visible in a record alone:
 *
 * - idempotency: a data message whose Idempotency-Key was used by an earlier record of the area
 *   within the TTL (by record time) is a duplicate;
 * - producer retries: an engine message whose (producer name, abe-seq) is not above the highest
 *   seen for that producer is a resend of one already numbered (what broker deduplication would
 *   have dropped);
 * - dead letters: undecodable messages.
 *
 * Such a record keeps its offset (offsets only count messages, so every reader agrees on them
 * whatever it decides about content) but is a tombstone: expired, empty, never delivered.
 */
import type { MessageId } from './client-api.ts';
import type { LogRecord, RetentionPolicy } from '../types.ts';
import type { DataMessage } from './codec.ts';

export interface IndexEntry {
  readonly offset: number;
  /** Key of the data message with this offset (a replay checks it received exactly that). */
  readonly key: string;
  /** Start a reader here (exclusive) to receive that message first; undefined = earliest. */
  readonly startAfter: MessageId | undefined;
  /** The record's time (lets the age-retention walk skip old stretches without reading them). */
  readonly time: number;
}

export interface Classified {
  readonly record: LogRecord;
  /** Never delivered: a duplicate, a resend or a dead letter. */
  readonly tombstone: boolean;
  /** Offset of the earlier record with the same Idempotency-Key. */
  readonly duplicateOf?: number;
  /** A producer resend of a message already numbered. */
  readonly resend?: boolean;
}

const EMPTY = new Uint8Array(0);

export function tombstone(offset: number, time: number): LogRecord {
  return { offset, time, expiresAt: 1, contentType: 'binary', payload: EMPTY };
}

export class AreaWindow {
  /** Offset of the newest numbered record (0 = none). */
  head = 0;
  /** Oldest offset this process still serves (logical retention; head + 1 when none). */
  first = 1;
  private cache: LogRecord[] = [];
  private readonly index: IndexEntry[] = [];
  private readonly tombstones = new Set<number>();
  private readonly idem = new Map<string, { offset: number; time: number }>();
  private readonly highWater = new Map<string, { seq: number; time: number }>();
  /** Still walking the front by age as records arrive (the initial read of the topic). */
  private frontScan = true;

  constructor(
    private readonly cacheRecords: number,
    private readonly indexEvery: number,
    private readonly idempotencyTtlMs: number,
    private readonly retention: RetentionPolicy,
    private readonly now: () => number,
  ) {}

  get empty(): boolean {
    return this.head === 0;
  }

  /** Decides what the data message numbered `offset` is (call once per offset, in order). */
  classify(offset: number, m: DataMessage): Classified {
    if (m.deadLetter !== undefined) return { record: tombstone(offset, m.time), tombstone: true };
    if (m.seq !== undefined) {
      const hw = this.highWater.get(m.producer);
      if (hw && m.seq <= hw.seq) return { record: tombstone(offset, m.time), tombstone: true, resend: true };
      this.highWater.set(m.producer, { seq: m.seq, time: m.time });
    }
    if (m.idempotencyKey !== undefined) {
      const prev = this.idem.get(m.idempotencyKey);
      const ttl = this.idempotencyTtlMs;
      if (prev && (ttl <= 0 || m.time - prev.time <= ttl)) return { record: tombstone(offset, m.time), tombstone: true, duplicateOf: prev.offset };
      this.idem.set(m.idempotencyKey, { offset, time: m.time });
    }
    return { record: { offset, time: m.time, expiresAt: m.expiresAt, contentType: m.contentType, payload: m.payload, ...(m.headers !== undefined && { headers: m.headers }) }, tombstone: false };
  }

  /** Appends the record numbered head + 1 (or the first one this process numbers). */
  add(record: LogRecord, key: string, startAfter: MessageId | undefined, isTombstone: boolean): void {
    if (this.head !== 0 && record.offset !== this.head + 1) throw new Error(`area window: offset ${record.offset} after ${this.head}`);
    if (this.head === 0) {
      this.first = record.offset;
      this.cache = [];
    }
    if (this.head === 0 || record.offset % this.indexEvery === 0) this.index.push({ offset: record.offset, key, startAfter, time: record.time });
    if (isTombstone) this.tombstones.add(record.offset);
    this.head = record.offset;
    this.cache.push(record);
    // trimmed in chunks (a quarter of the size), so the front is not shifted on every record
    if (this.cache.length > this.cacheRecords + (this.cacheRecords >> 2)) this.cache.splice(0, this.cache.length - this.cacheRecords);
    const { maxCount, maxAgeMs } = this.retention;
    if (maxCount > 0) this.advanceFirst(this.head - maxCount + 1);
    if (maxAgeMs > 0 && this.frontScan && record.offset === this.first) {
      if (record.time < this.now() - maxAgeMs) this.advanceFirst(record.offset + 1);
      else this.frontScan = false;
    }
  }

  /** The first indexed offset above `offset` (the age walk jumps by these). */
  indexAfter(offset: number): IndexEntry | undefined {
    return this.index.find((e) => e.offset > offset);
  }

  /** First offset held in memory (head + 1 when nothing is). */
  get cacheStart(): number {
    return this.cache.length > 0 ? this.cache[0]!.offset : this.head + 1;
  }

  /** Records from `from` (>= cacheStart) up to `limit`, from memory. */
  slice(from: number, limit: number): LogRecord[] {
    const start = from - this.cacheStart;
    return this.cache.slice(Math.max(0, start), Math.max(0, start) + limit);
  }

  recordAt(offset: number): LogRecord | undefined {
    return offset >= this.cacheStart ? this.cache[offset - this.cacheStart] : undefined;
  }

  /** The replay starting point for `offset`: the largest indexed offset <= it. */
  indexFloor(offset: number): IndexEntry | undefined {
    let found: IndexEntry | undefined;
    for (const e of this.index) {
      if (e.offset > offset) break;
      found = e;
    }
    return found;
  }

  isTombstone(offset: number): boolean {
    return this.tombstones.has(offset);
  }

  idempotent(key: string, now: number): number | undefined {
    const prev = this.idem.get(key);
    if (!prev) return undefined;
    const ttl = this.idempotencyTtlMs;
    return ttl <= 0 || now - prev.time <= ttl ? prev.offset : undefined;
  }

  /** Moves the logical first forward (never back) and forgets what is below it. */
  advanceFirst(first: number): void {
    const f = Math.min(first, this.head + 1);
    if (f <= this.first) return;
    this.first = f;
    if (this.cache.length > 0 && this.cache[0]!.offset < f) this.cache.splice(0, Math.min(this.cache.length, f - this.cache[0]!.offset));
    while (this.index.length > 1 && this.index[1]!.offset <= f) this.index.shift();
    for (const o of this.tombstones) if (o < f) this.tombstones.delete(o);
  }

  /** Forgets idempotency keys and producer high-water marks older than the TTL. */
  expire(now: number): void {
    const ttl = this.idempotencyTtlMs;
    if (ttl <= 0) return;
    for (const [k, v] of this.idem) if (now - v.time > ttl) this.idem.delete(k);
    for (const [k, v] of this.highWater) if (now - v.time > ttl) this.highWater.delete(k);
  }
}
