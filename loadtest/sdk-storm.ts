/**
 * Reconnect storm of SDK clients [issue 15 Proof 2]: `--clients` abe-client Clients in
 * `--processes` child processes (./sdk-storm-worker.ts) over `ws`, one area each out of `--areas`,
 * a publisher at `--rate` msg/s over all areas for the whole run. Once all are subscribed the
 * engine is restarted (SIGTERM: every socket gets 1001 going_away; same port and data dir), and
 * the run waits until every client has resumed and caught up. Run once with jitter and once
 * without (`--jitter both`, the default) to show the herd full jitter prevents.
 *
 *   npm run loadtest:sdk-storm -- --clients 10000 --processes 4 --out loadtest/results/issue15/storm
 *
 * Reports: connect attempts per 100 ms and per second (peak), time from the engine listening
 * again to the last client resumed, lost / duplicated messages per client against the area heads
 * (nothing else publishes and nothing expires, so each area's offsets are 1..head), and an SVG
 * timeline of attempts/s for both modes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lowFreePort } from '../engine/testing/ports.ts';
import { startEngine, type EngineHandle } from './engine-process.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface ModeResult {
  mode: 'jitter' | 'no-jitter';
  clients: number;
  downMs: number;
  /** ms from the engine listening again to the last client resumed. */
  allResumedMs: number;
  resumedP50Ms: number;
  resumedP99Ms: number;
  peakAttemptsPer100ms: number;
  /** The same over the planned start of each retry (close seen + backoff delay), free of the load generator's CPU. */
  peakPlannedPer100ms: number;
  peakAttemptsPerSecond: number;
  attemptsAfterRestart: number;
  /** attempts per 100 ms from the restart, for the chart. */
  timeline: number[];
  lost: number;
  duplicated: number;
  recoveredFalse: number;
  delivered: number;
  published: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export interface StormOptions {
  clients: number;
  processes: number;
  areas: number;
  rate: number;
  minDelay: number;
  maxDelay: number;
  /** Path prefix of the engine logs (and of the report in main()). */
  out: string;
  /** How the engine goes down: SIGTERM (1001 to every client, closed over a few seconds) or kill -9 (every client sees the loss at once). */
  restart?: 'sigterm' | 'kill9';
  /** Publishing before the restart, and after everyone resumed (ms; default 5000 each). */
  beforeMs?: number;
  afterMs?: number;
}

