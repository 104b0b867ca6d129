/**
 * TEST HELPERS ONLY (engine/areas/area-cursor.*.test.ts, registry.test.ts): an in-memory AreaLog
 * double (manual tail pumping, optionally manual read completion), fake Subscribers (record frames;
 * can refuse writes to simulate backpressure), counting metrics and env(), which opens an
 * AreaCursor on them. Never imported by engine code.
 */
import type { CloseReason } from '../../errors.ts';
import type { AppendRequest, AppendResult, AreaLog, AreaState, LogRecord, TailHandle, TailListener } from '../../log/types.ts';
import { AreaCursor, type AreaSettings } from '../area-cursor.ts';
import { FormatTable, type MessageEncoder, type PayloadView } from '../encoding.ts';
import type { AreaMetrics } from '../metrics.ts';
import { WRITE_DROPPED, WRITE_OK, type Subscriber } from '../subscriber.ts';
import { VirtualCursors } from '../virtual-cursors.ts';

export const AREA = 'city:a';
const T0 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Test doubles
// ---------------------------------------------------------------------------------------------

export class Clock {
  t = T0;
  readonly now = (): number => this.t;
}

interface MemArea {
  head: number;
  /** Retained records, ascending and contiguous. */
  records: LogRecord[];
}

interface MemTail {
  readonly area: string;
  after: number;
  readonly listener: TailListener;
  closed: boolean;
  /** The listener returned a promise that has not settled: nothing more until it does [TailListener]. */
  busy: boolean;
}

/**
 * In-memory AreaLog. Appends are immediate; the tail delivers only when the test calls pump();
 * reads resolve on the next microtask, or (manualReads) only when the test calls releaseRead(),
 * and they see the log as it is at release time.
 */
export class MemLog implements AreaLog {
  readonly kind = 'memory';
  epoch = 'epoch-1';
  manualReads = false;
  /** The next `failReads` reads reject. */
  failReads = 0;
  readCalls = 0;
  private readonly data = new Map<string, MemArea>();
  private readonly tails: MemTail[] = [];
  private readonly pending: Array<() => void> = [];

  constructor(private readonly clock: Clock) {}

  async open(): Promise<void> {}

  private area(id: string): MemArea {
    let a = this.data.get(id);
    if (a === undefined) {
      a = { head: 0, records: [] };
      this.data.set(id, a);
    }
    return a;
  }

  stateNow(area: string): AreaState {
    const a = this.area(area);
    return { epoch: this.epoch, head: a.head, first: a.records[0]?.offset ?? a.head + 1 };
  }

  async state(area: string): Promise<AreaState> {
    return this.stateNow(area);
  }

  appendNow(area: string, opts: { expiresAt?: number; poison?: boolean; origin?: string } = {}): number {
    const a = this.area(area);
    const offset = ++a.head;
    const payload = Buffer.from(opts.poison === true ? '"poison"' : `{"n":${offset}}`);
    const headers = opts.origin === undefined ? undefined : { origin: opts.origin };
    a.records.push({ offset, time: this.clock.t, expiresAt: opts.expiresAt ?? 0, contentType: 'json', payload, ...(headers && { headers }) });
    return offset;
  }

  async append(area: string, req: AppendRequest): Promise<AppendResult> {
    const a = this.area(area);
    const offset = ++a.head;
    a.records.push({ offset, time: req.time, expiresAt: req.expiresAt, contentType: req.contentType, payload: req.payload, ...(req.headers && { headers: req.headers }) });
    return { offset, epoch: this.epoch, duplicate: false };
  }

