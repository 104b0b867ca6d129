/**
 * Load-test scenarios: OpenMessaging-Benchmark-shaped workload files (areas ~ topics,
 * messageSize, producerRate, durationSeconds, warmupSeconds) plus what a vehicle swarm needs
 * (connections, transport, acks). Optional tuning keys have defaults; unknown keys are refused so
 * a typo never silently runs a different test.
 *
 * Issue 6 keys: producerRate "max", engineWorkers, transportMix, reconnectStorm, churnPerSecond,
 * slowReaders, reconnectOnClose (documented on the Scenario interface and in README.md).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * WebSocket v1 (JSON / msgpack; -deflate: offering v1.json+deflate / v1.msgpack+deflate first,
 * the plain subprotocol second) and MQTT 5 at QoS 0 / 1 (the engine's MQTT listener, or any broker).
 */
export const TRANSPORTS = ['ws-json', 'ws-msgpack', 'ws-json-deflate', 'ws-msgpack-deflate', 'mqtt-qos0', 'mqtt-qos1'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export interface Scenario {
  readonly name: string;
  readonly description?: string;
  /** Number of areas (OMB: topics). Vehicles are spread round-robin; the producer round-robins too. */
  readonly areas: number;
  /** Payload bytes per message (the JSON body the publisher POSTs). */
  readonly messageSize: number;
  /**
   * What the payloads are: "padding" (default: a stamp and 'x' padding, makePayload) or "alerts"
   * (realistic road / lane / parking-bay alerts of at most messageSize bytes, ./alerts.ts [issue 16]).
   */
  readonly payload?: 'padding' | 'alerts';
  /**
   * Messages per second over all areas (OMB producerRate), or "max": publish as fast as the
   * vehicles take it (at most `maxInFlightMessages` per area ahead of the slowest normal reader).
   */
  readonly producerRate: number | 'max';
  /** Measured publishing time. */
  readonly durationSeconds: number;
  /** Publishing before the measured window; delivered and checked, but not in the latency stats. */
  readonly warmupSeconds: number;
  /** Vehicles (one socket, one subscription each). */
  readonly connections: number;
  /** Every vehicle's transport, unless `transportMix` splits them. */
  readonly transport: Transport;
  /** Shares of vehicles per transport, e.g. {"ws-json":0.7,"ws-msgpack":0.3}; replaces `transport`. */
  readonly transportMix?: Readonly<Partial<Record<Transport, number>>>;
  /** Each vehicle acks every message it receives. */
  readonly acks: boolean;
  // ---- optional tuning ----
  /** Most vehicles one load-generator process holds (open-file limit 20,000 here). Default 15,000. */
  readonly vehiclesPerWorker?: number;
  /** Connections in flight (connect + upgrade + subscribe) over all workers. Default 512. */
  readonly connectConcurrency?: number;
  /** Give up on connecting after this long. Default 120 s. */
  readonly connectTimeoutSeconds?: number;
  /** After the last publish, wait at most this long for every vehicle to catch up. Default 30 s. */
  readonly settleTimeoutSeconds?: number;
  /** Concurrent REST publishes. Default 32. */
  readonly publishConcurrency?: number;
  /** Engine (or bare broadcaster) processes sharing the port. Default ceil(connections / 18,000). */
  readonly engineWorkers?: number;
  /** producerRate "max": messages per area published ahead of the slowest normal reader. Default 32. */
  readonly maxInFlightMessages?: number;
  /** At `atSecond` of the measured window, `share` of the vehicles drop and come back within `jitterMs` with their offsets. */
  readonly reconnectStorm?: { readonly atSecond: number; readonly share?: number; readonly jitterMs?: number };
  /** Vehicles dropping and resuming per second during the measured window (steady churn). */
  readonly churnPerSecond?: number;
  /** `share` of the vehicles read in bursts: paused `pauseMs` out of every `periodMs` (default 800 of 1000). */
  readonly slowReaders?: { readonly share: number; readonly pauseMs?: number; readonly periodMs?: number };
  /** Vehicles the engine closes (slow_consumer, going_away...) reconnect and resume. Default false (they count as closed). */
  readonly reconnectOnClose?: boolean;
  /**
   * Engine-side storm (issue 13), for a target started here: at `atSecond` of the measured window
   * `sigterm` stops every engine process (SIGTERM: vehicles get going_away) and starts the engine
   * again on the same port and data dir; `kill9-workers` kill -9s `workers` of the engine's
   * worker processes (default all; its primary restarts them). Vehicles reconnect and resume
   * (implies reconnectOnClose); publishes carry an Idempotency-Key and are retried through the
   * outage, so every message is published exactly once.
   */
  readonly engineRestart?: { readonly atSecond: number; readonly how: 'sigterm' | 'kill9-workers'; readonly workers?: number };
}

const REQUIRED = ['name', 'areas', 'messageSize', 'producerRate', 'durationSeconds', 'warmupSeconds', 'connections', 'acks'] as const;
const OPTIONAL = [
  'description',
  'payload',
  'transport',
  'transportMix',
  'vehiclesPerWorker',
  'connectConcurrency',
  'connectTimeoutSeconds',
  'settleTimeoutSeconds',
  'publishConcurrency',
  'engineWorkers',
  'maxInFlightMessages',
  'reconnectStorm',
  'churnPerSecond',
  'slowReaders',
  'reconnectOnClose',
  'engineRestart',
] as const;

export const DEFAULTS = {
  vehiclesPerWorker: 15_000,
  connectConcurrency: 512,
  connectTimeoutSeconds: 120,
  settleTimeoutSeconds: 30,
  publishConcurrency: 32,
} as const;

export type ResolvedScenario = Scenario &
  Required<Pick<Scenario, keyof typeof DEFAULTS | 'engineWorkers' | 'maxInFlightMessages' | 'reconnectOnClose' | 'payload'>> & {
    /** transportMix, or {transport: 1}, as a list. */
    readonly mix: readonly { readonly transport: Transport; readonly share: number }[];
  };

export function loadScenario(path: string, overrides: readonly string[] = []): ResolvedScenario {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read scenario ${path}: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${path}: a scenario is a JSON object`);
  const obj = { ...(raw as Record<string, unknown>) };
  if (obj.name === undefined) obj.name = basename(path).replace(/\.json$/, '');
  for (const o of overrides) applyOverride(obj, o);
  return validateScenario(obj, path);
}

/** `key=value` from `--set`; the value is parsed as JSON when it parses, else kept as a string. */
function applyOverride(obj: Record<string, unknown>, o: string): void {
  const eq = o.indexOf('=');
  if (eq <= 0) throw new Error(`--set expects key=value, got "${o}"`);
  const key = o.slice(0, eq);
  const text = o.slice(eq + 1);
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    // a bare string such as ws-msgpack
  }
  obj[key] = value;
}

export function validateScenario(obj: Record<string, unknown>, where = 'scenario'): ResolvedScenario {
  const known = new Set<string>([...REQUIRED, ...OPTIONAL]);
  for (const k of Object.keys(obj)) if (!known.has(k)) throw new Error(`${where}: unknown key "${k}" (known: ${[...known].join(', ')})`);
  for (const k of REQUIRED) if (obj[k] === undefined) throw new Error(`${where}: "${k}" is required`);
  const bad = (k: string, what: string, v: unknown): Error => new Error(`${where}: "${k}" must be ${what}, got ${JSON.stringify(v)}`);
  const intIn = (k: string, v: unknown, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(k, `an integer in ${min}..${max}`, v);
    return v;
  };
  const numIn = (k: string, v: unknown, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw bad(k, `a number in ${min}..${max}`, v);
    return v;
  };
  const int = (k: string, min: number, max: number): number => intIn(k, obj[k], min, max);
  const num = (k: string, min: number, max: number): number => numIn(k, obj[k], min, max);
  const optInt = (k: keyof typeof DEFAULTS, min: number, max: number): number => (obj[k] === undefined ? DEFAULTS[k] : int(k, min, max));
  const object = (k: string): Record<string, unknown> | undefined => {
    const v = obj[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(k, 'an object', v);
    return v as Record<string, unknown>;
  };
  if (typeof obj.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(obj.name)) throw new Error(`${where}: "name" must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}`);
  if (typeof obj.acks !== 'boolean') throw new Error(`${where}: "acks" must be true or false`);
  if (obj.description !== undefined && typeof obj.description !== 'string') throw new Error(`${where}: "description" must be a string`);
  if (obj.payload !== undefined && obj.payload !== 'padding' && obj.payload !== 'alerts') throw bad('payload', '"padding" or "alerts"', obj.payload);
  if (obj.reconnectOnClose !== undefined && typeof obj.reconnectOnClose !== 'boolean') throw bad('reconnectOnClose', 'true or false', obj.reconnectOnClose);

  const isTransport = (t: unknown): t is Transport => TRANSPORTS.includes(t as Transport);
  const rawMix = object('transportMix');
  if (obj.transport === undefined && rawMix === undefined) throw new Error(`${where}: "transport" (or "transportMix") is required`);
  if (obj.transport !== undefined && !isTransport(obj.transport)) throw new Error(`${where}: "transport" must be one of ${TRANSPORTS.join(', ')}`);
  const mix = rawMix === undefined
    ? [{ transport: obj.transport as Transport, share: 1 }]
    : Object.entries(rawMix).map(([t, share]) => {
        if (!isTransport(t)) throw new Error(`${where}: transportMix key "${t}" must be one of ${TRANSPORTS.join(', ')}`);
        return { transport: t, share: numIn(`transportMix.${t}`, share, 0, 1e9) };
      }).filter((m) => m.share > 0);
  if (mix.length === 0) throw new Error(`${where}: transportMix has no transport with a share above 0`);

  const producerRate = obj.producerRate === 'max' ? 'max' : num('producerRate', 0.01, 1_000_000);
  const connections = int('connections', 1, 10_000_000);
  const storm = object('reconnectStorm');
  const slow = object('slowReaders');
  const restart = object('engineRestart');
  if (restart !== undefined && restart.how !== 'sigterm' && restart.how !== 'kill9-workers') throw bad('engineRestart.how', '"sigterm" or "kill9-workers"', restart.how);
  const s: ResolvedScenario = {
    name: obj.name,
    ...(typeof obj.description === 'string' && { description: obj.description }),
    areas: int('areas', 1, 100_000),
    messageSize: int('messageSize', 64, 1_048_576),
    payload: obj.payload === undefined ? 'padding' : (obj.payload as 'padding' | 'alerts'),
    producerRate,
    durationSeconds: num('durationSeconds', 1, 24 * 3600),
    warmupSeconds: num('warmupSeconds', 0, 3600),
    connections,
    transport: mix[0].transport,
    ...(rawMix !== undefined && { transportMix: Object.fromEntries(mix.map((m) => [m.transport, m.share])) }),
    mix,
    acks: obj.acks,
    vehiclesPerWorker: optInt('vehiclesPerWorker', 1, 18_000),
    connectConcurrency: optInt('connectConcurrency', 1, 100_000),
    connectTimeoutSeconds: optInt('connectTimeoutSeconds', 1, 3600),
    settleTimeoutSeconds: optInt('settleTimeoutSeconds', 1, 3600),
    publishConcurrency: optInt('publishConcurrency', 1, 10_000),
    engineWorkers: obj.engineWorkers === undefined ? Math.max(1, Math.ceil(connections / 18_000)) : int('engineWorkers', 1, 256),
    maxInFlightMessages: obj.maxInFlightMessages === undefined ? 32 : int('maxInFlightMessages', 1, 100_000),
    reconnectOnClose: obj.reconnectOnClose === true || restart !== undefined,
    ...(restart !== undefined && {
      engineRestart: {
        atSecond: numIn('engineRestart.atSecond', restart.atSecond, 0, 24 * 3600),
        how: restart.how as 'sigterm' | 'kill9-workers',
        ...(restart.workers !== undefined && { workers: intIn('engineRestart.workers', restart.workers, 1, 256) }),
      },
    }),
    ...(storm !== undefined && {
      reconnectStorm: {
        atSecond: numIn('reconnectStorm.atSecond', storm.atSecond, 0, 24 * 3600),
        share: storm.share === undefined ? 1 : numIn('reconnectStorm.share', storm.share, 0, 1),
        jitterMs: storm.jitterMs === undefined ? 1000 : numIn('reconnectStorm.jitterMs', storm.jitterMs, 0, 600_000),
      },
    }),
    ...(obj.churnPerSecond !== undefined && { churnPerSecond: num('churnPerSecond', 0, 1_000_000) }),
    ...(slow !== undefined && {
      slowReaders: {
        share: numIn('slowReaders.share', slow.share, 0, 1),
        pauseMs: slow.pauseMs === undefined ? 800 : numIn('slowReaders.pauseMs', slow.pauseMs, 1, 3_600_000),
        periodMs: slow.periodMs === undefined ? 1000 : numIn('slowReaders.periodMs', slow.periodMs, 2, 3_600_000),
      },
    }),
  };
  if (s.areas > s.connections) throw new Error(`${where}: more areas (${s.areas}) than connections (${s.connections})`);
  if (s.slowReaders !== undefined && (s.slowReaders.pauseMs ?? 800) >= (s.slowReaders.periodMs ?? 1000)) throw new Error(`${where}: slowReaders.pauseMs must be below periodMs`);
  if (s.reconnectStorm !== undefined && s.reconnectStorm.atSecond >= s.durationSeconds) throw new Error(`${where}: reconnectStorm.atSecond must fall inside durationSeconds`);
  if (s.engineRestart !== undefined && s.engineRestart.atSecond >= s.durationSeconds) throw new Error(`${where}: engineRestart.atSecond must fall inside durationSeconds`);
  return s;
}
