/**
 * TEST HELPERS ONLY: engine child processes (`node --import tsx engine/main.ts`) for the kill -9
 * and SIGTERM suites.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '../..');
export const HOST = '127.0.0.1';

export interface ChildEngine {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly base: string;
  readonly wsUrl: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the child wrote to stdout/stderr so far (for failure messages). */
  output(): string;
}

export interface SpawnOptions {
  /** Listen address (default 127.0.0.1); anything else needs an auth key among the flags. */
  readonly host?: string;
  /** Run inside this network namespace (`ip netns exec`, which execs: the pid is the engine's). */
  readonly netns?: string;
}

/** Spawns `node --import tsx engine/main.ts --port 0 --data-dir <dir> --log-level info` and waits for 'engine listening'. */
export async function spawnEngine(dir: string, flags: string[] = [], opts: SpawnOptions = {}): Promise<ChildEngine> {
  const host = opts.host ?? HOST;
  const node = [process.execPath, '--import', 'tsx', 'engine/main.ts', '--host', host, '--port', '0', '--mqtt-port', '0', '--data-dir', dir, '--log-level', 'info', ...flags];
  const [cmd, ...args] = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...node] : node;
  const proc = spawn(cmd!, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: '', HOST: '', DATA_DIR: '', LOG_LEVEL: '', WORKERS: '1' }, // one process unless a test passes --workers
  });
  let out = '';
  let pending = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`child engine did not start in time:\n${out}`)), 20_000);
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      out += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (typeof j.msg === 'string' && j.msg.startsWith('engine listening') && typeof j.port === 'number') {
            clearTimeout(timer);
            resolvePort(j.port);
          }
        } catch {
          /* not a log line */
        }
      }
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => (out += chunk));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`child engine exited (code ${code}, signal ${signal}) before listening:\n${out}`));
    });
  });
  return {
    proc,
    port,
    base: `http://${host}:${port}`,
    wsUrl: `ws://${host}:${port}/v1/ws`,
    exited,
    output: () => out,
  };
}

/**
 * What a suite spawned, for its afterEach: push child engines to `children` and temp data dirs to
 * `dirs`; `cleanup()` SIGKILLs the children still running, waits for them to exit, then removes
 * the dirs. Usage: `const { children, dirs, cleanup } = trackChildEngines(); afterEach(cleanup);`
 */
export function trackChildEngines(): { children: ChildEngine[]; dirs: string[]; cleanup: () => Promise<void> } {
  const children: ChildEngine[] = [];
  const dirs: string[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of children.splice(0)) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
      await c.exited;
    }
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  };
  return { children, dirs, cleanup };
}
