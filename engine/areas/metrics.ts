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
};
