/** Test helpers for the embedded log: temp-dir harness for the contract suite, child processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock, type LogFactory, type LogTestOptions } from '../contract-support.ts';
import { EmbeddedLog, type EmbeddedLogOptions } from '../embedded.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '../../..');
export const APPEND_CHILD = join(here, 'append-child.ts');

export function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'embedded-log-'));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

export function embeddedOptions(dir: string, extra: Partial<EmbeddedLogOptions> = {}): EmbeddedLogOptions {
  return {
    dir,
    retention: { maxCount: 0, maxAgeMs: 0 },
    idempotencyTtlMs: 86_400_000,
    durability: 'flush',
    tailPollMs: 20,
    retentionSweepMs: 0,
    ...extra,
  };
}

export function embeddedFactory(durability: 'flush' | 'commit'): LogFactory {
  return async () => {
    const dir = await tempDir();
    const clock = new ManualClock();
    const make = async (o: LogTestOptions = {}) =>
      new EmbeddedLog(
        embeddedOptions(dir, {
          durability,
          now: () => clock.now(),
          ...(o.retention ? { retention: o.retention } : {}),
          ...(o.idempotencyTtlMs !== undefined ? { idempotencyTtlMs: o.idempotencyTtlMs } : {}),
        }),
      );
    return {
      clock,
      create: make,
      recreate: make,
      applyRetention: (log) => (log as EmbeddedLog).sweep(),
      cleanup: () => removeDir(dir),
    };
  };
}

export interface Ack {
  offset: number;
  seq: number;
}

export interface AppendChild {
  readonly proc: ChildProcess;
  readonly acks: Ack[];
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Spawns ./append-child.ts (count 0 = forever). */
export function spawnAppender(dir: string, area: string, count: number, inflight: number, durability: 'flush' | 'commit'): AppendChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', APPEND_CHILD, dir, area, String(count), String(inflight), durability], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acks: Ack[] = [];
  let err = '';
  let pending = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'ready') onReady();
      const m = /^ack (\d+) (\d+)$/.exec(line);
      if (m) acks.push({ offset: Number(m[1]), seq: Number(m[2]) });
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => r({ code, signal })),
  );
  return { proc, acks, ready: Promise.race([ready, exited.then(() => Promise.reject(new Error(`child exited early: ${err}`)))]), exited, stderr: () => err };
}