  read(area: string, from: number, limit: number): Promise<LogRecord[]> {
    this.readCalls++;
    const run = (): LogRecord[] => {
      if (this.failReads > 0) {
        this.failReads--;
        throw new Error('simulated read failure');
      }
      return this.area(area)
        .records.filter((r) => r.offset >= from)
        .slice(0, limit);
    };
    if (!this.manualReads) return Promise.resolve().then(run);
    return new Promise<LogRecord[]>((resolve, reject) => {
      this.pending.push(() => {
        try {
          resolve(run());
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  get pendingReads(): number {
    return this.pending.length;
  }

  /** Completes the oldest pending read; false if none. */
  releaseRead(): boolean {
    const f = this.pending.shift();
    f?.();
    return f !== undefined;
  }

  tail(area: string, after: number, listener: TailListener): TailHandle {
    const t: MemTail = { area, after, listener, closed: false, busy: false };
    this.tails.push(t);
    return {
      close: () => {
        t.closed = true;
      },
    };
  }

  /** A tail whose listener's promise has not settled yet (a sliced fan-out still going on). */
  get busyTails(): boolean {
    return this.tails.some((t) => !t.closed && t.busy);
  }

  get openTails(): number {
    return this.tails.filter((t) => !t.closed).length;
  }

  /** Delivers up to `max` new records per open tail (from the first retained one, as the contract says). */
  pump(max = Number.POSITIVE_INFINITY): void {
    for (const t of this.tails) {
      if (t.closed || t.busy) continue;
      const recs = this.area(t.area)
        .records.filter((r) => r.offset > t.after)
        .slice(0, max);
      if (recs.length === 0) continue;
      t.after = recs[recs.length - 1].offset;
      const wait = t.listener(recs);
      if (wait !== undefined) {
        t.busy = true;
        void wait.finally(() => {
          t.busy = false;
        });
      }
    }
  }

  /** Retention: drops every record below `first`. */
  trimTo(area: string, first: number): void {
    const a = this.area(area);
    a.records = a.records.filter((r) => r.offset >= first);
  }

  async areas(): Promise<string[]> {
    return [...this.data.keys()];
  }

  healthy(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}

/** Frames are `${tag}|${area}|${offset}`, so a subscriber can check it got its own format. */
const TAGS = ['J', 'M'] as const;
function testEncoder(tag: string): MessageEncoder {
  return {
    name: `test-${tag}`,
    encode(area: string, r: LogRecord, payload: PayloadView): Uint8Array {
      if (payload.jsonText() === '"poison"') throw new Error('undecodable payload');
      return Buffer.from(`${tag}|${area}|${r.offset}`);
    },
  };
}

export function makeFormats(): FormatTable {
  const t = new FormatTable();
  for (const tag of TAGS) t.add(testEncoder(tag));
  return t;
}

let nextSubId = 1;

export class FakeSub implements Subscriber {
  readonly id = nextSubId++;
  paused = false;
  closed = false;
  /** While true, write() refuses (the socket is over its budget). */
  dropping = false;
  /** Set by the test once the cursor forgot this subscriber. */
  detached = false;
  readonly offsets: number[] = [];
  closeReason: CloseReason | undefined;
  closeDetail = '';
  /** Contract violations seen: writes to a closed or detached subscriber, wrong format or area. */
  readonly violations: string[] = [];

  constructor(
    readonly format: number,
    private readonly onClose?: (s: FakeSub) => void,
  ) {}

  /** No Local: records with this origin must never be written (the cursor still passes them). */
  skipOrigin: string | undefined = undefined;

  write(frame: Uint8Array, offset: number): number {
    if (this.closed) this.violations.push(`write after close: ${Buffer.from(frame).toString()}`);
    if (this.detached) this.violations.push(`write after detach: ${Buffer.from(frame).toString()}`);
    if (this.dropping || this.closed) return WRITE_DROPPED;
    const [tag, area, off] = Buffer.from(frame).toString().split('|');
    if (tag !== TAGS[this.format]) this.violations.push(`format ${this.format} got a ${tag} frame`);
    if (area !== AREA) this.violations.push(`frame of area ${area}`);
    if (Number(off) !== offset) this.violations.push(`frame of offset ${off} written as offset ${offset}`);
    this.offsets.push(Number(off));
    return WRITE_OK;
  }

  bufferedAmount(): number {
    return 0;
  }

  close(reason: CloseReason, detail: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.closeDetail = detail;
    this.onClose?.(this);
  }

  get last(): number | undefined {
    return this.offsets[this.offsets.length - 1];
  }
}

export type Counts = Record<'delivered' | 'replayed' | 'resent' | 'logReads' | 'slowConsumerCloses' | 'ackTimeoutCloses' | 'undeliverable' | 'fanoutSlices', number>;

export function countingMetrics(): { counts: Counts; metrics: AreaMetrics } {
  const counts: Counts = { delivered: 0, replayed: 0, resent: 0, logReads: 0, slowConsumerCloses: 0, ackTimeoutCloses: 0, undeliverable: 0, fanoutSlices: 0 };
  const c = (k: keyof Counts) => ({
    inc: (v = 1) => {
      counts[k] += v;
    },
  });
  return {
    counts,
    metrics: {
      delivered: c('delivered'),
      replayed: c('replayed'),
      resent: c('resent'),
      logReads: c('logReads'),
      slowConsumerCloses: c('slowConsumerCloses'),
      ackTimeoutCloses: c('ackTimeoutCloses'),
      undeliverable: c('undeliverable'),
      fanoutSlices: c('fanoutSlices'),
      fanoutSeconds: { observe() {} },
    },
  };
}

/** Lets every queued microtask (read completions and the catch-ups they chain) run. */
export const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

export const DEFAULTS: AreaSettings = { ringSize: 64, resendAfterMs: 1000, maxResends: 3, replayBatch: 100 };

export interface Env {
  clock: Clock;
  log: MemLog;
  vc: VirtualCursors;
  cursor: AreaCursor;
  counts: Counts;
  errors: string[];
  /** Attaches and starts a subscriber that has everything up to `start`. */
  sub(start: number, format?: number): { sub: FakeSub; slot: number };
  /** Appends n records and lets the tail deliver them. */
  publish(n: number, opts?: { expiresAt?: number; poison?: boolean; origin?: string }): void;
}

export async function env(settings: Partial<AreaSettings> = {}, preload = 0): Promise<Env> {
  const clock = new Clock();
  const log = new MemLog(clock);
  for (let i = 0; i < preload; i++) log.appendNow(AREA);
  const vc = new VirtualCursors(4);
  const { counts, metrics } = countingMetrics();
  const errors: string[] = [];
  const cursor = new AreaCursor(AREA, {
    log,
    formats: makeFormats(),
    cursors: vc,
    metrics,
    settings: { ...DEFAULTS, ...settings },
    now: clock.now,
    onError: (_area, what) => errors.push(what),
  });
  await cursor.open();
  return {
    clock,
    log,
    vc,
    cursor,
    counts,
    errors,
    sub(start, format = 0) {
      const sub = new FakeSub(format);
      const slot = cursor.attach(sub, start);
      cursor.start(slot, sub);
      return { sub, slot };
    },
    publish(n, opts = {}) {
      for (let i = 0; i < n; i++) log.appendNow(AREA, opts);
      log.pump();
    },
  };
}
