/**
 * The engine under test as a child process: `node --import tsx engine/main.ts --workers N` on a
 * fresh data directory and a free port, bound to 127.0.0.1 (or 0.0.0.0 with an auth secret, so
 * that vehicles can reach it on 127.0.0.2, .3, ...); or the bare uWS broadcaster (./bare-uws.ts)
 * with the same number of processes, listening on the swarm's destination addresses. Its JSON log goes to a file and is summarised (counts per
 * level, the warnings and errors) for the report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface EngineLogSummary {
  readonly lines: number;
  readonly byLevel: Readonly<Record<string, number>>;
  /** Warning-or-worse messages with their counts. */
  readonly problems: Readonly<Record<string, number>>;
  /** The first warning-or-worse lines, verbatim (trimmed). */
  readonly samples: readonly string[];
  /** Warning-or-worse messages logged after stop() sent SIGTERM (closing sockets with going_away...). */
  readonly duringShutdown: Readonly<Record<string, number>>;
  /** Non-JSON output (stderr, stack traces). */
  readonly otherOutput: readonly string[];
}

export interface EngineHandle {
  /** The process we started: the engine (the primary with --workers > 1) or the bare broadcaster. */
  readonly pid: number;
  /** It and its worker processes (read from /proc at each call: restarted workers included). */
  pids(): number[];
  /** Where to reach it (always loopback). */
  readonly host: string;
  readonly port: number;
  /** The engine's MQTT listener port (from its start-up line), when it has one. */
  readonly mqttPort?: number;
  readonly dataDir: string;
  readonly logPath: string;
  /** Set once the process has exited, with how. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  logSummary(): EngineLogSummary;
  /** SIGTERM, then SIGKILL after `graceMs`; removes the data directory. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; clean: boolean }>;
  /**
   * Engine-side storm (issue 13): SIGTERM, wait for the exit (clean or not), start again on the same
   * port and data dir. `exit` stays unset throughout: the run goes on. Resolves once it listens.
   */
  restart(): Promise<{ code: number | null; signal: NodeJS.Signals | null; downMs: number }>;
  /** kill -9 of `n` worker processes (all when n is omitted); the primary restarts them. Returns their pids. */
  killWorkers(n?: number): number[];
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export interface StartOptions {
  readonly repoRoot: string;
  /** What to start: the engine (default) or the bare uWS broadcaster (./bare-uws.ts). */
  readonly kind?: 'engine' | 'bare';
  /** Processes sharing the port (engine --workers, bare --workers); default 1. */
  readonly workers?: number;
  /** bare only: the addresses to listen on (the swarm's destinations). */
  readonly hosts?: readonly string[];
  readonly logPath: string;
  /** Interface to bind: 127.0.0.1 (default), or 0.0.0.0 which needs `hsSecret`. */
  readonly bindHost?: string;
  /** HS256 secret, passed in the environment (AUTH_HS_SECRET), not on the command line. */
  readonly hsSecret?: string;
  readonly extraArgs?: readonly string[];
  readonly startTimeoutMs?: number;
}

export async function startEngine(opts: StartOptions): Promise<EngineHandle> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'abe-loadtest-'));
  const host = '127.0.0.1';
  const workers = String(opts.workers ?? 1);
  const args =
    opts.kind === 'bare'
      ? ['--import', 'tsx', 'loadtest/bare-uws.ts', '--port', '0', '--workers', workers, '--hosts', (opts.hosts ?? [host]).join(',')]
      : [...(process.env.LOADTEST_ENGINE_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', 'engine/main.ts', '--host', opts.bindHost ?? host, '--port', '0', '--mqtt-port', '0', '--data-dir', dataDir, '--workers', workers, ...(opts.extraArgs ?? [])];
  const env = { ...process.env, ...(opts.hsSecret !== undefined && { AUTH_HS_SECRET: opts.hsSecret }) };
  let child!: ChildProcess;
  let exited!: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let restarting = false;
  const log = createWriteStream(opts.logPath);
  const byLevel: Record<string, number> = {};
  const problems: Record<string, number> = {};
  const samples: string[] = [];
  const otherOutput: string[] = [];
  const duringShutdown: Record<string, number> = {};
  let stopping = false;
  let lines = 0;
  let resolvePort: (port: number) => void = () => undefined;
  let portPromise = new Promise<number>((resolve) => (resolvePort = resolve));

  const onLine = (line: string): void => {
    lines++;
    log.write(line + '\n');
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (otherOutput.length < 50) otherOutput.push(line.slice(0, 300));
      return;
    }
    const level = LEVELS[Number(rec.level)] ?? String(rec.level);
    byLevel[level] = (byLevel[level] ?? 0) + 1;
    const msg = String(rec.msg ?? '');
    if (Number(rec.level) >= 40) {
      // Group by message and, for closes, the reason: "closing connection (slow_consumer)".
      const key = rec.reason !== undefined ? `${msg} (${String(rec.reason)})` : msg;
      const into = stopping ? duringShutdown : problems;
      into[key] = (into[key] ?? 0) + 1;
      if (!stopping && samples.length < 20) samples.push(line.slice(0, 500));
    }
    if ((msg.startsWith('engine listening') || msg.startsWith('bare uWS broadcaster listening')) && typeof rec.port === 'number') {
      if (typeof rec.mqttPort === 'number') (handle as { mqttPort?: number }).mqttPort = rec.mqttPort;
      resolvePort(rec.port);
    }
  };
  const launch = (launchArgs: readonly string[]): void => {
    child = spawn(process.execPath, launchArgs, { cwd: opts.repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env });
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', (l) => onLine(l));
    const mine = child;
    exited = new Promise((resolve) => {
      mine.on('exit', (code, signal) => {
        if (!restarting) handle.exit = { code, signal };
        resolve({ code, signal });
      });
    });
  };

  const handle: EngineHandle = {
    get pid() {
      return child.pid ?? -1;
    },
    pids: () => processTree(child.pid ?? -1),
    host,
    port: 0,
    dataDir,
    logPath: opts.logPath,
    exit: undefined,
    logSummary: () => ({ lines, byLevel: { ...byLevel }, problems: { ...problems }, samples: [...samples], duringShutdown: { ...duringShutdown }, otherOutput: [...otherOutput] }),
    stop: async (graceMs = 10_000) => {
      const removeData = (): void => rmSync(dataDir, { recursive: true, force: true });
      if (handle.exit !== undefined) {
        removeData();
        return { ...handle.exit, clean: false };
      }
      stopping = true;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(killer);
      await new Promise<void>((resolve) => log.end(resolve));
      removeData();
      return { ...r, clean: r.code === 0 };
    },
    restart: async () => {
      restarting = true;
      const downAt = performance.now();
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const r = await exited;
      clearTimeout(killer);
      portPromise = new Promise<number>((resolve) => (resolvePort = resolve));
      // Same HTTP and MQTT ports: vehicles come back where they were.
      const again = args.map((a, i) => (args[i - 1] === '--port' ? String(handle.port) : args[i - 1] === '--mqtt-port' && handle.mqttPort !== undefined ? String(handle.mqttPort) : a));
      launch(again);
      await portPromise;
      restarting = false;
      return { ...r, downMs: performance.now() - downAt };
    },
    killWorkers: (n) => {
      const workers = processTree(child.pid ?? -1).filter((p) => p !== child.pid);
      const victims = workers.slice(0, n ?? workers.length);
      for (const p of victims) process.kill(p, 'SIGKILL');
      return victims;
    },
  };
  launch(args);

  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const port = await Promise.race([
    portPromise,
    exited.then((r) => {
      throw new Error(`engine exited before listening (code ${r.code}, signal ${r.signal}); log: ${opts.logPath}\n${otherOutput.slice(0, 10).join('\n')}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`engine did not log "engine listening" within ${timeoutMs} ms; log: ${opts.logPath}`)), timeoutMs);
    }),
  ]).catch((err: unknown) => {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  clearTimeout(timer);
  (handle as { port: number }).port = port;
  return handle;
}

/** `pid` and its descendants (/proc/<pid>/task/<tid>/children), e.g. the engine's primary and workers. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    if (p <= 0 || out.includes(p)) return;
    out.push(p);
    try {
      for (const c of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/)) if (c !== '') visit(Number(c));
    } catch {
      // gone, or no children file
    }
  };
  visit(pid);
  return out;
}
