/**
 * The live dashboard's data [issue 5]: once a second, a snapshot of this process's registry
 * (the same samples /metrics shows), turned into one point of rates, latency percentiles and the
 * stage breakdown, kept in a short history. GET /dashboard/data answers the latest state without
 * computing anything, so any number of open pages cost the engine one snapshot per second.
 *
 * It runs only while someone looks: the first request starts it, and it stops after
 * IDLE_STOP_MS without one.
 */
import { breakdownFromHistograms } from './breakdown.ts';
import { histogramDelta, quantile, Samples, samplesFromJson, type HistogramData } from './exposition.ts';
import type { EngineMetrics } from './metrics.ts';
import { STAGE_METRIC, STAGES, type Stage } from './stages.ts';

export const INTERVAL_MS = 1000;
/** Points kept (and sent to a page that asks for the history). */
export const HISTORY = 300;
/** Latency percentiles and the stage breakdown are over this many intervals (a sliding window). */
export const LATENCY_WINDOW = 5;
const IDLE_STOP_MS = 5 * 60_000;

export interface LivePoint {
  /** ms since the epoch. */
  readonly t: number;
  readonly connections: Record<string, number>;
  readonly subscriptions: number;
  /** Per second over the last interval. */
  readonly rates: {
    readonly publishes: number;
    readonly publishErrors: number;
    readonly delivered: number;
    readonly replayed: number;
    readonly resent: number;
    readonly acks: number;
    readonly slowConsumerCloses: number;
    readonly ackTimeoutCloses: number;
    readonly resumes: number;
    readonly recoveredFalse: number;
    readonly authFailures: number;
    readonly badInput: number;
  };
  /** Accept → written to every subscriber (fanout_end), ms, over the latency window. */
  readonly latency: { readonly p50: number | null; readonly p90: number | null; readonly p99: number | null; readonly max: number | null };
  /** Accept → ack received, ms. */
  readonly ackLatency: { readonly p50: number | null; readonly p99: number | null };
  /** Mean time spent in each stage over the latency window (ms). */
  readonly stageMs: Record<Stage, number | null>;
  readonly appendP99Ms: number | null;
  readonly eventLoopP99Ms: number | null;
  readonly rssMB: number | null;
  readonly heapMB: number | null;
  readonly pausedConnections: number;
  readonly lagP99: number | null;
  readonly lagMax: number;
}

export interface LiveState {
  readonly worker: string;
  readonly startedAt: number;
  readonly ready: boolean;
  readonly logHealthy: boolean;
  readonly info: Record<string, string>;
  readonly point: LivePoint | null;
  readonly history?: readonly LivePoint[];
  readonly topAreas: readonly { area: string; subscribers: number; maxLag: number; head: number; minAcked: number }[];
  /** Subscriptions at most `le` messages behind (cumulative), from the last sweep. */
  readonly lagDistribution: readonly (readonly [number | '+Inf', number])[];
}

interface Snapshot {
  readonly t: number;
  readonly s: Samples;
}

const nul = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);
const toMs = (x: number | undefined): number | null => nul(x === undefined ? undefined : x * 1000);

/**
 * Where samples come from: registry.getMetricsAsJSON() of this process, or any text scrape, e.g.
 * the cluster's aggregate over every process (engine/cluster), so the page shows all of them.
 */
export type SampleSource = () => Promise<Parameters<typeof samplesFromJson>[0] | string>;

export class LiveSampler {
  private readonly snapshots: Snapshot[] = [];
  private readonly history: LivePoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastRequest = 0;
  private inflight: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private latest: Omit<LiveState, 'worker' | 'startedAt' | 'point' | 'history'> = { ready: true, logHealthy: true, info: {}, topAreas: [], lagDistribution: [] };

  constructor(
    private readonly worker: string,
    private readonly source: SampleSource,
  ) {}

  /** This process's registry, or `scrape` (a Registry whose metrics() answers for every process). */
  static of(metrics: EngineMetrics, scrape?: { metrics(): Promise<string> }): LiveSampler {
    return new LiveSampler(scrape === undefined ? metrics.worker : 'all', scrape === undefined ? () => metrics.registry.getMetricsAsJSON() : () => scrape.metrics());
  }

