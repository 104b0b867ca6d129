/**
 * The orchestrator's side of the vehicle workers (./vehicle-worker.ts): forking them, their IPC
 * state, waiting for all of them, and small helpers shared by the run.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ParentMessage, WorkerConnected, WorkerInit, WorkerMessage, WorkerProgress, WorkerReport } from './ipc.ts';
import type { CpuTimes } from './proc-stats.ts';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '..');
const WORKER = join(HERE, 'vehicle-worker.ts');

export class WorkerHandle {
  progress: WorkerProgress | undefined;
  connected: WorkerConnected | undefined;
  settled = false;
  ready = false;
  report: WorkerReport | undefined;
  pid: number;
  exited = false;
  private waiters: Array<() => void> = [];
  constructor(
    readonly index: number,
    readonly vehicles: number,
    readonly child: ChildProcess,
    onFatal: (msg: string) => void,
  ) {
    this.pid = child.pid ?? -1;
    child.on('message', (m: WorkerMessage) => {
      switch (m.type) {
        case 'progress':
          this.progress = m;
          break;
        case 'connected':
          this.connected = m;
          break;
        case 'settled':
          this.settled = true;
          break;
        case 'report':
          this.report = m;
          break;
        case 'fatal':
          onFatal(`worker ${this.index}: ${m.message}`);
          break;
        case 'ready':
          this.pid = m.pid;
          this.ready = true;
          break;
      }
      this.wake();
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      if (this.report === undefined) onFatal(`worker ${this.index} exited (code ${code}, signal ${signal}) before its report`);
      this.wake();
    });
  }
  send(m: ParentMessage): void {
    if (!this.exited && this.child.connected) this.child.send(m);
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** Resolves on the next message or exit. */
  next(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
}

/** Forks one vehicle worker and sends it its init. */
export function forkWorker(init: WorkerInit, onFatal: (msg: string) => void): WorkerHandle {
  const execArgv = ['--import', 'tsx', ...(process.env.LOADTEST_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const child = fork(WORKER, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', cwd: REPO });
  const handle = new WorkerHandle(init.workerIndex, init.vehicles, child, onFatal);
  handle.send(init);
  return handle;
}

/** Waits until `done()` holds for every worker, or the deadline; true if it held. */
export async function waitAll(workers: readonly WorkerHandle[], done: (w: WorkerHandle) => boolean, timeoutMs: number, abort: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!workers.every((w) => done(w) || w.exited)) {
    if (abort()) return false;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await Promise.race([...workers.map((w) => w.next()), sleep(Math.min(left, 250))]);
  }
  return workers.every(done);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function httpGet(host: string, port: number, path: string, timeoutMs = 5000, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = http.get({ host, port, path, timeout: timeoutMs, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** The engine's own counters and gauges (abe_*), histogram buckets left out. */
export function parseMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('abe_') || line.includes('_bucket{') || line.includes('heap_space_') || line.includes('_active_')) continue;
    const sp = line.lastIndexOf(' ');
    out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

export const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

/** CPU seconds between two snapshots: user + system, or one of them. */
export function cpuDiff(a: CpuTimes | undefined, b: CpuTimes | undefined, which?: 'user' | 'system'): number | undefined {
  if (a === undefined || b === undefined) return undefined;
  return Math.max(0, round(which === undefined ? a.user + a.system - b.user - b.system : a[which] - b[which], 2)) + 0;
}

/** Which engine code ran: the commit, and engine files changed in the working tree (read-only git). */
export function codeVersion(): { commit: string; uncommittedEngineFiles: string[] } {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const status = git('status', '--porcelain', '--', 'engine');
  return { commit: git('rev-parse', 'HEAD') || 'unknown', uncommittedEngineFiles: status === '' ? [] : status.split('\n').map((l) => l.trim()) };
}

export function log(line: string): void {
  process.stdout.write(`[loadtest] ${line}\n`);
}
