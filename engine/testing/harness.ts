/**
 * TEST HELPERS ONLY (end-to-end suites in engine/e2e): a real engine on 127.0.0.1:0 with a fresh
 * data dir, REST helpers over fetch, /metrics scraping, and (re-exported) the `ws` vehicle client
 * (./vehicle.ts) and child engine processes (./child-engine.ts). Never imported by engine code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { signToken } from '../auth/testing.ts';
import { parseConfig } from '../config.ts';
import type { EngineConfig } from '../config.types.ts';
import type { AreaLog } from '../log/types.ts';
import { ownNamespace } from '../log/pulsar/admin.ts';
import { ENGINE_ROLE, realBroker } from '../log/pulsar/testing/broker.ts';
import { createLogger, type Logger } from '../logger.ts';
import { startEngine, type Engine } from '../server.ts';
import { HOST } from './child-engine.ts';
import { Vehicle, WAIT_MS, type VehicleOptions } from './vehicle.ts';

export * from './child-engine.ts';
export * from './vehicle.ts';

export function tempDir(prefix = 'abe-e2e-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = WAIT_MS, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// In-process engine
// ---------------------------------------------------------------------------------------------

export interface TestEngine {
  readonly engine: Engine;
  readonly port: number;
  /** The bound MQTT/TCP port (MQTT over WebSocket: ws://127.0.0.1:PORT/mqtt). */
  readonly mqttPort: number;
  /** http://127.0.0.1:PORT */
  readonly base: string;
  /** ws://127.0.0.1:PORT/v1/ws */
  readonly wsUrl: string;
  readonly dir: string;
  /** Closes the engine (idempotent), every vehicle opened through `connect`, and removes the dir. */
  stop(): Promise<void>;
  /** A vehicle on this engine; closed by stop(). */
  connect(opts?: VehicleOptions): Promise<Vehicle>;
}

/**
 * The log a test engine runs on: embedded (in its data dir), or with ABE_TEST_LOG=pulsar (the
 * `pulsar` vitest project) the real broker, in a namespace named after the data dir, so an engine
 * restarted on the same dir finds the same store. The namespace goes when the dir goes.
 */
async function logFlags(dir: string): Promise<{ flags: string[]; drop(): Promise<void> }> {
  if (process.env.ABE_TEST_LOG !== 'pulsar') return { flags: [], drop: async () => {} };
  const b = realBroker();
  if (!b) throw new Error('ABE_TEST_LOG=pulsar needs a Pulsar broker (engine/testing/pulsar-setup.ts starts one)');
  const ns = await ownNamespace(b.admin, `public/abe-e2e-${basename(dir).replace(/[^A-Za-z0-9-]/g, '').toLowerCase()}`, ENGINE_ROLE);
  return {
    flags: ['--log', 'pulsar', '--pulsar-client', 'websocket', '--pulsar-web-url', b.webUrl, '--pulsar-token-file', b.engineTokenFile, '--pulsar-namespace', ns.namespace],
    drop: ns.drop,
  };
}

