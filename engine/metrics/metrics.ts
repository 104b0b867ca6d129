/**
 * The engine's Prometheus metrics (prom-client). Created once; label children are resolved here
 * or cached on first use, so hot paths hold a child and call inc()/observe() only (pino-style).
 * Labels are low-cardinality: no per-vehicle labels; per-area gauges only for the top N areas
 * (./lag.ts). Hot-path histograms (stages, fan-out, append) are FastHistograms: no allocation.
 *
 * Every metric carries an aggregator (sum unless said otherwise) so that with several engine
 * processes the primary can merge the workers' registry.getMetricsAsJSON() with prom-client's
 * AggregatorRegistry.aggregate() into one scrape (issue 6); per-process figures keep a `worker`
 * label (connections) so they stay apart after the merge. dashboards/README.md lists them all.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CompressionMetrics } from '../areas/compression.ts';
import type { AreaMetrics, CounterLike } from '../areas/metrics.ts';
import type { AreaGaugeSink } from '../areas/registry.ts';
import { CATCHING_UP, LIVE, PAUSED, REPLAYING } from '../areas/virtual-cursors.ts';
import { AUTH_FAILURE } from '../auth/jwt.ts';
import { CLOSE, ERRORS, type CloseReason, type ErrorCode } from '../errors.ts';
import type { WsMetrics } from '../transports/ws/metrics.ts';
import type { AdmissionMetrics } from '../transports/shared/admission.ts';
import { FLAPPING_KEYS } from '../config.types.ts';
import { ComputedGauge, computedValue, type Labels } from './custom.ts';
import { FastHistogram } from './fast-histogram.ts';
import { AreaTop, SubscriberLag } from './lag.ts';
import { StageTimings } from './stages.ts';

export interface MetricsOptions {
  /** Areas exported per ranking (by subscribers, by lag) in the abe_area_* gauges. */
  readonly topAreas?: number;
  /** This process's index among the engine's processes (issue 6); label of per-process gauges. */
  readonly worker?: string;
}

/** Live state the engine lets metrics read at scrape time (set once wiring is done). */
export interface EngineProbes {
  readonly openAreas: () => number;
  /** VirtualCursors.state (slots by state). */
  readonly slotStates: () => Uint8Array;
  /** Connections over their backpressure budget, per transport (MQTT adds its own). */
  readonly pausedConnections: Readonly<Record<string, () => number>>;
  readonly logHealthy: () => boolean;
  /** What /readyz answers. */
  readonly ready: () => boolean;
  readonly pendingAppends: () => number;
  /** Labels of abe_build_info (uws build, log kind...). */
  readonly info: Readonly<Record<string, string>>;
}

export interface EngineMetrics {
  readonly registry: Registry;
  readonly areas: AreaMetrics;
  readonly ws: WsMetrics;
  readonly areaGauges: AreaGaugeSink;
  /** Open connections of one transport ('ws', 'mqtt', 'mqtt-ws'). */
  readonly connections: (transport: string) => { inc(): void; dec(): void };
  readonly wsConnections: { inc(): void; dec(): void };
  readonly closes: (reason: CloseReason) => CounterLike;
  readonly authFailures: (reason: string) => CounterLike;
  readonly publishes: (result: 'ok' | 'duplicate' | 'error') => CounterLike;
  /** Accept-to-durable seconds of one publish (also the `durable` stage). */
  readonly appendSeconds: { observe(v: number): void };
  readonly httpErrors: (code: ErrorCode) => CounterLike;
  /** Connects refused by admission control (transports/shared/admission.ts). */
  readonly admission: AdmissionMetrics;
  readonly stages: StageTimings;
  /** Deflate of the compressed formats (areas/compression.ts). */
  readonly compression: CompressionMetrics;
  readonly lag: SubscriberLag;
  readonly areaTop: AreaTop;
  readonly worker: string;
  /** Adds or replaces probes (merged; pausedConnections merged per transport). */
  probe(probes: Partial<EngineProbes>): void;
}

const PREFIX = 'abe_';
export const DEFAULT_TOP_AREAS = 20;

export const FANOUT_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
export const APPEND_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

function cachedChildren<K extends string, C>(make: (k: K) => C): (k: K) => C {
  const cache = new Map<K, C>();
  return (k: K) => {
    let c = cache.get(k);
    if (c === undefined) {
      c = make(k);
      cache.set(k, c);
    }
    return c;
  };
}

