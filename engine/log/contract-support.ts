/**
 * Shared pieces of the log contract suite (./contract.ts): the factory shape an implementation
 * provides, a manual clock, and helpers used by the test sections.
 */
import { afterEach, beforeEach } from 'vitest';
import type { AppendRequest, AreaLog, LogRecord, RetentionPolicy, TailHandle } from './types.ts';

export interface LogTestOptions {
  /** Default: unlimited ({ maxCount: 0, maxAgeMs: 0 }). */
  readonly retention?: RetentionPolicy;
  /** Default: one day. */
  readonly idempotencyTtlMs?: number;
}

/** The time the log under test sees (retention by age). Tests stamp AppendRequest.time with now(). */
export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

/** One store, fresh for one test. */
export interface LogUnderTest {
  readonly clock: TestClock;
  /** A new, not yet opened log on this (fresh, empty) store. Called once per test, first. */
  create(options?: LogTestOptions): Promise<AreaLog>;
  /** A new, not yet opened log on the same store (the suite closes the previous instance first). */
  recreate(options?: LogTestOptions): Promise<AreaLog>;
  /** Applies the log's retention policy now; resolves once state/read/tail reflect it. */
  applyRetention(log: AreaLog): Promise<void>;
  /** Removes the store (after the suite closed every log it opened). */
  cleanup(): Promise<void>;
}

/** Called once per test: must return a harness on a fresh place (new dir, new topic namespace...). */
export type LogFactory = () => LogUnderTest | Promise<LogUnderTest>;

export class ManualClock implements TestClock {
  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface ContractContext {
  readonly harness: LogUnderTest;
  /** create() + open(); closed automatically after the test. */
  open(options?: LogTestOptions): Promise<AreaLog>;
  /** Closes `log`, then recreate() + open(). */
  reopen(log: AreaLog, options?: LogTestOptions): Promise<AreaLog>;
  /** A request with payload `text`, stamped with the clock's now. */
  req(text: string, extra?: Partial<AppendRequest>): AppendRequest;
}

/** Registers beforeEach/afterEach; the returned context is valid inside tests. */
export function useContractContext(factory: LogFactory): ContractContext {
  let harness: LogUnderTest | undefined;
  let logs: AreaLog[] = [];
  beforeEach(async () => {
    harness = await factory();
    logs = [];
  });
  afterEach(async () => {
    for (const log of logs) await log.close().catch(() => {});
    await harness?.cleanup();
    harness = undefined;
  });
  const h = (): LogUnderTest => {
    if (!harness) throw new Error('contract context used outside a test');
    return harness;
  };
  return {
    get harness() {
      return h();
    },
    async open(options) {
      const log = await h().create(options);
      logs.push(log);
      await log.open();
      return log;
    },
    async reopen(log, options) {
      await log.close();
      const next = await h().recreate(options);
      logs.push(next);
      await next.open();
      return next;
    },
    req(text, extra = {}) {
      return { payload: Buffer.from(text), contentType: 'binary', time: h().clock.now(), expiresAt: 0, ...extra };
    },
  };
}

export function text(record: LogRecord): string {
  return Buffer.from(record.payload).toString();
}

export function offsets(records: readonly LogRecord[]): number[] {
  return records.map((r) => r.offset);
}

export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A tail that records what it got and checks the listener contract on every call. */
export interface Collected {
  readonly records: LogRecord[];
  readonly batches: number;
  /** Violations seen (concurrent call, empty batch, out of order / duplicate offsets). */
  readonly problems: string[];
  readonly handle: TailHandle;
  /** Resolves once a record with offset >= `offset` arrived. */
  reach(offset: number, timeoutMs?: number): Promise<void>;
}

export function collect(log: AreaLog, area: string, after: number): Collected {
  const records: LogRecord[] = [];
  const problems: string[] = [];
  let inside = false;
  let batches = 0;
  const handle = log.tail(area, after, (batch) => {
    if (inside) problems.push('listener called concurrently');
    inside = true;
    batches++;
    if (batch.length === 0) problems.push('empty batch');
    for (const r of batch) {
      const last = records.length > 0 ? records[records.length - 1]!.offset : after;
      if (r.offset <= last) problems.push(`offset ${r.offset} after ${last}`);
      records.push(r);
    }
    inside = false;
  });
  return {
    records,
    problems,
    handle,
    get batches() {
      return batches;
    },
    reach: (offset, timeoutMs) =>
      waitUntil(
        () => records.length > 0 && records[records.length - 1]!.offset >= offset,
        `tail of ${area} to reach ${offset}`,
        timeoutMs,
      ),
  };
}
