/**
 * Micro-benchmarks (tinybench) [issue 6, "bench/"].
 *
 *   npm run bench                                  all suites
 *   npm run bench -- fanout sweep                  only these suites
 *   npm run bench -- --save bench/baseline.json    also save the results as a baseline
 *   npm run bench -- --compare bench/baseline.json print the ratio to a saved baseline per task
 *   npm run bench -- --time 500                    time budget per task in ms (default 1000)
 *   npm run bench -- --list                        list the suites
 *
 * Columns: ops/s is task iterations per second (1000 / mean ms; ±% is the relative margin of
 * error of the mean at 95%), samples the iterations measured; "per op" divides the mean by the
 * operations inside one iteration (e.g. 100K acks) where there are several.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { acksSuite } from './acks.bench.ts';
import { compressionSuite } from './compression.bench.ts';
import { fanoutSuite } from './fanout.bench.ts';
import { framesSuite } from './frames.bench.ts';
import { metricsSuite } from './metrics.bench.ts';
import { ringSuite } from './ring.bench.ts';
import type { ResultRow, Suite } from './support.ts';
import { sweepSuite } from './sweep.bench.ts';
import { uwsFanoutSuite } from './uws-fanout.bench.ts';

const SUITES: readonly Suite[] = [framesSuite, compressionSuite, ringSuite, acksSuite, sweepSuite, fanoutSuite, metricsSuite, uwsFanoutSuite];

interface Baseline {
  readonly version: 1;
  readonly savedAt: string;
  readonly node: string;
  readonly cpu: string;
  readonly results: ResultRow[];
}

function usage(): string {
  return [
    'usage: npm run bench -- [suite ...] [--save FILE] [--compare FILE] [--time MS] [--list]',
    'suites:',
    ...SUITES.map((s) => `  ${s.name.padEnd(12)} ${s.description}`),
  ].join('\n');
}

function fmtNum(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function fmtHz(hz: number): string {
  if (hz >= 100) return fmtNum(hz, 0);
  if (hz >= 1) return fmtNum(hz, 2);
  return fmtNum(hz, 4);
}

function fmtMs(ms: number): string {
  if (ms >= 100) return fmtNum(ms, 1);
  if (ms >= 1) return fmtNum(ms, 3);
  if (ms >= 0.001) return fmtNum(ms, 5);
  return ms.toExponential(2);
}

function fmtPerOp(r: ResultRow): string {
  if (r.opsPerIteration <= 1) return '';
  const ns = (r.meanMs * 1e6) / r.opsPerIteration;
  const perSec = r.hz * r.opsPerIteration;
  return `${ns < 10 ? ns.toFixed(2) : fmtNum(ns, 1)} ns (${fmtNum(perSec / 1e6, 1)}M/s)`;
}

function table(rows: ResultRow[], baseline: Map<string, ResultRow> | undefined): string {
  const head = ['suite', 'task', 'ops/s', '±%', 'samples', 'mean ms', 'p50 ms', 'p99 ms', 'per op', ...(baseline ? ['vs baseline'] : [])];
  const body = rows.map((r) => {
    const cells = [r.suite, r.task, fmtHz(r.hz), `±${r.rme.toFixed(2)}%`, String(r.samples), fmtMs(r.meanMs), fmtMs(r.p50Ms), fmtMs(r.p99Ms), fmtPerOp(r)];
    if (baseline) {
      const b = baseline.get(`${r.suite}/${r.task}`);
      if (b === undefined || b.hz === 0) cells.push('(new)');
      else {
        const ratio = r.hz / b.hz;
        // outside both margins: call it a change
        const significant = Math.abs(ratio - 1) * 100 > r.rme + b.rme;
        cells.push(`${ratio.toFixed(2)}x${significant ? (ratio > 1 ? ' faster' : ' slower') : ''}`);
      }
    }
    return cells;
  });
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const right = new Set([2, 3, 4, 5, 6, 7, 8, 9]);
  const line = (row: string[]) => '| ' + row.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ') + ' |';
  const sep = '|' + widths.map((w, i) => (right.has(i) ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|';
  return [line(head), sep, ...body.map(line)].join('\n');
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: {
      save: { type: 'string' },
      compare: { type: 'string' },
      time: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || values.list) {
    console.log(usage());
    return 0;
  }
  const unknown = positionals.filter((p) => !SUITES.some((s) => s.name === p));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const time = values.time === undefined ? 1000 : Number(values.time);
  if (!Number.isFinite(time) || time <= 0) {
    console.error('--time must be a positive number of milliseconds');
    return 2;
  }
  let baseline: Map<string, ResultRow> | undefined;
  if (values.compare !== undefined) {
    const b = JSON.parse(readFileSync(values.compare, 'utf8')) as Baseline;
    baseline = new Map(b.results.map((r) => [`${r.suite}/${r.task}`, r]));
    console.log(`comparing with ${values.compare} (saved ${b.savedAt}, node ${b.node}, ${b.cpu})`);
  }
  const selected = positionals.length === 0 ? SUITES : SUITES.filter((s) => positionals.includes(s.name));
  const cpu = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown cpu'}`;
  console.log(`node ${process.version}, ${cpu}, ${time} ms per task`);
  const rows: ResultRow[] = [];
  const notes: string[] = [];
  const started = performance.now();
  for (const suite of selected) {
    const t0 = performance.now();
    console.log(`running ${suite.name}: ${suite.description}`);
    const out = await suite.run({ time, log: (l) => console.log(l) });
    rows.push(...out.rows);
    notes.push(...out.notes);
    console.log(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  console.log('');
  console.log(table(rows, baseline));
  if (notes.length > 0) {
    console.log('');
    for (const n of notes) console.log(n);
  }
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (values.save !== undefined) {
    let results = rows;
    // saving a subset keeps the other suites of an existing baseline
    if (positionals.length > 0) {
      try {
        const old = JSON.parse(readFileSync(values.save, 'utf8')) as Baseline;
        const fresh = new Set(rows.map((r) => `${r.suite}/${r.task}`));
        results = [...old.results.filter((r) => !fresh.has(`${r.suite}/${r.task}`) && !selected.some((s) => s.name === r.suite)), ...rows];
      } catch {
        // no usable baseline yet
      }
    }
    const out: Baseline = { version: 1, savedAt: new Date().toISOString(), node: process.version, cpu, results };
    writeFileSync(values.save, JSON.stringify(out, null, 2) + '\n');
    console.log(`saved ${results.length} results to ${values.save}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