  /** A page asked: make sure sampling runs (first call takes a snapshot at once). */
  touch(): void {
    this.lastRequest = Date.now();
    if (this.timer !== undefined) return;
    // A failed snapshot (a collector threw) skips one point; it must never become an unhandled rejection.
    const tick = (): void => void this.tick().catch(() => undefined);
    this.timer = setInterval(tick, INTERVAL_MS);
    this.timer.unref();
    tick();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  state(withHistory: boolean): LiveState {
    const point = this.history.length > 0 ? this.history[this.history.length - 1] : null;
    return { worker: this.worker, startedAt: this.startedAt, ...this.latest, point, ...(withHistory && { history: this.history }) };
  }

  /** One snapshot and, from the second on, one point (joins one in flight). Exposed for tests. */
  tick(): Promise<void> {
    this.inflight ??= this.sample().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async sample(): Promise<void> {
    if (Date.now() - this.lastRequest > IDLE_STOP_MS) {
      this.stop();
      return;
    }
    const got = await this.source();
    const s = typeof got === 'string' ? Samples.parse(got) : new Samples(samplesFromJson(got));
    this.snapshots.push({ t: Date.now(), s });
    if (this.snapshots.length > LATENCY_WINDOW + 1) this.snapshots.shift();
    const lag = lagHistogram(s);
    this.latest = {
      ready: s.sum('abe_ready') !== 0,
      logHealthy: s.sum('abe_log_healthy') !== 0,
      info: { ...(s.all('abe_build_info')[0]?.labels ?? {}) },
      topAreas: topAreas(s, 10),
      lagDistribution: lag === undefined ? [] : lag.bounds.map((le, i): [number | '+Inf', number] => [le === Infinity ? '+Inf' : le, lag.cumulative[i]]),
    };
    if (this.snapshots.length >= 2) {
      this.history.push(point(this.snapshots));
      if (this.history.length > HISTORY) this.history.shift();
    }
  }
}

/** The areas with the largest lag (then most subscribers), from the abe_area_* gauges. */
export function topAreas(s: Samples, n: number): LiveState['topAreas'] {
  const by = (name: string) => new Map(s.all(name).map((x) => [x.labels.area ?? '', x.value] as const));
  const subs = by('abe_area_subscribers');
  const lag = by('abe_area_max_lag_messages');
  const head = by('abe_area_head_offset');
  const minAcked = by('abe_area_min_acked_offset');
  return [...subs.keys()]
    .map((area) => ({ area, subscribers: subs.get(area) ?? 0, maxLag: lag.get(area) ?? 0, head: head.get(area) ?? 0, minAcked: minAcked.get(area) ?? 0 }))
    .sort((a, b) => b.maxLag - a.maxLag || b.subscribers - a.subscribers || a.area.localeCompare(b.area))
    .slice(0, n);
}

/** The newest point from the snapshots (oldest first, at least two). */
export function point(snaps: readonly Snapshot[]): LivePoint {
  const cur = snaps[snaps.length - 1];
  const prev = snaps[snaps.length - 2];
  const first = snaps[0];
  const s = cur.s;
  const dt = Math.max(0.001, (cur.t - prev.t) / 1000);
  const rate = (name: string, want: Record<string, string> = {}): number => {
    const a = s.sum(name, want) ?? 0;
    const b = prev.s.sum(name, want) ?? 0;
    return a >= b ? (a - b) / dt : a / dt;
  };
  const windowed = (family: string, want: Record<string, string>): HistogramData | undefined => {
    const h = s.histogram(family, want);
    return h === undefined ? undefined : histogramDelta(h, first.s.histogram(family, want));
  };
  const stageH: Partial<Record<Stage, HistogramData>> = {};
  for (const stage of STAGES) stageH[stage] = windowed(STAGE_METRIC, { stage });
  const breakdown = breakdownFromHistograms(stageH);
  const e2e = stageH.fanout_end;
  const ack = stageH.ack;
  const append = windowed('abe_log_append_duration_seconds', {});
  const lagH = lagHistogram(s);
  const stageMs = {} as Record<Stage, number | null>;
  for (const f of breakdown.stages) stageMs[f.stage] = nul(f.inStageMeanMs);
  const MB = 1024 * 1024;
  return {
    t: cur.t,
    connections: s.byLabel('abe_connections', 'transport'),
    subscriptions: s.sum('abe_subscriptions') ?? 0,
    rates: {
      publishes: rate('abe_publishes_total', { result: 'ok' }),
      publishErrors: rate('abe_publishes_total', { result: 'error' }),
      delivered: rate('abe_messages_delivered_total'),
      replayed: rate('abe_messages_replayed_total'),
      resent: rate('abe_messages_resent_total'),
      acks: rate('abe_acks_total'),
      slowConsumerCloses: rate('abe_slow_consumer_closes_total'),
      ackTimeoutCloses: rate('abe_ack_timeout_closes_total'),
      resumes: rate('abe_resume_requests_total'),
      recoveredFalse: rate('abe_recovered_false_total'),
      authFailures: rate('abe_auth_failures_total'),
      badInput: rate('abe_bad_input_total'),
    },
    latency: {
      p50: toMs(e2e && quantile(e2e, 0.5)),
      p90: toMs(e2e && quantile(e2e, 0.9)),
      p99: toMs(e2e && quantile(e2e, 0.99)),
      max: toMs(e2e && quantile(e2e, 1)),
    },
    ackLatency: { p50: toMs(ack && quantile(ack, 0.5)), p99: toMs(ack && quantile(ack, 0.99)) },
    stageMs,
    appendP99Ms: toMs(append && quantile(append, 0.99)),
    eventLoopP99Ms: toMs(s.sum('abe_nodejs_eventloop_lag_p99_seconds')),
    rssMB: nul((s.sum('abe_process_resident_memory_bytes') ?? NaN) / MB),
    heapMB: nul((s.sum('abe_nodejs_heap_size_used_bytes') ?? NaN) / MB),
    pausedConnections: s.sum('abe_paused_connections') ?? 0,
    // Bucket interpolation can overshoot the true maximum: never show a P99 above it.
    lagP99: nul(lagH && Math.min(quantile(lagH, 0.99) ?? NaN, s.sum('abe_subscriber_lag_max_messages') ?? Infinity)),
    lagMax: s.sum('abe_subscriber_lag_max_messages') ?? 0,
  };
}

/** The sweep's lag snapshot (a gauge with `le`) as histogram data. */
function lagHistogram(s: Samples): HistogramData | undefined {
  const list = s.all('abe_subscriber_lag_messages');
  if (list.length === 0) return undefined;
  const rows = list.map((x) => [x.labels.le === '+Inf' ? Infinity : Number(x.labels.le), x.value] as const).sort((a, b) => a[0] - b[0]);
  const count = rows[rows.length - 1][1];
  return { bounds: rows.map((r) => r[0]), cumulative: rows.map((r) => r[1]), sum: 0, count };
}
