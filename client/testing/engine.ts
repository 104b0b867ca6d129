/**
 * TEST HELPERS ONLY (not part of the package): a real engine child process for the SDK's tests,
 * restartable on the same port and data dir (kill -9 included), and a publisher that records
 * every acknowledged (201) offset.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnEngine, type ChildEngine } from '../../engine/testing/child-engine.ts';
import { lowFreePort } from '../../engine/testing/ports.ts';

export class TestEngine {
  child!: ChildEngine;
  port = 0;
  private constructor(
    readonly dir: string,
    readonly flags: string[],
  ) {}

  /** On a port below the ephemeral range (engine/testing/ports.ts): it is restarted under reconnecting clients. */
  static async start(flags: string[] = []): Promise<TestEngine> {
    const dir = await mkdtemp(join(tmpdir(), 'abe-sdk-'));
    const e = new TestEngine(dir, flags);
    e.port = await lowFreePort();
    e.child = await spawnEngine(dir, [...flags, '--port', String(e.port)]);
    return e;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/ws`;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** kill -9 (or SIGTERM) and wait for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.proc.exitCode !== null || this.child.proc.signalCode !== null) return;
    this.child.proc.kill(signal);
    await this.child.exited;
  }

  /** Starts again on the same port and data dir (the later --port wins in the engine's parser). */
  async restart(extraFlags: string[] = []): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        this.child = await spawnEngine(this.dir, [...this.flags, ...extraFlags, '--port', String(this.port)]);
        return;
      } catch (err) {
        // the old socket may linger a moment after a kill -9
        if (i >= 20) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  async close(): Promise<void> {
    await this.stop('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface Published {
  readonly area: string;
  readonly offset: number;
  readonly seq: number;
}

/** POSTs JSON messages; `acked` holds every publish the engine answered 201. */
export class Publisher {
  readonly acked: Published[] = [];
  failures = 0;
  constructor(
    private readonly engine: () => TestEngine,
    private readonly token?: string,
  ) {}

  async publish(area: string, body: unknown, seq = 0): Promise<number | undefined> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    try {
      // a bounded wait: a request on a connection to a worker that was just killed must not stall the publisher
      const res = await fetch(`${this.engine().base}/v1/areas/${area}/messages`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
      const j = (await res.json()) as { offset?: number };
      if (res.status !== 201 || typeof j.offset !== 'number') {
        this.failures++;
        return undefined;
      }
      this.acked.push({ area, offset: j.offset, seq });
      return j.offset;
    } catch {
      this.failures++;
      return undefined;
    }
  }

  offsetsOf(area: string): number[] {
    return this.acked.filter((p) => p.area === area).map((p) => p.offset);
  }
}

/** How long the SDK suites wait for a condition (harness until()): reconnects with backoff take seconds. */
export const SDK_WAIT_MS = 15_000;

/** What one SDK client got, per area (a message handler that records). */
export class Recorder {
  readonly got = new Map<string, { offset: number; data: unknown; source: string }[]>();
  readonly handler = (m: { area: string; offset: number; data: unknown; source: string }): void => {
    let list = this.got.get(m.area);
    if (list === undefined) this.got.set(m.area, (list = []));
    list.push({ offset: m.offset, data: m.data, source: m.source });
  };
  offsets(area: string): number[] {
    return (this.got.get(area) ?? []).map((m) => m.offset);
  }
}