export function createMetrics(options: MetricsOptions = {}): EngineMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const r = [registry];
  const worker = options.worker ?? '0';
  const counter = (name: string, help: string, labelNames: string[] = []): Counter => new Counter({ name: PREFIX + name, help, labelNames, registers: r });

  const connections = new Gauge({ name: `${PREFIX}connections`, help: 'Open vehicle connections by transport and engine process', labelNames: ['transport', 'worker'], registers: r });
  const subscriptions = new Gauge({ name: `${PREFIX}subscriptions`, help: 'Active area subscriptions', registers: r });
  const closes = counter('connection_closes_total', 'Connections closed by the engine, by close reason', ['reason']);
  const delivered = counter('messages_delivered_total', 'Live message frames written to sockets');
  const replayed = counter('messages_replayed_total', 'Frames written by catch-up (resume, drain, resend)');
  const resent = counter('messages_resent_total', 'Messages re-sent because acks lagged past the resend timeout');
  const logReads = counter('catchup_log_reads_total', 'Log range reads for catch-up beyond the ring');
  const slowCloses = counter('slow_consumer_closes_total', 'Connections closed because they fell out of the retained window');
  const ackTimeouts = counter('ack_timeout_closes_total', 'Connections closed because acks stopped advancing');
  const undeliverable = counter('messages_undeliverable_total', 'Log records that could not be encoded for delivery (skipped)');
  const fanout = new FastHistogram({
    name: `${PREFIX}fanout_duration_seconds`,
    help: 'Time to write one message to every live subscriber of an area in this process',
    buckets: FANOUT_BUCKETS,
    registers: r,
  });
  const fanoutSlices = counter('fanout_slices_total', 'Event-loop turns a fan-out yielded after using up --fanout-slice-ms (each lets accepts and other I/O in)');
  const acks = counter('acks_total', 'Acks accepted into virtual cursors');
  const subscribes = counter('subscribes_total', 'Successful subscribes');
  const resumes = counter('resume_requests_total', 'Successful subscribes with `since` (replay requests); see recovered_false_total for the ones that could not be honoured');
  const recoveredFalse = counter('recovered_false_total', 'Resume requests answered recovered:false');
  const badInput = counter('bad_input_total', 'Rejected client input by error code', ['code']);
  const authFailures = counter('auth_failures_total', 'Authentication failures by reason', ['reason']);
  const publishes = counter('publishes_total', 'Publishes by result', ['result']);
  const append = new FastHistogram({
    name: `${PREFIX}log_append_duration_seconds`,
    help: 'Time from accepting a publish to the log answering it durable',
    buckets: APPEND_BUCKETS,
    registers: r,
  });
  const httpErrors = counter('http_errors_total', 'REST error answers by code', ['code']);
  const connectRefusals = counter('connect_refusals_total', 'Connects refused by --max-connect-rate or a flapping ban, by listener and reason', ['listener', 'reason']);
  const flappingBans = counter('flapping_bans_total', 'Clients banned for flapping (too many connects in the window), by the key that went over', ['key']);

  const compressedFrames = counter('compression_frames_total', 'Frames (MQTT: payloads) offered to deflate, by encoder and result: compressed, too_small (--compression-min-bytes), no_gain (saves < 10%), off (area level 0)', ['encoder', 'result']);
  const compressionBytes = counter('compression_bytes_total', 'Bytes of the frames deflate compressed, before (in) and after (out), by encoder: the ratio is out / in', ['encoder', 'side']);
  const compressionSeconds = counter('compression_seconds_total', 'Time spent in deflate, by encoder (once per message per format, never per subscriber)', ['encoder']);
  const compressedFrameOf = cachedChildren((key: string) => compressedFrames.labels(...(key.split(' ') as [string, string])));
  const stages = new StageTimings(r);
  const lag = new SubscriberLag(r);
  const areaTop = new AreaTop(options.topAreas ?? DEFAULT_TOP_AREAS, r);
  const probes = registerProbes(r, areaTop);

  const badInputChild = cachedChildren((code: ErrorCode) => badInput.labels(code));
  const connectionsOf = cachedChildren((transport: string) => connections.labels(transport, worker));
  const authFailureOf = cachedChildren((reason: string) => authFailures.labels(reason));
  // Known label values start at 0, so rate() and "> 0" alerts work before the first event.
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    badInputChild(code).inc(0);
    httpErrors.labels(code).inc(0);
  }
  for (const reason of Object.keys(CLOSE)) closes.labels(reason).inc(0);
  const refusalOf = cachedChildren((key: string) => connectRefusals.labels(...(key.split(' ') as [string, string])));
  for (const listener of ['ws', 'mqtt_tcp', 'mqtt_ws']) for (const reason of ['connect_rate_limited', 'flapping_banned']) refusalOf(`${listener} ${reason}`).inc(0);
  for (const key of FLAPPING_KEYS) flappingBans.labels(key).inc(0);
  for (const result of ['ok', 'duplicate', 'error']) publishes.labels(result).inc(0);
  for (const reason of AUTH_REASONS) authFailureOf(reason).inc(0);
  connectionsOf('ws').set(0);
  return {
    registry,
    areas: {
      delivered,
      replayed,
      resent,
      logReads,
      slowConsumerCloses: slowCloses,
      ackTimeoutCloses: ackTimeouts,
      undeliverable,
      fanoutSeconds: fanout,
      fanoutSlices,
      stages,
      ackLag: lag,
    },
    ws: { acks, subscribes, recoveredFalse, resumes, badInput: badInputChild, subscriptions },
    areaGauges: areaTop,
    connections: connectionsOf,
    wsConnections: connectionsOf('ws'),
    closes: cachedChildren((reason: CloseReason) => closes.labels(reason)),
    authFailures: (reason: string) => authFailureOf(authReason(reason)),
    admission: {
      refused: (listener, reason) => refusalOf(`${listener} ${reason}`).inc(),
      banned: (key) => flappingBans.labels(key).inc(),
    },
    publishes: cachedChildren((result: 'ok' | 'duplicate' | 'error') => publishes.labels(result)),
    appendSeconds: {
      observe(v: number) {
        append.observe(v);
        stages.durable(v);
      },
    },
    httpErrors: cachedChildren((code: ErrorCode) => httpErrors.labels(code)),
    stages,
    compression: {
      frames: (encoder, result) => compressedFrameOf(`${encoder} ${result}`),
      bytesIn: cachedChildren((encoder: string) => compressionBytes.labels(encoder, 'in')),
      bytesOut: cachedChildren((encoder: string) => compressionBytes.labels(encoder, 'out')),
      seconds: cachedChildren((encoder: string) => compressionSeconds.labels(encoder)),
    },
    lag,
    areaTop,
    worker,
    probe(p) {
      Object.assign(probes, { ...p, pausedConnections: { ...probes.pausedConnections, ...p.pausedConnections } });
    },
  };
}