export async function runMode(jitter: boolean, o: StormOptions): Promise<ModeResult> {
  const mode = jitter ? 'jitter' : 'no-jitter';
  // below the ephemeral range: restarted under thousands of reconnect attempts (engine/testing/ports.ts)
  const enginePort = await lowFreePort();
  const engine: EngineHandle = await startEngine({ repoRoot: REPO, logPath: `${o.out}-${mode}.engine.log`, extraArgs: ['--max-connections', String(o.clients + 2000), '--port', String(enginePort)] });
  const url = `ws://127.0.0.1:${engine.port}/v1/ws`;
  const areas = Array.from({ length: o.areas }, (_, i) => `storm:a${i}`);
  const workers: ChildProcess[] = [];
  const progress = new Map<number, { subscribed: number; resumed: number }>();
  const reports: Promise<{ attempts: number[]; planned: number[]; resumedAt: number[]; lost: number; dups: number; recoveredFalse: number; delivered: number }>[] = [];
  const per = Math.ceil(o.clients / o.processes);
  for (let w = 0; w < o.processes; w++) {
    const child = fork(join(REPO, 'loadtest', 'sdk-storm-worker.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: REPO });
    workers.push(child);
    reports.push(
      new Promise((res) =>
        child.on('message', (m: { type: string; subscribed?: number; resumed?: number }) => {
          if (m.type === 'progress') progress.set(w, { subscribed: m.subscribed!, resumed: m.resumed! });
          if (m.type === 'report') res(m as never);
        }),
      ),
    );
    const count = Math.min(per, o.clients - w * per);
    child.send({ type: 'init', url, first: w * per, count, areas, jitter, minDelay: o.minDelay, maxDelay: o.maxDelay, localAddress: `127.0.0.${w + 2}` });
  }
  const total = (k: 'subscribed' | 'resumed') => [...progress.values()].reduce((s, p) => s + p[k], 0);
  const t0 = Date.now();
  while (total('subscribed') < o.clients) {
    if (Date.now() - t0 > 180_000) throw new Error(`only ${total('subscribed')} of ${o.clients} subscribed`);
    await sleep(200);
  }
  console.log(`[sdk-storm ${mode}] ${o.clients} clients subscribed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // publisher: rate msg/s round robin, every answer recorded
  const heads: Record<string, number> = {};
  let published = 0;
  let publishing = true;
  const publisher = (async () => {
    for (let i = 0; publishing; i++) {
      const area = areas[i % areas.length];
      const started = Date.now();
      try {
        const res = await fetch(`http://127.0.0.1:${engine.port}/v1/areas/${area}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ i }) });
        const j = (await res.json()) as { offset?: number };
        if (res.status === 201 && typeof j.offset === 'number') {
          heads[area] = Math.max(heads[area] ?? 0, j.offset);
          published++;
        }
      } catch {
        // the engine is restarting: not acknowledged, not expected
      }
      await sleep(Math.max(0, 1000 / o.rate - (Date.now() - started)));
    }
  })();
  await sleep(o.beforeMs ?? 5000);
  const restartAt = Date.now();
  for (const w of workers) w.send({ type: 'restart', at: restartAt });
  if (o.restart === 'kill9') for (const pid of engine.pids()) process.kill(pid, 'SIGKILL');
  const { downMs } = await engine.restart();
  const upAt = Date.now();
  console.log(`[sdk-storm ${mode}] engine restarted, down ${downMs} ms`);
  while (total('resumed') < o.clients) {
    if (Date.now() - upAt > 300_000) throw new Error(`only ${total('resumed')} of ${o.clients} resumed`);
    await sleep(100);
  }
  const allResumedMs = Date.now() - upAt;
  console.log(`[sdk-storm ${mode}] all resumed ${allResumedMs} ms after the engine was back`);
  await sleep(o.afterMs ?? 5000);
  publishing = false;
  await publisher;
  await sleep(3000); // the last messages reach everyone
  for (const w of workers) w.send({ type: 'finish', heads });
  const rs = await Promise.all(reports);
  await engine.stop();
  const attempts = rs.flatMap((r) => r.attempts).filter((t) => t >= restartAt);
  const resumed = rs.flatMap((r) => r.resumedAt).map((t) => t - upAt);
  const plannedBuckets = new Map<number, number>();
  for (const t of rs.flatMap((r) => r.planned)) if (t >= restartAt) plannedBuckets.set(Math.floor((t - restartAt) / 100), (plannedBuckets.get(Math.floor((t - restartAt) / 100)) ?? 0) + 1);
  const buckets = new Map<number, number>();
  for (const t of attempts) buckets.set(Math.floor((t - restartAt) / 100), (buckets.get(Math.floor((t - restartAt) / 100)) ?? 0) + 1);
  const span = Math.max(0, ...buckets.keys()) + 1;
  const timeline = Array.from({ length: span }, (_, i) => buckets.get(i) ?? 0);
  let peakSecond = 0;
  for (let i = 0; i < timeline.length; i++) peakSecond = Math.max(peakSecond, timeline.slice(i, i + 10).reduce((a, b) => a + b, 0));
  return {
    mode,
    clients: o.clients,
    downMs: Math.round(downMs),
    allResumedMs,
    resumedP50Ms: pct(resumed, 50),
    resumedP99Ms: pct(resumed, 99),
    peakAttemptsPer100ms: Math.max(0, ...timeline),
    peakPlannedPer100ms: Math.max(0, ...plannedBuckets.values()),
    peakAttemptsPerSecond: peakSecond,
    attemptsAfterRestart: attempts.length,
    timeline,
    lost: rs.reduce((s, r) => s + r.lost, 0),
    duplicated: rs.reduce((s, r) => s + r.dups, 0),
    recoveredFalse: rs.reduce((s, r) => s + r.recoveredFalse, 0),
    delivered: rs.reduce((s, r) => s + r.delivered, 0),
    published,
  };
}

