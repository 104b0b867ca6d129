/**
 * A Prometheus histogram for hot paths: bucket counts in one Float64Array, fixed label values
 * chosen at construction, observe() is a short bucket scan and two array writes, no allocation
 * and no label hashing (prom-client's observe allocates a closure and hashes labels per call).
 *
 * It is a prom-client metric as far as a Registry is concerned (name, help, type, aggregator,
 * get(), reset()), so registry.metrics() renders it and AggregatorRegistry.aggregate() sums it
 * across processes like any histogram (issue 6).
 */
import type { Metric, Registry } from 'prom-client';

export interface FastHistogramConfig {
  readonly name: string;
  readonly help: string;
  /** Upper bounds, ascending; +Inf is implicit. */
  readonly buckets: readonly number[];
  /** One label with a fixed set of values (e.g. stage), or none. */
  readonly labelName?: string;
  readonly labelValues?: readonly string[];
  readonly registers?: readonly Registry[];
}

/** What a caller holds: one series of the histogram. */
export interface Observer {
  observe(value: number): void;
}

/** Cumulative view of one series: counts[i] = observations <= bounds[i]; last is +Inf (= count). */
export interface HistogramSnapshot {
  readonly bounds: readonly number[];
  readonly cumulative: number[];
  readonly sum: number;
  readonly count: number;
}

interface ExportValue {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];
  readonly bounds: Float64Array;
  private readonly labelValues: readonly string[];
  /** Per series: bounds.length + 1 non-cumulative bucket counts (the last is > every bound). */
  private readonly counts: Float64Array;
  private readonly sums: Float64Array;
  private readonly width: number;

  constructor(config: FastHistogramConfig) {
    const b = config.buckets;
    for (let i = 1; i < b.length; i++) if (!(b[i] > b[i - 1])) throw new RangeError(`${config.name}: buckets must ascend`);
    this.name = config.name;
    this.help = config.help;
    this.bounds = Float64Array.from(b);
    this.labelNames = config.labelName === undefined ? [] : [config.labelName];
    this.labelValues = config.labelName === undefined ? [''] : [...(config.labelValues ?? [])];
    if (this.labelValues.length === 0) throw new RangeError(`${config.name}: a label needs its values`);
    this.width = b.length + 1;
    this.counts = new Float64Array(this.width * this.labelValues.length);
    this.sums = new Float64Array(this.labelValues.length);
    for (const r of config.registers ?? []) r.registerMetric(this as unknown as Metric);
  }

  /** Index of a label value, for observeAt(). */
  indexOf(labelValue: string): number {
    const i = this.labelValues.indexOf(labelValue);
    if (i < 0) throw new RangeError(`${this.name}: unknown ${this.labelNames[0]} "${labelValue}"`);
    return i;
  }

  /** Hot path: series `series` (label index, 0 without a label). Non-finite values are ignored. */
  observeAt(series: number, value: number): void {
    if (!(value >= 0) || value === Infinity) {
      if (value < 0) value = 0; // clock step backwards: count it as instant rather than drop it
      else return;
    }
    const bounds = this.bounds;
    const n = bounds.length;
    let i = 0;
    while (i < n && value > bounds[i]) i++;
    this.counts[series * this.width + i]++;
    this.sums[series] += value;
  }

  observe(value: number): void {
    this.observeAt(0, value);
  }

  /** A bound observer for one label value (resolve once, call observe() on the hot path). */
  child(labelValue: string): Observer {
    const i = this.indexOf(labelValue);
    return { observe: (v: number) => this.observeAt(i, v) };
  }

  snapshot(series = 0): HistogramSnapshot {
    const base = series * this.width;
    const cumulative: number[] = [];
    let acc = 0;
    for (let i = 0; i < this.width; i++) {
      acc += this.counts[base + i];
      cumulative.push(acc);
    }
    return { bounds: Array.from(this.bounds), cumulative, sum: this.sums[series], count: acc };
  }

  reset(): void {
    this.counts.fill(0);
    this.sums.fill(0);
  }

  /** prom-client's Metric.get(): values with metricName _bucket/_sum/_count, `le` last. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportValue[] }> {
    const values: ExportValue[] = [];
    const label = this.labelNames[0];
    for (let s = 0; s < this.labelValues.length; s++) {
      const base: Record<string, string> = label === undefined ? {} : { [label]: this.labelValues[s] };
      const snap = this.snapshot(s);
      for (let i = 0; i < this.width; i++) {
        const le = i < this.bounds.length ? this.bounds[i] : '+Inf';
        values.push({ value: snap.cumulative[i], labels: { le, ...base }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: snap.sum, labels: base, metricName: `${this.name}_sum` });
      values.push({ value: snap.count, labels: base, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
