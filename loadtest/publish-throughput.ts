/**
 * `npm run loadtest:publish -- [--logs embedded,pulsar] [--concurrency 1,16] [--seconds 20] [--size 1024] [--out FILE.md]`
 *
 * Closed-loop publish throughput into ONE area through the engine's REST API: C publishers, each
 * POSTs, waits for its 201 (the message is durable: fsynced by LMDB, or persisted by the bookie and
 * read back from Pulsar), then POSTs the next. Per log and concurrency: publishes per second, the
 * POST-to-201 latency (P50/P99/max), and the CPU of the engine and of the Pulsar broker, all in one
 * invocation (same machine state). Both logs run the same engine build with one process.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { build } from 'hdr-histogram-js';
import { startEngine, type EngineHandle } from './engine-process.ts';
import { cpuTimes, describeMachine, loadAverage, memory } from './proc-stats.ts';
import { httpSender } from './publisher.ts';
import { cpuDiff, fmt, log, REPO, round, sleep } from './swarm.ts';
import { pulsarLog } from './target.ts';

interface Row {
  readonly log: string;
  readonly concurrency: number;
  readonly publishes: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly failures: number;
  readonly engineCpuPct: number;
  readonly brokerCpuPct: number | undefined;
  readonly brokerRssMB: number | undefined;
}

const { values } = parseArgs({
  options: {
    logs: { type: 'string', default: 'embedded,pulsar' },
    concurrency: { type: 'string', default: '1,16' },
    seconds: { type: 'string', default: '20' },
    size: { type: 'string', default: '1024' },
    out: { type: 'string', default: 'loadtest/results/publish-throughput.md' },
  },
});
const logs = values.logs.split(',') as ('embedded' | 'pulsar')[];
const levels = values.concurrency.split(',').map(Number);
const seconds = Number(values.seconds);
const size = Number(values.size);

async function measure(engine: EngineHandle, area: string, concurrency: number, brokerPid: number | undefined): Promise<Omit<Row, 'log'>> {
  const sender = httpSender({ host: engine.host, port: engine.port }, [area], concurrency);
  const body = Buffer.from(JSON.stringify({ kind: 'bench', pad: 'x'.repeat(Math.max(0, size - 30)) }));
  const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let ok = 0;
  let failures = 0;
  let measuring = false;
  let stop = false;
  const loop = async (): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      const good = 'offset' in (await sender.send(0, body));
      if (!measuring) continue;
      if (good) {
        ok++;
        hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      } else failures++;
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(2000); // warm-up: producer and reader open, JIT warm
  const pids = engine.pids();
  const cpu0 = pids.map((p) => cpuTimes(p));
  const b0 = brokerPid === undefined ? undefined : cpuTimes(brokerPid);
  const started = performance.now();
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const wall = (performance.now() - started) / 1000;
  const engineCpu = pids.reduce((a, p, i) => a + (cpuDiff(cpuTimes(p), cpu0[i]) ?? 0), 0);
  const brokerCpu = brokerPid === undefined ? undefined : cpuDiff(cpuTimes(brokerPid), b0);
  stop = true;
  await Promise.all(loops);
  sender.close();
  return {
    concurrency,
    publishes: ok,
    perSecond: round(ok / wall, 1),
    p50Ms: round(hist.getValueAtPercentile(50) / 1000, 2),
    p99Ms: round(hist.getValueAtPercentile(99) / 1000, 2),
    maxMs: round(hist.maxValue / 1000, 2),
    failures,
    engineCpuPct: round((engineCpu / wall) * 100, 0),
    brokerCpuPct: brokerCpu === undefined ? undefined : round((brokerCpu / wall) * 100, 0),
    brokerRssMB: brokerPid === undefined ? undefined : Math.round((memory(brokerPid)?.rssKB ?? 0) / 1024),
  };
}

async function main(): Promise<void> {
  const machine = describeMachine();
  const loadStart = loadAverage();
  const rows: Row[] = [];
  for (const l of logs) {
    const runId = `pt${Date.now().toString(36)}`;
    const pulsar = l === 'pulsar' ? await pulsarLog(runId) : undefined;
    const engine = await startEngine({ repoRoot: REPO, workers: 1, logPath: `/tmp/abe-publish-throughput-${l}.log`, extraArgs: [...(pulsar?.args ?? []), '--max-pending-appends', '100000'] });
    try {
      for (const c of levels) {
        log(`${l}: ${c} closed-loop publisher(s) for ${seconds} s`);
        const r = { log: l, ...(await measure(engine, `bench:throughput-${runId}-${c}`, c, pulsar?.pid)) };
        log(`${l} x${c}: ${fmt(r.perSecond)} publishes/s, P50 ${r.p50Ms} ms, P99 ${r.p99Ms} ms, max ${r.maxMs} ms, ${r.failures} failed; engine ${r.engineCpuPct}% CPU${r.brokerCpuPct === undefined ? '' : `, broker ${r.brokerCpuPct}% CPU, ${r.brokerRssMB} MB RSS`}`);
        rows.push(r);
      }
    } finally {
      await engine.stop();
      await pulsar?.drop();
    }
  }
  const lines = [
    '# Publish throughput into one area, closed loop',
    '',
    `C publishers each POST ${size} B JSON to one area and wait for the 201 before the next; ${seconds} s measured after 2 s of warm-up; one engine process. ` +
      `Machine: ${machine.nproc} cores, Node ${machine.node}, ${machine.date}; load average at start ${loadStart.raw}, at end ${loadAverage().raw}.`,
    '',
    '| Log | Publishers | Publishes/s | P50 | P99 | Max | Failed | Engine CPU | Broker CPU | Broker RSS |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.log} | ${r.concurrency} | ${fmt(r.perSecond)} | ${r.p50Ms} ms | ${r.p99Ms} ms | ${r.maxMs} ms | ${r.failures} | ${r.engineCpuPct}% | ${r.brokerCpuPct === undefined ? '-' : `${r.brokerCpuPct}%`} | ${r.brokerRssMB === undefined ? '-' : `${r.brokerRssMB} MB`} |`),
    '',
  ];
  for (const c of levels) {
    const e = rows.find((r) => r.log === 'embedded' && r.concurrency === c);
    const p = rows.find((r) => r.log === 'pulsar' && r.concurrency === c);
    if (e && p) lines.push(`- ${c} publisher(s): Pulsar ${fmt(p.perSecond)} / embedded ${fmt(e.perSecond)} publishes/s = ${round(p.perSecond / Math.max(1, e.perSecond), 2)}x`);
  }
  writeFileSync(values.out, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n\nwrote ${values.out}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`publish-throughput: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
