/**
 * What one run measured -> the report object written as <name>.json: OpenMessaging Benchmark
 * TestResult keys (latency in ms) plus ours (connections, connectTimeSeconds, delivered,
 * expected, lost, duplicated, outOfOrder, engine CPU and RSS per connection, deliveries per
 * second, reconnects, per-transport and slow-reader latency, the engine's stage breakdown) and a
 * verdict on whether the load generator was in the way (./verdict.ts).
 */
import { stageBreakdown, type StageBreakdown } from '../engine/metrics/breakdown.ts';
import type { TargetSpec } from './cli.ts';
import type { EngineLogSummary } from './engine-process.ts';
import type { WorkerReport } from './ipc.ts';
import type { Machine } from './proc-stats.ts';
import type { PublishStats } from './publisher.ts';
import { mergeEncoded, ombLatencyKeys, summarize } from './report.ts';
import type { ResolvedScenario } from './scenario.ts';
import { cpuDiff, round, type WorkerHandle } from './swarm.ts';
import type { Snapshot } from './run-target.ts';
import { verdictOf } from './verdict.ts';

export interface RawRun {
  readonly s: ResolvedScenario;
  readonly target: TargetSpec;
  readonly tname: string;
  readonly host: string;
  readonly port: number;
  readonly spread: 'none' | 'dest';
  readonly nWorkers: number;
  readonly engineWorkers: number;
  readonly machine: Machine;
  readonly code: { commit: string; uncommittedEngineFiles: string[] };
  readonly loadStart: { raw: string; one: number };
  readonly loadEnd: { raw: string; one: number };
  readonly workers: readonly WorkerHandle[];
  readonly stats: PublishStats;
  readonly consumeRate: readonly number[];
  readonly subscribedAll: number;
  readonly connectTimeSeconds: number;
  readonly attemptFailures: Record<string, number>;
  readonly pids: readonly { role: string; pid: number }[];
  readonly cpuBeforeConnect: Snapshot;
  readonly cpuAfterConnect: Snapshot;
  readonly cpuAtMeasure: Snapshot;
  readonly cpuAtEnd: Snapshot;
  /** The engine's (or bare's) processes at the end. */
  readonly engineRoles: readonly number[];
  /** RSS of the processes the target depends on (the Pulsar broker) at the end and at peak (VmHWM). */
  readonly sidecarRss: readonly { pid: number; endKB?: number; peakKB?: number }[];
  readonly selfCpu: NodeJS.CpuUsage;
  readonly measuredWallSeconds: number;
  readonly publishSeconds: number;
  readonly settleSeconds: number;
  readonly settled: boolean;
  readonly rss: { beforeConnectKB?: number; afterConnectKB?: number; endKB?: number; peakKB?: number };
  readonly metrics: Record<string, number>;
  readonly metricsBefore?: string;
  readonly metricsAfter?: string;
  readonly engineStop?: { code: number | null; signal: NodeJS.Signals | null; clean: boolean };
  readonly engineLog?: EngineLogSummary;
  readonly logPath?: string;
  readonly problems: string[];
  readonly aborted: string;
}

export type RunResult = ReturnType<typeof assembleResult>;

const sumOf = <T>(xs: readonly T[], f: (x: T) => number): number => xs.reduce((a, x) => a + f(x), 0);
const n0 = (kb: number | undefined): string => (kb === undefined ? '-' : String(Math.round(kb / 1024)));

