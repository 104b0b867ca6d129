/**
 * Markdown for one run (<name>.md) and for several (the NTT-style table: one row per run, e.g.
 * 20K / 40K / 100K vehicles, plus ratios between runs of the same scenario on different targets
 * and between acks on and off).
 */
import { breakdownMarkdown } from '../engine/metrics/breakdown.ts';
import type { RunResult } from './result.ts';

const n = (x: number | undefined, digits = 0): string => (x === undefined || Number.isNaN(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const size = (b: number): string => (b >= 1024 && b % 1024 === 0 ? `${b / 1024} KB` : `${b} B`);
const transports = (r: TableRow): string => (r.scenario.mix ?? [{ transport: r.scenario.transport, share: 1 }]).map((m) => m.transport).join(' + ');
const rate = (r: RunResult): string => (r.scenario.producerRate === 'max' ? 'max rate' : `${r.scenario.producerRate}/s`);

/** The subset of a report the tables read (older result files lack the newer keys). */
export type TableRow = Pick<
  RunResult,
  | 'workload'
  | 'target'
  | 'connections'
  | 'messageSize'
  | 'scenario'
  | 'aggregatedEndToEndLatencyAvg'
  | 'aggregatedEndToEndLatency50pct'
  | 'aggregatedEndToEndLatency99pct'
  | 'aggregatedEndToEndLatency999pct'
  | 'aggregatedEndToEndLatencyMax'
  | 'connectTimeSeconds'
  | 'delivered'
  | 'expected'
  | 'lost'
  | 'duplicated'
  | 'outOfOrder'
  | 'deliveriesPerSecond'
  | 'engine'
> &
  Partial<Pick<RunResult, 'aggregatedPublishLatency50pct' | 'aggregatedPublishLatency99pct' | 'processes' | 'loadGenerator'>>;

/** Wire bytes per message frame the vehicles read (undefined for results without the counts). */
const bytesPerDelivery = (r: TableRow): number | undefined => (r.loadGenerator === undefined || r.loadGenerator.frames === 0 ? undefined : r.loadGenerator.bytes / r.loadGenerator.frames);
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b === 0 ? '-' : `${n(a / b, 2)}x`);

const HEADER = [
  '| Scenario | Vehicles | Transport | Target | Processes | Message | Acks | Avg | P50 | P99 | P99.9 | Max | Connect all | Lost / dup / out-of-order | Deliveries/s | Target CPU | RSS per connection |',
  '|---|---:|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
];

function row(r: TableRow): string {
  const e = r.engine;
  return (
    `| ${r.workload} | ${n(r.connections)} | ${transports(r)} | ${r.target} | ${n(e?.processes)} | ${size(r.messageSize)} @ ${rate(r as RunResult)} | ${r.scenario.acks ? 'on' : 'off'} | ` +
    `${n(r.aggregatedEndToEndLatencyAvg, 1)} ms | ${n(r.aggregatedEndToEndLatency50pct, 1)} ms | ${n(r.aggregatedEndToEndLatency99pct, 1)} ms | ${n(r.aggregatedEndToEndLatency999pct, 1)} ms | ${n(r.aggregatedEndToEndLatencyMax, 1)} ms | ` +
    `${n(r.connectTimeSeconds, 2)} s | ${n(r.lost)} / ${n(r.duplicated)} / ${n(r.outOfOrder)} | ${n(r.deliveriesPerSecond)} | ` +
    `${e?.cpuSeconds === undefined ? '-' : `${n(e.cpuPercent, 0)}% of a core`} | ${e?.rssPerConnectionBytes === undefined ? '-' : `${n(e.rssPerConnectionBytes)} B`} |`
  );
}

/** NTT's figures (Pulsar broadcast subscription, one 16-vCPU broker, 10 KB at 1 msg/s), for the 100K row. */
export const NTT_NOTE = 'NTT (Pulsar broadcast subscription, 16 vCPU broker, 10 KB at 1 msg/s): 100K consumers avg 0.44 s, P99 0.94 s, all connected in 39.6 s; 40K before the fix: P99 4.09 s.';

/** The NTT-style table over several runs, with ratios where two runs share a scenario. */
export function comparisonMarkdown(rows: readonly TableRow[], title = 'Comparison'): string {
  const sorted = [...rows].sort((a, b) => a.connections - b.connections || a.workload.localeCompare(b.workload) || a.target.localeCompare(b.target));
  const lines = [`# ${title}`, '', ...HEADER, ...sorted.map(row), '', NTT_NOTE, ''];
  const ratios: string[] = [];
  const byWorkload = new Map<string, TableRow[]>();
  for (const r of rows) byWorkload.set(r.workload, [...(byWorkload.get(r.workload) ?? []), r]);
  for (const [w, rs] of byWorkload) {
    const bare = rs.find((r) => r.target === 'bare');
    const eng = rs.find((r) => r.target === 'engine' && bare !== undefined && transports(r) === transports(bare) && r.scenario.acks === bare.scenario.acks);
    if (eng !== undefined && bare !== undefined) {
      ratios.push(
        `${w}: engine / bare deliveries per second ${n((100 * eng.deliveriesPerSecond) / Math.max(1, bare.deliveriesPerSecond), 1)}%, ` +
          `P99 ${n(eng.aggregatedEndToEndLatency99pct, 1)} / ${n(bare.aggregatedEndToEndLatency99pct, 1)} ms (${n(eng.aggregatedEndToEndLatency99pct / Math.max(0.001, bare.aggregatedEndToEndLatency99pct), 2)}x), ` +
          `target CPU ${n(eng.engine?.cpuSeconds, 1)} / ${n(bare.engine?.cpuSeconds, 1)} s (${ratio(eng.engine?.cpuSeconds, bare.engine?.cpuSeconds)}), ` +
          `bytes per delivery ${n(bytesPerDelivery(eng))} / ${n(bytesPerDelivery(bare))} B (${ratio(bytesPerDelivery(eng), bytesPerDelivery(bare))})`,
      );
    }
  }
  // The Pulsar log against the embedded one, same workload (issue 12 targets: P99 <= 1.25x, REST publish P99 <= 50 ms).
  for (const [w, rs] of byWorkload) {
    const emb = rs.find((r) => r.target === 'engine');
    const pul = rs.find((r) => r.target === 'engine-pulsar');
    if (emb === undefined || pul === undefined) continue;
    const broker = pul.processes?.find((p) => p.role.startsWith('pulsar broker'));
    ratios.push(
      `${w}: engine on Pulsar / on embedded P99 ${n(pul.aggregatedEndToEndLatency99pct, 1)} / ${n(emb.aggregatedEndToEndLatency99pct, 1)} ms (${n(pul.aggregatedEndToEndLatency99pct / Math.max(0.001, emb.aggregatedEndToEndLatency99pct), 2)}x; target at most 1.25x), ` +
        `P50 ${n(pul.aggregatedEndToEndLatency50pct, 1)} / ${n(emb.aggregatedEndToEndLatency50pct, 1)} ms; REST publish P50 / P99 ${n(pul.aggregatedPublishLatency50pct, 1)} / ${n(pul.aggregatedPublishLatency99pct, 1)} ms on Pulsar ` +
        `(embedded ${n(emb.aggregatedPublishLatency50pct, 1)} / ${n(emb.aggregatedPublishLatency99pct, 1)} ms; target P99 at most 50 ms); engine CPU ${n(pul.engine.cpuPercent, 0)}% vs ${n(emb.engine.cpuPercent, 0)}% of a core` +
        (broker === undefined ? '' : `; the broker ${n(broker.cpuPercent, 0)}% of a core (${n(broker.cpuSeconds, 1)} CPU s), ${'note' in broker ? broker.note : ''}`),
    );
  }
  const acksOn = rows.filter((r) => r.scenario.acks);
  for (const on of acksOn) {
    const off = rows.find(
      (r) => !r.scenario.acks && r.target === on.target && transports(r) === transports(on) && r.connections === on.connections && r.messageSize === on.messageSize && r.scenario.producerRate === on.scenario.producerRate,
    );
    if (off === undefined) continue;
    const pct = (100 * (on.aggregatedEndToEndLatency99pct - off.aggregatedEndToEndLatency99pct)) / Math.max(0.001, off.aggregatedEndToEndLatency99pct);
    ratios.push(`ack storm (${on.workload}) vs acks off (${off.workload}): P99 ${n(on.aggregatedEndToEndLatency99pct, 1)} vs ${n(off.aggregatedEndToEndLatency99pct, 1)} ms (${pct >= 0 ? '+' : ''}${n(pct, 1)}%; target at most +10%)`);
  }
  if (ratios.length > 0) lines.push('## Ratios', '', ...ratios.map((x) => `- ${x}`), '');
  return lines.join('\n');
}

export function runMarkdown(r: RunResult): string {
  const s = r.scenario;
  const lines = [
    `# Load test: ${r.workload} (${r.target})`,
    '',
    r.description ?? '',
    '',
    `${r.driver}; ${n(r.connections)} vehicles over ${r.topics} area(s); ${size(r.messageSize)} at ${rate(r)} for ${s.durationSeconds} s; acks ${s.acks ? 'on' : 'off'}; ` +
      `${r.engine.processes} ${r.engine.kind} process(es).`,
    `Machine: ${r.machine.nproc} cores (${r.machine.cpuModel}), Node ${r.machine.node}, ${r.machine.kernel}; ${r.machine.date}. Load average at start ${r.loadAverage.start}, at end ${r.loadAverage.end}.`,
    '',
    ...HEADER,
    row(r),
    '',
    `End-to-end latency is publisher send (REST POST) to vehicle receive. Of it, the REST publish itself (POST to 201) took P50 ${n(r.aggregatedPublishLatency50pct, 1)} ms / ` +
      `P99 ${n(r.aggregatedPublishLatency99pct, 1)} ms, and engine accept to receive (ms clock) P50 ${n(r.acceptToReceive.p50Ms, 1)} / P99 ${n(r.acceptToReceive.p99Ms, 1)} / max ${n(r.acceptToReceive.maxMs, 1)} ms.` +
      (r.engine.fanoutAvgMs === undefined ? '' : ` The fan-out loop took ${n(r.engine.fanoutAvgMs, 1)} ms per message on average.`) +
      ` Delivered ${n(r.delivered)} of ${n(r.expected)} expected; ${n(r.published.ok)} messages published (${n(r.published.perSecond, 1)}/s measured).`,
    '',
  ];
  const transports = Object.entries(r.byTransport);
  if (transports.length > 1 || r.slowReaders !== undefined) {
    lines.push('| Vehicles | Count (measured deliveries) | Avg | P50 | P99 | Max |', '|---|---:|---:|---:|---:|---:|');
    for (const [t, l] of transports) lines.push(`| ${t} | ${n(l.count)} | ${n(l.avgMs, 1)} ms | ${n(l.p50Ms, 1)} ms | ${n(l.p99Ms, 1)} ms | ${n(l.maxMs, 1)} ms |`);
    const sl = r.slowReaders;
    if (sl !== undefined) lines.push(`| slow readers (${n(sl.share * 100, 0)}%, paused ${sl.pauseMs} of ${sl.periodMs} ms) | ${n(sl.latency.count)} | ${n(sl.latency.avgMs, 1)} ms | ${n(sl.latency.p50Ms, 1)} ms | ${n(sl.latency.p99Ms, 1)} ms | ${n(sl.latency.maxMs, 1)} ms |`);
    lines.push('', 'The main figures above are normal readers only; slow readers are reported on their own line.', '');
  }
  if (r.reconnect !== undefined) {
    const rc = r.reconnect;
    lines.push(
      '## Reconnects',
      '',
      `${n(rc.dropped)} vehicles dropped their connection on purpose and ${n(rc.resubscribed)} resumed (WebSocket: subscribe with (epoch, last offset); MQTT: the broker resumed the session) (${n(rc.recoveredFalse)} answered recovered:false or lost their session)` +
        (rc.stormSeconds === undefined ? '.' : `; first drop to last resubscribed: ${rc.stormSeconds} s.`) +
        ` Drop to resubscribed per vehicle: P50 ${n(rc.dropToResubscribed.p50Ms, 1)} ms, P99 ${n(rc.dropToResubscribed.p99Ms, 1)} ms, max ${n(rc.dropToResubscribed.maxMs, 1)} ms.` +
        ` Lost / duplicated / out of order over the whole run: ${n(r.lost)} / ${n(r.duplicated)} / ${n(r.outOfOrder)}.`,
      '',
    );
    const er = rc.engineRestart;
    if (er !== undefined) lines.push(`Engine-side storm: ${er.how === 'sigterm' ? 'SIGTERM of every engine process, then a restart on the same port and data dir' : `kill -9 of ${er.workers ?? 'every'} engine worker(s), restarted by the primary`} at second ${er.atSecond} of the measured window.`, '');
    lines.push(`Peak reconnect rate: ${n(rc.peakResubscribesPerSecond)} resubscribes in one second${rc.peakAtSecond === undefined ? '' : ` (second ${rc.peakAtSecond} after the first drop)`}; per second: ${rc.resubscribesPerSecond.map((x) => n(x)).join(', ')}.`, '');
    const st = rc.stayedConnected;
    if (st !== undefined) {
      lines.push(
        `Vehicles still connected after the storm began (their deliveries from the first drop on) against every vehicle before it, same run:`,
        '',
        '| Deliveries | Count | P50 | P99 | Max |',
        '|---|---:|---:|---:|---:|',
        `| before the storm (all vehicles) | ${n(st.beforeStorm.count)} | ${n(st.beforeStorm.p50Ms, 1)} ms | ${n(st.beforeStorm.p99Ms, 1)} ms | ${n(st.beforeStorm.maxMs, 1)} ms |`,
        `| during/after it (vehicles that stayed) | ${n(st.latency.count)} | ${n(st.latency.p50Ms, 1)} ms | ${n(st.latency.p99Ms, 1)} ms | ${n(st.latency.maxMs, 1)} ms |`,
        '',
      );
    }
  }
  if (r.engine.stageBreakdown !== undefined) lines.push(breakdownMarkdown(r.engine.stageBreakdown, '## Where the time went (engine stage timings, measured run only)'));
  lines.push(
    '## CPU per process (measured window)',
    '',
    "CPU seconds are user + system (system in brackets). On loopback the kernel does much of the receiving side's TCP work in the sender's context, so system time is charged to whoever writes.",
    '',
    '| Process | PID | CPU seconds | % of one core | CPU seconds while connecting | Note |',
    '|---|---:|---:|---:|---:|---|',
    ...r.processes.map(
      (p) =>
        `| ${p.role} | ${p.pid} | ${n(p.cpuSeconds, 2)}${'systemCpuSeconds' in p && p.systemCpuSeconds !== undefined ? ` (${n(p.systemCpuSeconds, 2)})` : ''} | ${n(p.cpuPercent, 0)}% | ` +
        `${'connectCpuSeconds' in p ? n(p.connectCpuSeconds, 2) : '-'}${'connectSystemCpuSeconds' in p && p.connectSystemCpuSeconds !== undefined ? ` (${n(p.connectSystemCpuSeconds, 2)})` : ''} | ${'note' in p ? (p.note ?? '') : ''} |`,
    ),
    '',
    '## Verdict',
    '',
    ...r.verdict.map((v) => `- ${v}`),
    '',
  );
  if (r.problems.length > 0) lines.push('## Problems seen', '', ...r.problems.map((p) => `- ${p}`), '');
  return lines.join('\n');
}