/** Auth failure reasons as labels: snake_case of AUTH_FAILURE, plus the WS upgrade's two. */
const AUTH_REASONS: readonly string[] = [...Object.values(AUTH_FAILURE).map((m) => m.replaceAll(' ', '_')), 'invalid_token', 'other'];

/** Any caller's reason (a label or an error message's prefix) -> one of AUTH_REASONS: bounded label values. */
export function authReason(reason: string): string {
  const r = reason.split(':')[0].trim().toLowerCase().replaceAll(' ', '_');
  return AUTH_REASONS.includes(r) ? r : 'other';
}

const SLOT_STATES: readonly [string, number][] = [
  ['live', LIVE],
  ['catching_up', CATCHING_UP],
  ['replaying', REPLAYING],
  ['paused', PAUSED],
];

/** Gauges read from the engine's state at scrape time; zeros until server.ts sets the probes. */
function registerProbes(r: Registry[], areaTop: AreaTop): EngineProbes {
  const probes: { -readonly [K in keyof EngineProbes]: EngineProbes[K] } = {
    openAreas: () => areaTop.size,
    slotStates: () => new Uint8Array(0),
    pausedConnections: {},
    logHealthy: () => true,
    ready: () => true,
    pendingAppends: () => 0,
    info: {},
  };
  computedValue(`${PREFIX}open_areas`, 'Areas with an open cursor in this process', () => probes.openAreas(), r);
  new ComputedGauge(
    {
      name: `${PREFIX}subscriptions_by_state`,
      help: 'Subscriptions by virtual-cursor state: live, catching_up, replaying (reading the log), paused (socket over its backpressure budget)',
      values: () => {
        const counts = new Map<number, number>(SLOT_STATES.map(([, s]) => [s, 0]));
        const st = probes.slotStates();
        for (let i = 0; i < st.length; i++) {
          const c = counts.get(st[i]);
          if (c !== undefined) counts.set(st[i], c + 1);
        }
        return SLOT_STATES.map(([name, s]): [Labels, number] => [{ state: name }, counts.get(s) ?? 0]);
      },
    },
    r,
  );
  new ComputedGauge(
    {
      name: `${PREFIX}paused_connections`,
      help: 'Connections over their backpressure budget (no live sends until they drain), by transport',
      values: () => Object.entries(probes.pausedConnections).map(([transport, f]): [Labels, number] => [{ transport }, f()]),
    },
    r,
  );
  computedValue(`${PREFIX}log_healthy`, '1 while the log accepts appends, 0 while it is unavailable', () => (probes.logHealthy() ? 1 : 0), r, 'min');
  computedValue(`${PREFIX}ready`, '1 while /readyz answers 200 (log healthy and accepting work)', () => (probes.ready() ? 1 : 0), r, 'min');
  computedValue(`${PREFIX}pending_appends`, 'Publishes waiting for the log', () => probes.pendingAppends(), r);
  new ComputedGauge(
    { name: `${PREFIX}build_info`, help: 'Always 1; labels: node version, uWS build, log kind', aggregator: 'first', values: () => [[{ node: process.version, ...probes.info }, 1]] },
    r,
  );
  return probes;
}
