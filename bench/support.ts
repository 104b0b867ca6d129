/**
 * Shared pieces of the micro-benchmarks: result rows, turning a tinybench run into rows, an
 * in-process sink Subscriber, a minimal AreaLog, and realistic alert payloads.
 */
import type { Bench, Task } from 'tinybench';
import type { CloseReason } from '../engine/errors.ts';
import { WRITE_OK, type Subscriber } from '../engine/areas/subscriber.ts';
import type { AppendRequest, AppendResult, AreaLog, AreaState, LogRecord, TailHandle, TailListener } from '../engine/log/types.ts';

export interface ResultRow {
  readonly suite: string;
  readonly task: string;
  /** Task iterations per second: 1000 / meanMs. */
  readonly hz: number;
  /** Relative margin of error (95%) of the mean, in percent (same for hz). */
  readonly rme: number;
  readonly samples: number;
  /** Mean ms per iteration. */
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Operations inside one iteration (e.g. 100000 acks); hz * opsPerIteration = ops/s. */
  readonly opsPerIteration: number;
}

export interface SuiteOutput {
  readonly rows: ResultRow[];
  /** Extra lines printed under the table (derived figures, ratios). */
  readonly notes: string[];
}

export interface SuiteOptions {
  /** Time budget per task (ms). */
  readonly time: number;
  readonly log: (line: string) => void;
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  run(opts: SuiteOptions): Promise<SuiteOutput>;
}

/** Rows from a finished tinybench run. `perOp` maps a task name to its ops per iteration. */
export function rowsFromBench(suite: string, bench: Bench, perOp: Record<string, number> = {}): ResultRow[] {
  return bench.tasks.map((t) => rowFromTask(suite, t, perOp[t.name] ?? 1));
}

export function rowFromTask(suite: string, t: Task, opsPerIteration = 1): ResultRow {
  const r = t.result;
  if (r.state === 'errored') throw new Error(`${suite}/${t.name} failed: ${r.error.message}`, { cause: r.error });
  if (r.state !== 'completed' && r.state !== 'aborted-with-statistics') throw new Error(`${suite}/${t.name}: no result (${r.state})`);
  // ops/s from the mean latency (not tinybench's mean of per-sample rates, which GC pauses and
  // timer granularity skew upward), so ops/s, mean and "per op" always agree.
  return {
    suite,
    task: t.name,
    hz: r.latency.mean > 0 ? 1000 / r.latency.mean : 0,
    rme: r.latency.rme,
    samples: r.latency.samplesCount,
    meanMs: r.latency.mean,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    opsPerIteration,
  };
}

/** A row from samples measured by hand (ms per iteration). */
export function rowFromSamples(suite: string, task: string, samplesMs: readonly number[], opsPerIteration = 1): ResultRow {
  const s = [...samplesMs].sort((a, b) => a - b);
  const n = s.length;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const rme = n > 1 && mean > 0 ? ((tCritical(n - 1) * sd) / Math.sqrt(n) / mean) * 100 : 0;
  const q = (p: number) => s[Math.max(0, Math.min(n - 1, Math.ceil(p * n) - 1))];
  return { suite, task, hz: mean > 0 ? 1000 / mean : 0, rme, samples: n, meanMs: mean, p50Ms: q(0.5), p99Ms: q(0.99), opsPerIteration };
}

/** Two-sided 95% Student t critical value (coarse table, enough for a margin column). */
function tCritical(df: number): number {
  const table: [number, number][] = [
    [1, 12.706],
    [2, 4.303],
    [3, 3.182],
    [4, 2.776],
    [5, 2.571],
    [10, 2.228],
    [20, 2.086],
    [30, 2.042],
    [60, 2.0],
    [120, 1.98],
  ];
  for (const [d, t] of table) if (df <= d) return t;
  return 1.96;
}

/** An in-process sink: accepts every frame (WRITE_OK) and counts bytes so the work is not optimised away. */
export class SinkSubscriber implements Subscriber {
  paused = false;
  closed = false;
  bytes = 0;
  constructor(readonly format = 0) {}
  write(frame: Uint8Array): number {
    this.bytes += frame.byteLength;
    return WRITE_OK;
  }
  bufferedAmount(): number {
    return 0;
  }
  close(_reason: CloseReason, _detail: string): void {
    this.closed = true;
  }
}

/** A log that holds nothing: enough to open an AreaCursor at a given head. */
export class StaticLog implements AreaLog {
  readonly kind = 'bench';
  constructor(private readonly head: number) {}
  async open(): Promise<void> {}
  async state(_area: string): Promise<AreaState> {
    return { epoch: 'bench', head: this.head, first: 1 };
  }
  async append(_area: string, _req: AppendRequest): Promise<AppendResult> {
    throw new Error('StaticLog is read-only');
  }
  async read(_area: string, _from: number, _limit: number): Promise<LogRecord[]> {
    return [];
  }
  tail(_area: string, _after: number, _listener: TailListener): TailHandle {
    return { close() {} };
  }
  async areas(): Promise<string[]> {
    return [];
  }
  healthy(): boolean {
    return true;
  }
  async close(): Promise<void> {}
}

/**
 * A JSON alert of about `bytes` bytes (UTF-8), shaped like the real thing: a few scalar fields and
 * a list of detections that makes up the bulk.
 */
export function alertPayload(bytes: number): Buffer {
  const base = { kind: 'road_damage', severity: 2, lane: 1, camera: 'cam-0042', at: 1718000000000, detections: [] as unknown[], note: '' };
  for (let i = 0; JSON.stringify(base).length <= bytes; i++) {
    base.detections.push({ i, lat: 35.6812 + i / 1e4, lon: 139.7671 - i / 1e4, conf: 0.93, cls: 'pothole' });
  }
  base.detections.pop();
  base.note = 'x'.repeat(Math.max(0, bytes - JSON.stringify(base).length));
  return Buffer.from(JSON.stringify(base));
}

export function jsonRecord(offset: number, payload: Uint8Array): LogRecord {
  return { offset, time: 1718000000000 + offset, expiresAt: 0, contentType: 'json', payload };
}

export function formatBytes(n: number): string {
  return n >= 1024 ? `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} KB` : `${n} B`;
}
