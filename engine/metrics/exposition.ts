/**
 * Reading metrics back: a Prometheus text scrape (`GET /metrics`) or a registry's
 * getMetricsAsJSON() as flat samples, and the histogram arithmetic Prometheus does
 * (deltas between two scrapes, histogram_quantile's linear interpolation). Used by the live
 * dashboard (./live.ts), the stage breakdown (./breakdown.ts) and the load-test report.
 */

export interface Sample {
  /** Sample name as scraped: `abe_stage_latency_seconds_bucket`, not the family name. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the text exposition format (0.0.4, and the OpenMetrics lines it shares). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    if (m[3] !== undefined) {
      for (const lm of m[3].matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1], labels, value: parseValue(m[4]) });
  }
  return out;
}

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

interface JsonMetric {
  readonly name: string;
  readonly values: readonly { value: number; labels: Readonly<Record<string, string | number | undefined>>; metricName?: string }[];
}

/** registry.getMetricsAsJSON() -> samples (label values as the text format would show them). */
export function samplesFromJson(metrics: readonly JsonMetric[]): Sample[] {
  const out: Sample[] = [];
  for (const m of metrics) {
    for (const v of m.values) {
      const labels: Record<string, string> = {};
      for (const [k, l] of Object.entries(v.labels)) if (l !== undefined) labels[k] = String(l);
      out.push({ name: v.metricName ?? m.name, labels, value: v.value });
    }
  }
  return out;
}

export interface HistogramData {
  /** Upper bounds ascending, the last Infinity. */
  readonly bounds: number[];
  /** Cumulative counts per bound. */
  readonly cumulative: number[];
  readonly sum: number;
  readonly count: number;
}

const matches = (labels: Readonly<Record<string, string>>, want: Readonly<Record<string, string>>): boolean => {
  for (const k in want) if (labels[k] !== want[k]) return false;
  return true;
};

/** Index over a scrape: sums, label breakdowns, histograms. */
export class Samples {
  private readonly byName = new Map<string, Sample[]>();

  constructor(samples: readonly Sample[]) {
    for (const s of samples) {
      let list = this.byName.get(s.name);
      if (list === undefined) this.byName.set(s.name, (list = []));
      list.push(s);
    }
  }

  static parse(text: string): Samples {
    return new Samples(parseExposition(text));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  all(name: string): readonly Sample[] {
    return this.byName.get(name) ?? [];
  }

  /** Sum of the matching samples (undefined when the metric is absent). */
  sum(name: string, want: Readonly<Record<string, string>> = {}): number | undefined {
    const list = this.byName.get(name);
    if (list === undefined) return undefined;
    let total = 0;
    for (const s of list) if (matches(s.labels, want)) total += s.value;
    return total;
  }

  /** value summed per value of one label: e.g. connections by transport. */
  byLabel(name: string, label: string, want: Readonly<Record<string, string>> = {}): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.all(name)) {
      if (!matches(s.labels, want)) continue;
      const k = s.labels[label] ?? '';
      out[k] = (out[k] ?? 0) + s.value;
    }
    return out;
  }

  /** The histogram `family` (without _bucket), summed over series matching `want`. */
  histogram(family: string, want: Readonly<Record<string, string>> = {}): HistogramData | undefined {
    const buckets = new Map<number, number>();
    for (const s of this.all(`${family}_bucket`)) {
      if (!matches(s.labels, want)) continue;
      const le = parseValue(s.labels.le ?? 'NaN');
      if (Number.isNaN(le)) continue;
      buckets.set(le, (buckets.get(le) ?? 0) + s.value);
    }
    if (buckets.size === 0) return undefined;
    const bounds = [...buckets.keys()].sort((a, b) => a - b);
    return {
      bounds,
      cumulative: bounds.map((b) => buckets.get(b) ?? 0),
      sum: this.sum(`${family}_sum`, want) ?? 0,
      count: this.sum(`${family}_count`, want) ?? buckets.get(Infinity) ?? 0,
    };
  }
}

/** after - before, bucket by bucket (counters restarted: answer `after`). */
export function histogramDelta(after: HistogramData, before: HistogramData | undefined): HistogramData {
  if (before === undefined || before.count > after.count || before.bounds.length !== after.bounds.length) return after;
  return {
    bounds: after.bounds,
    cumulative: after.cumulative.map((c, i) => c - (before.cumulative[i] ?? 0)),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/** Prometheus histogram_quantile(): linear within the bucket; the +Inf bucket answers the top finite bound. */
export function quantile(h: HistogramData, q: number): number | undefined {
  if (h.count <= 0) return undefined;
  const rank = q * h.count;
  for (let i = 0; i < h.bounds.length; i++) {
    if (h.cumulative[i] >= rank) {
      const upper = h.bounds[i];
      if (upper === Infinity) return i > 0 ? h.bounds[i - 1] : undefined;
      const lower = i === 0 ? 0 : h.bounds[i - 1];
      const below = i === 0 ? 0 : h.cumulative[i - 1];
      const inBucket = h.cumulative[i] - below;
      return inBucket <= 0 ? upper : lower + (upper - lower) * ((rank - below) / inBucket);
    }
  }
  return h.bounds.length > 1 ? h.bounds[h.bounds.length - 2] : undefined;
}

export function mean(h: HistogramData): number | undefined {
  return h.count > 0 ? h.sum / h.count : undefined;
}
