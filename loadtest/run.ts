/**
 * `npm run loadtest -- <scenario.json | scenario name> [flags]`: the vehicle swarm (./README.md).
 *
 * Runs the scenario against each --target in turn (engine, bare broadcaster, or an engine already
 * running: ./run-target.ts), writes <out>.json (OpenMessaging Benchmark TestResult keys + ours),
 * <out>.md and <out>.svg per run, and with several targets a comparison table and chart.
 * `npm run loadtest -- --table a.json b.json ...` builds that table from earlier results
 * (e.g. the 20K / 40K / 100K rows of the NTT comparison).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseCli, targetName, USAGE, type Cli } from './cli.ts';
import { comparisonMarkdown, runMarkdown, type TableRow } from './markdown.ts';
import type { RunResult } from './result.ts';
import { cleanup, runTarget } from './run-target.ts';
import { log } from './swarm.ts';
import { latencyChart } from './svg.ts';

const label = (r: TableRow): string => `${r.workload} ${r.target} (${r.connections.toLocaleString('en-US')} vehicles)`;

function writeTable(files: readonly string[], out: string | undefined): void {
  const rows = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as RunResult);
  const base = (out ?? files[0].replace(/\.json$/, '-comparison.md')).replace(/\.md$/, '');
  writeFileSync(`${base}.md`, comparisonMarkdown(rows));
  writeFileSync(`${base}.svg`, latencyChart('End-to-end latency by percentile', rows.map((r) => ({ label: label(r), quantiles: r.aggregatedEndToEndLatencyQuantiles }))));
  process.stdout.write(`${comparisonMarkdown(rows)}\nwrote ${base}.md and ${base}.svg\n`);
}

async function runAll(cli: Cli): Promise<number> {
  mkdirSync(dirname(cli.outBase), { recursive: true });
  const results: RunResult[] = [];
  for (const t of cli.targets) {
    const base = cli.targets.length === 1 ? cli.outBase : `${cli.outBase}-${targetName(t).replace(/[^A-Za-z0-9.-]/g, '_')}`;
    const r = await runTarget(cli, t, base);
    results.push(r);
    writeFileSync(`${base}.json`, JSON.stringify(r, null, 2) + '\n');
    const md = runMarkdown(r);
    writeFileSync(`${base}.md`, md);
    writeFileSync(`${base}.svg`, latencyChart(`${r.workload} on ${r.target}: end-to-end latency by percentile`, [{ label: label(r), quantiles: r.aggregatedEndToEndLatencyQuantiles }]));
    process.stdout.write(`\n${md}\nwrote ${base}.json, .md and .svg${r.logPath === undefined ? '' : ` (target log ${r.logPath})`}\n`);
    if (r.aborted !== '') break;
  }
  if (results.length > 1) {
    writeFileSync(`${cli.outBase}-comparison.md`, comparisonMarkdown(results, `${cli.scenario.name}: ${results.map((r) => r.target).join(' vs ')}`));
    writeFileSync(`${cli.outBase}-comparison.svg`, latencyChart(`${cli.scenario.name}: end-to-end latency by percentile`, results.map((r) => ({ label: label(r), quantiles: r.aggregatedEndToEndLatencyQuantiles }))));
    log(`wrote ${cli.outBase}-comparison.md and .svg`);
  }
  return results.some((r) => r.aborted !== '') ? 1 : 0;
}

async function main(): Promise<void> {
  let cmd;
  try {
    cmd = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`loadtest: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if ('table' in cmd) return writeTable(cmd.table, cmd.out);
  process.on('SIGINT', () => {
    process.stderr.write('\nloadtest: interrupted (SIGINT)\n');
    void cleanup().finally(() => process.exit(130));
  });
  process.exitCode = await runAll(cmd.run);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`loadtest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await cleanup().catch(() => undefined);
  process.exit(1);
});
