/**
 * Histograms -> OpenMessaging Benchmark TestResult keys (milliseconds), and the Markdown table.
 * OMB fills `...Quantiles` from HdrHistogram's percentile iteration; we do the same (5 ticks per
 * half distance) with the percentile as the key, in percent.
 */
import { build, decodeFromCompressedBase64, type Histogram } from 'hdr-histogram-js';

export function newHistogram(): Histogram {
  return build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

export function mergeEncoded(encoded: readonly string[]): Histogram {
  const h = newHistogram();
  for (const e of encoded) h.add(decodeFromCompressedBase64(e, 32, false, 3_600_000_000));
  return h;
}

const ms = (us: number): number => Math.round(us) / 1000;

/** Percentile -> ms, from HdrHistogram's own percentile iteration. */
export function quantiles(h: Histogram, ticksPerHalfDistance = 5): Record<string, number> {
  const out: Record<string, number> = {};
  if (h.totalCount === 0) return out;
  // Rows of "value percentile totalCount 1/(1-percentile)"; header and footer lines start with text or '#'.
  for (const line of h.outputPercentileDistribution(ticksPerHalfDistance, 1).split('\n')) {
    const m = /^\s*([\d.]+)\s+([\d.]+)\s+\d+/.exec(line);
    if (m === null) continue;
    const [, value, percentile] = m;
    const key = String(Math.round(Number(percentile) * 100 * 1e6) / 1e6);
    out[key.includes('.') ? key : `${key}.0`] = ms(Number(value));
  }
  return out;
}

type Stat = 'Avg' | '50pct' | '75pct' | '95pct' | '99pct' | '999pct' | '9999pct' | 'Max';
export type OmbLatencyKeys<K extends string> = { [P in `aggregated${K}Latency${Stat}`]: number } & {
  [P in `aggregated${K}LatencyQuantiles`]: Record<string, number>;
};

/** `aggregated<Kind>LatencyAvg`, `...50pct` ... `...9999pct`, `...Max`, `...Quantiles` (ms). */
export function ombLatencyKeys<K extends 'EndToEnd' | 'Publish'>(kind: K, h: Histogram): OmbLatencyKeys<K> {
  const p = (q: number): number => (h.totalCount === 0 ? 0 : ms(h.getValueAtPercentile(q)));
  return {
    [`aggregated${kind}LatencyAvg`]: h.totalCount === 0 ? 0 : ms(h.mean),
    [`aggregated${kind}Latency50pct`]: p(50),
    [`aggregated${kind}Latency75pct`]: p(75),
    [`aggregated${kind}Latency95pct`]: p(95),
    [`aggregated${kind}Latency99pct`]: p(99),
    [`aggregated${kind}Latency999pct`]: p(99.9),
    [`aggregated${kind}Latency9999pct`]: p(99.99),
    [`aggregated${kind}LatencyMax`]: h.totalCount === 0 ? 0 : ms(h.maxValue),
    [`aggregated${kind}LatencyQuantiles`]: quantiles(h),
  } as OmbLatencyKeys<K>;
}

export interface LatencySummary {
  readonly count: number;
  readonly avgMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, avgMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
  return { count: h.totalCount, avgMs: ms(h.mean), p50Ms: ms(h.getValueAtPercentile(50)), p99Ms: ms(h.getValueAtPercentile(99)), maxMs: ms(h.maxValue) };
}
