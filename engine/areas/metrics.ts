/** The metric handles areas/ update: resolved once at start (pino-style: no lookups per message). */
export interface CounterLike {
  inc(value?: number): void;
}
export interface HistogramLike {
  observe(value: number): void;
}

export interface AreaMetrics {
  readonly delivered: CounterLike;
  readonly replayed: CounterLike;
  readonly resent: CounterLike;
  readonly logReads: CounterLike;
  readonly slowConsumerCloses: CounterLike;
  readonly ackTimeoutCloses: CounterLike;
  readonly undeliverable: CounterLike;
  readonly fanoutSeconds: HistogramLike;
  /** Turns a fan-out yielded the event loop after its slice (AreaSettings.fanoutSliceMs). */
  readonly fanoutSlices: CounterLike;
  /** Stage timings per message (engine/metrics/stages.ts); optional for tests and benches. */
  readonly stages?: StageSink;
  /** Lag distribution over subscriptions, filled by the sweep (engine/metrics/lag.ts). */
  readonly ackLag?: LagSink;
}

/** Allocation-free: called after each fan-out (never per subscriber) and per advancing ack. */
export interface StageSink {
  /** ms (now()) for acceptMs/readMs; performance.now() for the rest. */
  message(acceptMs: number, readMs: number, readPerf: number, startPerf: number, endPerf: number): void;
  acked(acceptMs: number, nowMs: number): void;
}

export interface LagSink {
  /** One subscription's lag (head minus virtual cursor), during a sweep. */
  observe(lag: number): void;
  /** Every area was swept: publish the snapshot. */
  endSweep(): void;
}

const noop = { inc() {}, observe() {} };

/** For unit tests and benchmarks that do not scrape metrics. */
export const NO_AREA_METRICS: AreaMetrics = {
  delivered: noop,
  replayed: noop,
  resent: noop,
  logReads: noop,
  slowConsumerCloses: noop,
  ackTimeoutCloses: noop,
  undeliverable: noop,
  fanoutSeconds: noop,
  fanoutSlices: noop,
};