export function assembleResult(r: RawRun) {
  const { s, stats, problems } = r;
  const reports = r.workers.map((w) => w.report).filter((x): x is WorkerReport => x !== undefined);
  if (reports.length < r.workers.length) problems.push(`${r.workers.length - reports.length} worker(s) sent no report: their vehicles are missing from the figures`);
  const e2e = mergeEncoded(reports.map((x) => x.endToEnd));
  const accept = mergeEncoded(reports.map((x) => x.acceptToReceive));
  const slow = mergeEncoded(reports.map((x) => x.endToEndSlow));
  const reconnectTime = mergeEncoded(reports.map((x) => x.reconnect.time));
  const transports = [...new Set(reports.flatMap((x) => Object.keys(x.byTransport)))];
  const byTransport = Object.fromEntries(transports.map((t) => [t, summarize(mergeEncoded(reports.map((x) => x.byTransport[t]).filter((e): e is string => e !== undefined)))]));
  const total = (f: (x: WorkerReport) => number): number => sumOf(reports, f);
  const mergeCounts = (f: (x: WorkerReport) => Readonly<Record<string, number>>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const x of reports) for (const [k, v] of Object.entries(f(x))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  // Vehicles of a worker that sent no report expected everything and got nothing we can prove.
  const missingVehicles = sumOf(r.workers.filter((w) => w.report === undefined), (w) => w.vehicles);
  const expected = total((x) => x.expected) + Math.round(missingVehicles * (stats.ok / Math.max(1, s.areas)));
  const delivered = total((x) => x.delivered);
  const lost = expected - delivered;
  const duplicated = total((x) => x.duplicated);
  const outOfOrder = total((x) => x.outOfOrder);
  const deliveredMeasured = total((x) => x.deliveredMeasured);

  const engineSet = new Set(r.engineRoles);
  const engineCpuSeconds = r.engineRoles.length === 0 ? undefined : round(sumOf(r.engineRoles, (p) => cpuDiff(r.cpuAtEnd.get(p), r.cpuAtMeasure.get(p)) ?? 0), 2);
  const engineConnectCpu = r.engineRoles.length === 0 ? undefined : round(sumOf(r.engineRoles, (p) => cpuDiff(r.cpuAfterConnect.get(p), r.cpuBeforeConnect.get(p)) ?? 0), 2);
  const processes = [
    ...r.pids.map((p) => {
      const cpu = cpuDiff(r.cpuAtEnd.get(p.pid), r.cpuAtMeasure.get(p.pid));
      const rep = reports.find((x) => x.pid === p.pid);
      return {
        role: p.role,
        pid: p.pid,
        cpuSeconds: cpu === undefined ? undefined : round(cpu, 2),
        cpuPercent: cpu === undefined ? undefined : round((cpu / r.measuredWallSeconds) * 100, 1),
        systemCpuSeconds: cpuDiff(r.cpuAtEnd.get(p.pid), r.cpuAtMeasure.get(p.pid), 'system'),
        connectCpuSeconds: cpuDiff(r.cpuAfterConnect.get(p.pid), r.cpuBeforeConnect.get(p.pid)),
        connectSystemCpuSeconds: cpuDiff(r.cpuAfterConnect.get(p.pid), r.cpuBeforeConnect.get(p.pid), 'system'),
        ...((sc) => sc !== undefined && { note: `RSS ${n0(sc.endKB)} MB at the end, peak ${n0(sc.peakKB)} MB` })(r.sidecarRss.find((x) => x.pid === p.pid)),
        ...(rep !== undefined && {
          eventLoopDelayMs: rep.eventLoopDelay,
          receiveSpreadAvgMs: round(rep.receiveSpreadAvgUs / 1000, 1),
          receiveSpreadMaxMs: round(rep.receiveSpreadMaxUs / 1000, 1),
          cpuMsPerMessage: stats.measuredOk === 0 || cpu === undefined ? undefined : round((cpu * 1000) / stats.measuredOk, 1),
          note: `loop delay p99 ${rep.eventLoopDelay.p99} ms / max ${rep.eventLoopDelay.max} ms; one message reaches all its vehicles within ${round(rep.receiveSpreadAvgUs / 1000, 1)} ms avg / ${round(rep.receiveSpreadMaxUs / 1000, 1)} ms max`,
        }),
      };
    }),
    {
      role: 'orchestrator + publisher',
      pid: process.pid,
      cpuSeconds: round((r.selfCpu.user + r.selfCpu.system) / 1e6, 2),
      cpuPercent: round(((r.selfCpu.user + r.selfCpu.system) / 1e6 / r.measuredWallSeconds) * 100, 1),
    },
  ];

  const m = r.metrics;
  const fanSum = m['abe_fanout_duration_seconds_sum'];
  const fanCount = m['abe_fanout_duration_seconds_count'];
  const fanoutAvgMs = fanSum !== undefined && fanCount ? round((fanSum / fanCount) * 1000, 2) : undefined;
  const rssPerConnectionBytes =
    r.rss.beforeConnectKB !== undefined && r.rss.afterConnectKB !== undefined && r.subscribedAll > 0 ? Math.round(((r.rss.afterConnectKB - r.rss.beforeConnectKB) * 1024) / r.subscribedAll) : undefined;
  let stages: StageBreakdown | undefined;
  if (r.metricsAfter !== undefined && r.metricsAfter.includes('abe_stage_latency_seconds')) stages = stageBreakdown(r.metricsAfter, r.metricsBefore);
  const engine = {
    kind: r.target.kind,
    processes: r.engineWorkers,
    pids: [...engineSet],
    cpuSeconds: engineCpuSeconds,
    cpuPercent: engineCpuSeconds === undefined ? undefined : round((engineCpuSeconds / r.measuredWallSeconds) * 100, 1),
    connectCpuSeconds: engineConnectCpu,
    rssBeforeConnectKB: r.rss.beforeConnectKB,
    rssAfterConnectKB: r.rss.afterConnectKB,
    rssEndKB: r.rss.endKB,
    rssPeakKB: r.rss.peakKB,
    rssPerConnectionBytes,
    fanoutAvgMs,
    stop: r.engineStop,
    metrics: m,
    stageBreakdown: stages,
    log: r.engineLog,
  };
  const windowSeconds = Math.max(0.001, r.publishSeconds);
  const rc = reports.map((x) => x.reconnect);
  const dropped = sumOf(rc, (x) => x.dropped);
  const firstDrop = Math.min(...rc.map((x) => x.firstDropUs).filter((x) => x > 0));
  const lastBack = Math.max(0, ...rc.map((x) => x.lastResubscribedUs));
  const perSecond = new Map<number, number>();
  for (const x of rc) for (const [sec, n] of Object.entries(x.perSecond ?? {})) perSecond.set(Number(sec), (perSecond.get(Number(sec)) ?? 0) + n);
  const peak = [...perSecond.entries()].sort((a, b) => b[1] - a[1])[0];
  const stayed = mergeEncoded(rc.map((x) => x.stayed).filter((e): e is string => e !== undefined));
  const beforeStorm = mergeEncoded(rc.map((x) => x.beforeStorm).filter((e): e is string => e !== undefined));

  const result = {
    // OpenMessaging Benchmark TestResult keys
    workload: s.name,
    driver: `${r.target.kind === 'bare' ? 'bare uWS.js broadcaster' : 'area-broadcast-engine'} ${s.mix.map((x) => x.transport).join('+')} (REST publish)`,
    messageSize: s.messageSize,
    topics: s.areas,
    partitions: 1,
    producersPerTopic: 1,
    consumersPerTopic: Math.round(s.connections / s.areas),
    publishRate: stats.perSecond,
    consumeRate: r.consumeRate,
    ...ombLatencyKeys('Publish', stats.latency),
    ...ombLatencyKeys('EndToEnd', e2e),
    // ours
    description: s.description,
    scenario: s,
    target: r.tname,
    address: `${r.host}:${r.port}`,
    connections: s.connections,
    subscribed: r.subscribedAll,
    connectTimeSeconds: r.connectTimeSeconds,
    delivered,
    expected,
    lost,
    duplicated,
    outOfOrder,
    deliveredMeasured,
    /** Unique deliveries in the measured window per second of publishing (the maximum-deliveries figure). */
    deliveriesPerSecond: Math.round(deliveredMeasured / windowSeconds),
    published: { attempted: stats.attempted, ok: stats.ok, warmup: stats.warmupOk, measured: stats.measuredOk, perSecond: round(stats.measuredOk / windowSeconds, 1), failures: stats.failures, maxScheduleLagMs: round(stats.maxScheduleLagMs, 1) },
    acceptToReceive: summarize(accept),
    byTransport,
    slowReaders: s.slowReaders === undefined ? undefined : { ...s.slowReaders, latency: summarize(slow) },
    reconnect:
      dropped === 0
        ? undefined
        : {
            dropped,
            resubscribed: sumOf(rc, (x) => x.resubscribed),
            recoveredFalse: sumOf(rc, (x) => x.recoveredFalse),
            stormSeconds: Number.isFinite(firstDrop) && lastBack > 0 ? round((lastBack - firstDrop) / 1e6) : undefined,
            dropToResubscribed: summarize(reconnectTime),
            /** Highest number of resubscribes in one second (all load-generator processes), and the second after the first drop it came in. */
            peakResubscribesPerSecond: peak === undefined ? 0 : peak[1],
            peakAtSecond: peak === undefined || !Number.isFinite(firstDrop) ? undefined : peak[0] - Math.floor(firstDrop / 1e6),
            resubscribesPerSecond: [...perSecond.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n),
            /** End-to-end latency of the vehicles that stayed connected through the storm. */
            stayedConnected: stayed.totalCount === 0 ? undefined : { latency: summarize(stayed), beforeStorm: summarize(beforeStorm) },
            engineRestart: s.engineRestart,
          },
    engine,
    processes,
    loadGenerator: {
      workers: r.nWorkers,
      addressing:
        r.spread === 'dest'
          ? `destination spread: worker w connects to 127.0.0.(1+w)${r.target.kind === 'engine' ? '; engine bound to 0.0.0.0 with a per-run HS256 secret, one shared token' : ''}`
          : `every socket to ${r.host}:${r.port}`,
      frames: total((x) => x.frames),
      bytes: total((x) => x.bytes),
      acksSent: total((x) => x.acksSent),
      mqttRedelivered: total((x) => x.redelivered ?? 0),
      mqttRedeliveredWithoutDup: total((x) => x.redeliveredWithoutDup ?? 0),
      lostByTransport: mergeCounts((x) => x.lostByTransport ?? {}),
      pingsAnswered: total((x) => x.pingsAnswered),
      unstamped: total((x) => x.unstamped),
      negativeLatency: total((x) => x.negativeLatency),
      closedAfterSubscribe: total((x) => x.closedAfterSubscribe),
      closeCodes: mergeCounts((x) => x.closeCodes),
      socketErrors: mergeCounts((x) => x.socketErrors),
      engineErrors: mergeCounts((x) => x.engineErrors),
      protocolErrors: mergeCounts((x) => x.protocolErrors),
      connectAttemptFailures: r.attemptFailures,
    },
    timing: { settleSeconds: r.settleSeconds, measuredWallSeconds: round(r.measuredWallSeconds, 2), publishSeconds: round(r.publishSeconds, 2), settled: r.settled },
    verdict: [] as string[],
    problems,
    machine: r.machine,
    code: r.code,
    loadAverage: { start: r.loadStart.raw, end: r.loadEnd.raw },
    logPath: r.logPath,
    aborted: r.aborted,
  };
  result.verdict = verdictOf(result, reports, r);
  return result;
}
