/**
 * TEST HELPERS ONLY (fuzz suites): one in-process engine per fuzz file with small limits, and the
 * invariants every fuzz case is checked against besides its own answer:
 *   - the engine is alive (GET /healthz 200);
 *   - other connections are unaffected: a WebSocket vehicle and an MQTT 5 subscriber on an area
 *     no fuzz input writes to keep receiving every marker, in order, with no gap and no close;
 *   - nothing is stored that was not published: `StoreWatch` reads the log itself (the bytes and
 *     content type the engine keeps) and compares with what the suite knows was accepted.
 */
import fc from 'fast-check';
import { unpack } from 'msgpackr';
import { expect } from 'vitest';
import type { LogRecord } from '../../log/types.ts';
import { http, publishOk, range, startTestEngine, until, type TestEngine, type Vehicle } from '../../testing/harness.ts';
import { mqttConnect, type TestMqtt } from '../mqtt-support.ts';

/**
 * Small limits so size refusals are reachable by small mutations; rate limits high enough not to
 * mask everything else (a case sends at most a handful of frames). `commit` durability: hundreds
 * of publishes per file, and what is checked here is what is stored, not when it was fsynced.
 */
export const FUZZ_MAX_FRAME = 1024;
export const FUZZ_MAX_PAYLOAD = 2048;
export const FUZZ_MAX_SUBSCRIPTIONS = 4;
export const FUZZ_FLAGS = [
  '--max-client-frame-bytes', String(FUZZ_MAX_FRAME),
  '--max-payload-bytes', String(FUZZ_MAX_PAYLOAD),
  '--max-subscriptions', String(FUZZ_MAX_SUBSCRIPTIONS),
  '--max-frames-per-second', '1000',
  // Hundreds of connects from one address in seconds is the point here, not flapping.
  '--flapping-max-connects', '0',
  '--durability', 'commit',
];

/** The observers' area: no generator names it, so only markers land there. */
export const OBSERVED = 'obs:fuzz-observer';

/** Fixed seed for every fuzz property (issue 13), so a CI failure replays exactly. */
export const SEED = 13;

export interface FuzzEnv {
  readonly t: TestEngine;
  readonly ws: Vehicle;
  readonly mqtt: TestMqtt;
  readonly store: StoreWatch;
  /** GET /healthz answers 200. */
  checkAlive(): Promise<void>;
  /** Publishes a marker; both observers must have every offset of their area, in order, still connected. */
  checkObservers(): Promise<void>;
  stop(): Promise<void>;
}

export async function startFuzzEnv(extraFlags: string[] = []): Promise<FuzzEnv> {
  const t = await startTestEngine([...FUZZ_FLAGS, ...extraFlags]);
  const ws = await t.connect({ protocol: 'v1.msgpack' });
  await ws.subscribe(OBSERVED);
  const mqtt = await mqttConnect(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 5, clientId: 'fuzz-observer', clean: true });
  await mqtt.client.subscribeAsync(`areas/${OBSERVED}`, { qos: 1 });
  const store = new StoreWatch(t);
  let markers = 0;
  return {
    t,
    ws,
    mqtt,
    store,
    async checkAlive() {
      const r = await http(t.base, '/healthz');
      expect(r.status, 'GET /healthz').toBe(200);
    },
    async checkObservers() {
      const { offset } = await publishOk(t.base, OBSERVED, { marker: ++markers });
      store.known(OBSERVED, offset);
      await ws.waitOffset(OBSERVED, offset);
      expect(ws.closeInfo, 'observer vehicle closed').toBeUndefined();
      expect(ws.offsets(OBSERVED), 'observer vehicle: every offset, in order').toEqual(range(1, offset));
      const mqttOffsets = (): number[] =>
        mqtt.received.filter((r) => r.topic === `areas/${OBSERVED}`).map((r) => Number(r.packet.properties?.userProperties?.offset));
      await until(`MQTT observer at offset ${offset}`, () => mqttOffsets().includes(offset));
      expect(mqtt.client.connected, 'MQTT observer still connected').toBe(true);
      expect(mqttOffsets(), 'MQTT observer: every offset, in order').toEqual(range(1, offset));
    },
    async stop() {
      await mqtt.end(true).catch(() => undefined);
      await t.stop();
    },
  };
}

