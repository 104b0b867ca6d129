/**
 * Where the time went: the per-stage latency breakdown from `abe_stage_latency_seconds`
 * (./stages.ts), from one /metrics scrape or the difference of two (before and after a load
 * test, so warm-up and earlier runs drop out). The live dashboard and the load-test report both
 * use it, so they show the same figures.
 *
 *   const b = stageBreakdown(await (await fetch(`${base}/metrics`)).text(), textScrapedBefore);
 *   console.log(breakdownMarkdown(b));
 *
 * Each stage is timed from the message's acceptance; `inStageMeanMs` is the mean of a stage
 * minus the mean of the previous one (exact for means when every stage saw the same messages,
 * as in a one-process run), `sharePct` its part of the last stage's mean. Quantiles per stage
 * are cumulative (P99 from accept to that stage), never subtracted.
 */
import { histogramDelta, mean, quantile, Samples, type HistogramData } from './exposition.ts';
import { STAGE_METRIC, STAGES, type Stage } from './stages.ts';

export interface StageFigures {
  readonly stage: Stage;
  /** Observations in the window (messages; for `ack`, advancing acks). */
  readonly count: number;
  /** Accept to this stage. */
  readonly meanMs: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p90Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** Time spent in this stage: mean - previous stage's mean (ms). */
  readonly inStageMeanMs: number | undefined;
  /** inStageMeanMs as a percentage of the last stage's mean. */
  readonly sharePct: number | undefined;
}

export interface StageBreakdown {
  readonly stages: readonly StageFigures[];
  /** The last stage with observations (ack when vehicles ack, else fanout_end). */
  readonly lastStage: Stage | undefined;
  readonly totalMeanMs: number | undefined;
  /** Set when the figures need a word of explanation (durable after read). */
  readonly note?: string;
}

/** What each stage means, for report and page legends. */
export const STAGE_LABELS: Record<Stage, string> = {
  durable: 'persist (accept → durable in the log)',
  read: 'tail (durable → read by the area cursor)',
  fanout_start: 'queue (encode, wait for earlier messages)',
  fanout_end: 'fan-out (write to every subscriber)',
  ack: 'vehicle (written → ack received)',
};

const ms = (s: number | undefined): number | undefined => (s === undefined ? undefined : s * 1000);

function toSamples(x: string | Samples): Samples {
  return typeof x === 'string' ? Samples.parse(x) : x;
}

/** Stage histograms of a scrape (or after - before), keyed by stage. */
export function stageHistograms(after: string | Samples, before?: string | Samples): Partial<Record<Stage, HistogramData>> {
  const a = toSamples(after);
  const b = before === undefined ? undefined : toSamples(before);
  const out: Partial<Record<Stage, HistogramData>> = {};
  for (const stage of STAGES) {
    const h = a.histogram(STAGE_METRIC, { stage });
    if (h !== undefined) out[stage] = histogramDelta(h, b?.histogram(STAGE_METRIC, { stage }));
  }
  return out;
}

/**
 * Time in each stage from the stage means. The delivery path accept → read → fanout_start →
 * fanout_end → ack is ordered for every message; `durable` (the append returning to the
 * publisher) is not always before `read`: a log can make a record visible to its readers before
 * the append call returns (LMDB: the tail poll sees the commit first). So persist is
 * min(durable, read) and tail the rest of accept → read; the stages then add up to the last one.
 */
export function breakdownFromHistograms(hs: Partial<Record<Stage, HistogramData>>): StageBreakdown {
  const means = STAGES.map((s) => ms(hs[s] === undefined ? undefined : mean(hs[s])));
  const [durable, read] = means;
  let last = -1;
  for (let i = 0; i < STAGES.length; i++) if (means[i] !== undefined) last = i;
  const total = last < 0 ? undefined : means[last];
  const persist = durable === undefined ? undefined : read === undefined ? durable : Math.min(durable, read);
  let prev = persist ?? 0;
  const stages = STAGES.map((stage, i): StageFigures => {
    const h = hs[stage];
    const m = means[i];
    let inStage: number | undefined;
    if (i === 0) inStage = persist;
    else if (m !== undefined) {
      // Clamp: a stage may dip below the previous one by a fraction of a ms (ms clock, populations).
      inStage = Math.max(0, m - prev);
      prev = Math.max(prev, m);
    }
    return {
      stage,
      count: h?.count ?? 0,
      meanMs: m,
      p50Ms: h === undefined ? undefined : ms(quantile(h, 0.5)),
      p90Ms: h === undefined ? undefined : ms(quantile(h, 0.9)),
      p99Ms: h === undefined ? undefined : ms(quantile(h, 0.99)),
      inStageMeanMs: inStage,
      sharePct: inStage === undefined || total === undefined || total <= 0 ? undefined : (100 * inStage) / total,
    };
  });
  const note =
    durable !== undefined && read !== undefined && durable > read
      ? `The area cursor read messages before their publisher was answered (mean accept → durable ${durable.toFixed(2)} ms > accept → read ${read.toFixed(2)} ms): the log shows a commit to readers before the append returns, so persist counts only up to the read.`
      : undefined;
  return { stages, lastStage: last < 0 ? undefined : STAGES[last], totalMeanMs: total, ...(note !== undefined && { note }) };
}

/** The breakdown from a /metrics scrape text, optionally minus an earlier scrape. */
export function stageBreakdown(after: string | Samples, before?: string | Samples): StageBreakdown {
  return breakdownFromHistograms(stageHistograms(after, before));
}

const f = (x: number | undefined, digits = 2): string => (x === undefined ? '-' : x.toFixed(digits));

/** A Markdown table (for loadtest/report.ts) with a one-line summary under it. */
export function breakdownMarkdown(b: StageBreakdown, title = '## Where the time went (engine stage timings)'): string {
  const rows = b.stages.filter((s) => s.count > 0);
  if (rows.length === 0) return `${title}\n\nNo stage timings in the scrape (abe_stage_latency_seconds absent or empty).\n`;
  const lines = [
    title,
    '',
    'Each stage is timed from the moment the engine accepted the message (engine clock, ms); "in stage" is the difference of consecutive means.',
    '',
    '| Stage | Messages | Accept → stage mean | P50 | P90 | P99 | In stage (mean) | Share |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (s) =>
        `| ${STAGE_LABELS[s.stage]} | ${s.count.toLocaleString('en-US')} | ${f(s.meanMs)} ms | ${f(s.p50Ms)} ms | ${f(s.p90Ms)} ms | ${f(s.p99Ms)} ms | ${f(s.inStageMeanMs)} ms | ${f(s.sharePct, 0)}% |`,
    ),
    '',
  ];
  const top = [...rows].sort((x, y) => (y.sharePct ?? 0) - (x.sharePct ?? 0))[0];
  if (top?.sharePct !== undefined) lines.push(`Largest share: ${STAGE_LABELS[top.stage]}, ${f(top.sharePct, 0)}% of ${f(b.totalMeanMs)} ms.`, '');
  if (b.note !== undefined) lines.push(b.note, '');
  return lines.join('\n');
}