/** Starts the real engine in this process on port 0 with a fresh data dir and extra CLI flags. */
export async function startTestEngine(
  flags: string[] = [],
  opts: { dir?: string; keepDir?: boolean; logger?: Logger; /** The log the engine runs on, built from its config (fault injection wraps the real one). */ log?: (config: EngineConfig) => Promise<AreaLog> } = {},
): Promise<TestEngine> {
  const dir = opts.dir ?? (await tempDir());
  const log = await logFlags(dir);
  const parsed = parseConfig(['--host', HOST, '--port', '0', '--mqtt-port', '0', '--data-dir', dir, '--max-connections', '1000', ...log.flags, ...flags], {});
  if (!('config' in parsed)) throw new Error('parseConfig returned help');
  const engine = await startEngine(parsed.config, opts.logger ?? createLogger('silent'), opts.log ? { log: await opts.log(parsed.config) } : {});
  const base = `http://${HOST}:${engine.port}`;
  const wsUrl = `ws://${HOST}:${engine.port}/v1/ws`;
  const vehicles: Vehicle[] = [];
  let stopped: Promise<void> | undefined;
  return {
    engine,
    port: engine.port,
    mqttPort: engine.mqttPort,
    base,
    wsUrl,
    dir,
    async connect(vopts: VehicleOptions = {}) {
      const v = await Vehicle.connect(wsUrl, vopts);
      vehicles.push(v);
      return v;
    },
    stop() {
      stopped ??= (async () => {
        for (const v of vehicles) v.terminate();
        await engine.close();
        if (opts.keepDir !== true) {
          await rm(dir, { recursive: true, force: true });
          await log.drop();
        }
      })();
      return stopped;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------------------------

export interface HttpAnswer {
  status: number;
  /** Parsed JSON body (any: tests read fields of the answers they asked for). */
  body: any;
  text: string;
}

export async function http(base: string, path: string, init: RequestInit = {}): Promise<HttpAnswer> {
  const res = await fetch(base + path, init);
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, text };
}

export interface PublishOptions {
  contentType?: string;
  idempotencyKey?: string;
  ttlSeconds?: number;
  token?: string;
  headers?: Record<string, string>;
}

/** POST /v1/areas/{area}/messages. `data` is JSON-encoded unless it is a string/Buffer. */
export function publish(base: string, area: string, data: unknown, opts: PublishOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json', ...opts.headers };
  if (opts.idempotencyKey !== undefined) headers['idempotency-key'] = opts.idempotencyKey;
  if (opts.ttlSeconds !== undefined) headers['message-ttl'] = String(opts.ttlSeconds);
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const body = typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data);
  return http(base, `/v1/areas/${encodeURIComponent(area)}/messages`, { method: 'POST', headers, body });
}

/** Publishes and asserts 201; returns the offset. */
export async function publishOk(base: string, area: string, data: unknown, opts: PublishOptions = {}): Promise<{ offset: number; epoch: string; duplicate: boolean }> {
  const r = await publish(base, area, data, opts);
  if (r.status !== 201) throw new Error(`publish to ${area} answered ${r.status}: ${r.text}`);
  return r.body as { offset: number; epoch: string; duplicate: boolean };
}

/** Publishes `{n: i}` for i in [from, from+count) one after another (offsets in order). */
export async function publishSeq(base: string, area: string, count: number, from = 1): Promise<number[]> {
  const offsets: number[] = [];
  for (let i = from; i < from + count; i++) offsets.push((await publishOk(base, area, { n: i })).offset);
  return offsets;
}

/** Fires `count` publishes at once (offsets in whatever order the log serializes them). */
export async function publishConcurrent(base: string, area: string, count: number, payload: (i: number) => unknown = (i) => ({ c: i })): Promise<number[]> {
  const all = await Promise.all(Array.from({ length: count }, (_, i) => publishOk(base, area, payload(i))));
  return all.map((r) => r.offset).sort((a, b) => a - b);
}

/** GET /v1/areas/{area} (epoch, head, first, subscribers). */
export async function areaInfo(base: string, area: string): Promise<{ epoch: string; head: number; first: number; subscribers: number }> {
  const r = await http(base, `/v1/areas/${encodeURIComponent(area)}`);
  if (r.status !== 200) throw new Error(`GET area ${area} answered ${r.status}: ${r.text}`);
  return r.body as { epoch: string; head: number; first: number; subscribers: number };
}

/** Every retained message of an area via GET history, following `next`. */
export async function history(base: string, area: string, pageSize = 1000): Promise<{ offset: number; data: unknown }[]> {
  const out: { offset: number; data: unknown }[] = [];
  let from = 0;
  for (;;) {
    const r = await http(base, `/v1/areas/${encodeURIComponent(area)}/messages?from=${from}&limit=${pageSize}`);
    if (r.status !== 200) throw new Error(`history of ${area} answered ${r.status}: ${r.text}`);
    const page = r.body as { next: number; head: number; messages: { offset: number; data: unknown }[] };
    out.push(...page.messages);
    if (page.messages.length === 0 || page.next > page.head) return out;
    from = page.next;
  }
}

let opsToken: Promise<string> | undefined;

/**
 * A token with the ops right, signed with TEST_HS_SECRET (what every test engine with auth on
 * uses): /metrics and /dashboard/data need one there; engines with auth off ignore it.
 */
export function testOpsToken(): Promise<string> {
  opsToken ??= signToken({ sub: 'test-ops', ops: true, exp: Math.floor(Date.now() / 1000) + 24 * 3600 });
  return opsToken;
}

/** GET /metrics text, with the test ops token. */
export async function scrapeMetrics(base: string): Promise<HttpAnswer> {
  return http(base, '/metrics', { headers: { authorization: `Bearer ${await testOpsToken()}` } });
}

/** One sample of a Prometheus metric from GET /metrics (undefined when absent). */
export async function metric(base: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const r = await scrapeMetrics(base);
  return metricFrom(r.text, name, labels);
}

export function metricFrom(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = new Map<string, string>();
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) got.set(lm[1], lm[2]);
    if (want.every(([k, v]) => got.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Assertions on offset sequences
// ---------------------------------------------------------------------------------------------

/** [from, from+1, ..., to] */
export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** Publishes `count` messages (default `{n}`) with at most `concurrency` in flight; returns the sorted offsets. */
export async function publishBacklog(
  base: string,
  area: string,
  count: number,
  concurrency = 50,
  payload: (i: number) => unknown = (n) => ({ n }),
  onAnswer?: (offset: number) => void,
): Promise<number[]> {
  const offsets: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      const { offset } = await publishOk(base, area, payload(n));
      offsets.push(offset);
      onAnswer?.(offset);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => worker()));
  return offsets.sort((a, b) => a - b);
}

/** A logger whose JSON lines land in `lines` (tests that assert a log line was written). */
export function captureLogs(level: string): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger(level, sink), lines };
}