/**
 * The log as the engine stored it, compared with what the suite knows was published. Records the
 * suite accounts for are `known` (area, offset); at a check, every other record is an error.
 */
export class StoreWatch {
  private readonly accounted = new Map<string, Set<number>>();
  constructor(private readonly t: TestEngine) {}

  known(area: string, offset: number): void {
    let s = this.accounted.get(area);
    if (s === undefined) this.accounted.set(area, (s = new Set()));
    s.add(offset);
  }

  isKnown(area: string, offset: number): boolean {
    return this.accounted.get(area)?.has(offset) === true;
  }

  /** Head of every area that has (had) records. */
  async heads(): Promise<Map<string, number>> {
    const log = this.t.engine.log;
    const out = new Map<string, number>();
    for (const area of await log.areas()) out.set(area, (await log.state(area)).head);
    return out;
  }

  async head(area: string): Promise<number> {
    return (await this.t.engine.log.state(area)).head;
  }

  /** Every record with offset > `after` (all retained ones with the default). */
  async records(area: string, after = 0): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    for (let from = after + 1; ; ) {
      const page = await this.t.engine.log.read(area, from, 1000);
      out.push(...page);
      if (page.length < 1000) return out;
      from = page[page.length - 1].offset + 1;
    }
  }

  /** Areas whose head moved since `before` (new areas included), with the records that are new. */
  async changedSince(before: ReadonlyMap<string, number>): Promise<Map<string, LogRecord[]>> {
    const out = new Map<string, LogRecord[]>();
    for (const [area, head] of await this.heads()) {
      const was = before.get(area) ?? 0;
      if (head !== was) out.set(area, await this.records(area, was));
    }
    return out;
  }

  /** Every record in the store is accounted for (`known`). */
  async expectAllKnown(): Promise<void> {
    for (const [area] of await this.heads()) {
      const unknown = (await this.records(area)).filter((r) => !this.isKnown(area, r.offset));
      expect(unknown.map((r) => `${area}@${r.offset}: ${Buffer.from(r.payload).toString('hex').slice(0, 80)}`), 'records nobody published').toEqual([]);
    }
  }
}

/** Sum of a metric's samples (optionally only those with these labels), read from the engine's registry. */
export async function sample(t: TestEngine, name: string, labels: Record<string, string> = {}): Promise<number> {
  // The registry directly, not GET /metrics: hundreds of cases, and the text scrape costs more than a case.
  const m = t.engine.metrics.registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const { values } = await m.get();
  let sum = 0;
  for (const v of values) {
    if (Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)) sum += v.value;
  }
  return sum;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A stored record is what its content type says (README: JSON and msgpack bodies are validated),
 * so every vehicle format can carry exactly its bytes.
 */
export function expectCarriable(area: string, r: LogRecord): void {
  const what = `${area}@${r.offset} stored as ${r.contentType}: ${Buffer.from(r.payload).toString('hex').slice(0, 120)}`;
  if (r.contentType === 'json') expect(() => JSON.parse(strictUtf8.decode(r.payload)), what).not.toThrow();
  if (r.contentType === 'msgpack') expect(() => unpack(r.payload), what).not.toThrow();
}

/**
 * The fuzz property every target runs: `numRuns` cases of `arb` from SEED, each through `check`
 * (which asserts the per-case invariants), the observers checked every 25 cases and at the end,
 * and every stored record accounted for. Bounded: interrupted (as a failure) after 120 s.
 */
export async function fuzzAll<C>(env: FuzzEnv, arb: fc.Arbitrary<C>, numRuns: number, check: (c: C) => Promise<unknown>): Promise<void> {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (c) => {
      await check(c);
      if (++n % 25 === 0) await env.checkObservers();
    }),
    { seed: SEED, numRuns, plugins: [fc.interruptAfterTimeLimit(120_000, { failOnInterrupt: true })] },
  );
  await env.checkObservers();
  await env.store.expectAllKnown();
}
