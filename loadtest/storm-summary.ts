/**
 * One table over engine-side storm runs (issue 13; scenarios with `engineRestart`):
 *   node --import tsx loadtest/storm-summary.ts loadtest/results/storm/*.json > loadtest/results/storm/table.md
 * Per run: what happened, vehicles dropped / resumed, time from the first drop to the last
 * resubscribe, the peak resubscribes per second, connects refused by --max-connect-rate, lost /
 * duplicated, and the latency of the vehicles that stayed connected against every vehicle's before
 * the storm (same run).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { RunResult } from './result.ts';

const n = (x: number | undefined, d = 0): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

function refused(metrics: Readonly<Record<string, number>>): number {
  let sum = 0;
  for (const [k, v] of Object.entries(metrics)) if (k.startsWith('abe_connect_refusals_total{') && k.includes('reason="connect_rate_limited"')) sum += v;
  return sum;
}

function row(file: string): string {
  const r = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
  const rc = r.reconnect;
  const er = rc?.engineRestart ?? r.scenario.engineRestart;
  const what = er === undefined ? 'no storm' : er.how === 'sigterm' ? 'SIGTERM all, restart' : `kill -9 of ${er.workers ?? 'all'} worker(s)`;
  const rate = /--max-connect-rate=(\d+)/.exec(JSON.stringify(r))?.[1] ?? /rate(\d+)/.exec(basename(file))?.[1] ?? '0';
  const st = rc?.stayedConnected;
  return [
    basename(file, '.json'),
    what,
    rate === '0' ? 'off' : `${rate}/s per process`,
    `${n(rc?.dropped)} / ${n(rc?.resubscribed)}`,
    `${n(rc?.stormSeconds, 1)} s`,
    `${n(rc?.peakResubscribesPerSecond)}/s`,
    n(refused(r.engine.metrics as Record<string, number>)),
    `${n(r.lost)} / ${n(r.duplicated)}`,
    st === undefined ? '-' : `${n(st.beforeStorm.p99Ms)} ms`,
    st === undefined ? '-' : `${n(st.latency.p99Ms)} ms (${n(st.latency.count)})`,
    r.problems.length === 0 ? '' : r.problems.map((p) => p.replace(/\|/g, '/')).join('; ').slice(0, 200),
  ].join(' | ');
}

const files = process.argv.slice(2);
process.stdout.write(
  [
    '| run | storm | --max-connect-rate | dropped / resumed | first drop to last resubscribed | peak resubscribes | connects refused | lost / dup | P99 before the storm (all) | P99 after it began (vehicles that stayed, deliveries) | problems |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...files.map((f) => `| ${row(f)} |`),
    '',
  ].join('\n'),
);