/** Connect attempts per second over time, one line per mode (SVG, no dependencies). */
function timelineSvg(results: ModeResult[]): string {
  const W = 760;
  const H = 360;
  const m = { l: 60, r: 20, t: 30, b: 40 };
  const perSecond = (r: ModeResult) => r.timeline.map((_, i) => r.timeline.slice(Math.max(0, i - 9), i + 1).reduce((a, b) => a + b, 0));
  const series = results.map(perSecond);
  const maxX = Math.max(1, ...series.map((s) => s.length)) / 10;
  const maxY = Math.max(1, ...series.flat());
  const x = (i: number) => m.l + ((i / 10) / maxX) * (W - m.l - m.r);
  const y = (v: number) => H - m.b - (v / maxY) * (H - m.t - m.b);
  const colors = ['#1f77b4', '#d62728'];
  const lines = series.map((s, k) => `<polyline fill="none" stroke="${colors[k]}" stroke-width="1.5" points="${s.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/><text x="${W - 200}" y="${m.t + 16 * (k + 1)}" fill="${colors[k]}" font-size="12">${results[k].mode}: peak ${results[k].peakAttemptsPerSecond}/s</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><text x="${m.l}" y="18" font-size="14">connect attempts per second (sliding 1 s) after the engine restart</text><line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#000"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#000"/><text x="${m.l - 5}" y="${m.t + 4}" text-anchor="end" font-size="11">${maxY}</text><text x="${W - m.r}" y="${H - m.b + 16}" text-anchor="end" font-size="11">${maxX.toFixed(1)} s</text>${lines.join('')}</svg>`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '10000' },
      processes: { type: 'string', default: '4' },
      areas: { type: 'string', default: '100' },
      rate: { type: 'string', default: '100' },
      jitter: { type: 'string', default: 'both' },
      'min-delay': { type: 'string', default: '1000' },
      'max-delay': { type: 'string', default: '30000' },
      out: { type: 'string', default: 'loadtest/results/issue15/storm' },
      restart: { type: 'string', default: 'sigterm' },
    },
  });
  const o = { clients: Number(values.clients), processes: Number(values.processes), areas: Number(values.areas), rate: Number(values.rate), minDelay: Number(values['min-delay']), maxDelay: Number(values['max-delay']), out: values.out!, restart: values.restart === 'kill9' ? ('kill9' as const) : ('sigterm' as const) };
  mkdirSync(dirname(o.out), { recursive: true });
  const modes = values.jitter === 'both' ? [true, false] : [values.jitter !== 'off'];
  const results: ModeResult[] = [];
  for (const j of modes) results.push(await runMode(j, o));
  const rows = results.map((r) => `| ${r.mode} | ${r.clients} | ${r.downMs} | ${r.peakPlannedPer100ms} | ${r.peakAttemptsPer100ms} | ${r.peakAttemptsPerSecond} | ${r.attemptsAfterRestart} | ${r.resumedP50Ms} / ${r.resumedP99Ms} | ${r.allResumedMs} | ${r.published} | ${r.lost} | ${r.duplicated} | ${r.recoveredFalse} |`);
  const md = [
    `# SDK reconnect storm (${new Date().toISOString()})`,
    '',
    `${o.clients} abe-client clients in ${o.processes} processes, ${o.areas} areas, ${o.rate} msg/s; engine restarted after ${o.restart === 'kill9' ? 'kill -9 (every client loses its connection at the same instant)' : 'SIGTERM (1001 to every client, sent over a few seconds)'}. Backoff window ${o.minDelay} ms doubling to ${o.maxDelay} ms.`,
    '',
    '| mode | clients | engine down (ms) | peak planned retries / 100 ms | peak attempts / 100 ms | peak attempts / s | attempts after restart | resumed P50 / P99 (ms after up) | all resumed (ms after up) | published | lost | duplicated | recovered:false |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    'Planned retries: when each client meant to try again (its close seen + its backoff delay), which is what a fleet of independent vehicles would send; attempts: when this machine\'s 4 client processes actually got to open the socket (their CPU spreads them).',
    '',
    `![attempts per second](${o.out.split('/').pop()}.svg)`,
    '',
  ].join('\n');
  writeFileSync(`${o.out}.md`, md);
  writeFileSync(`${o.out}.json`, JSON.stringify(results, null, 2));
  writeFileSync(`${o.out}.svg`, timelineSvg(results));
  console.log(md);
  const bad = results.filter((r) => r.lost > 0 || r.duplicated > 0);
  process.exit(bad.length > 0 ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
