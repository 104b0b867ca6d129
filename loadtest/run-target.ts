/**
 * One load-test run against one target (engine, bare broadcaster, or an engine already running):
 *   1. start the target (fresh data dir, N processes on one port) unless it is external;
 *   2. fork the vehicle workers (past ~20K vehicles each connects to its own loopback
 *      destination 127.0.0.(1+w); the engine then binds 0.0.0.0 with a random HS256 secret);
 *   3. connect + subscribe every vehicle (connectTimeSeconds: first connect -> last `subscribed`);
 *   4. publish on the schedule (or as fast as the slowest reader takes it: producerRate "max"),
 *      with the reconnect storm / churn of the scenario during the measured window;
 *   5. wait until every vehicle has every offset (or the settle timeout), then collect reports,
 *      /proc CPU and RSS of every process, the engine's /metrics (stage breakdown) and its log.
 * Every phase has a deadline; traffic is loopback only. ./result.ts turns it into the report.
 */
import { isIPv4 } from 'node:net';
import { PER_DESTINATION, SPREAD_AUTO_LIMIT, targetName, type Cli, type TargetSpec } from './cli.ts';
import type { EngineHandle } from './engine-process.ts';
import type { WorkerConnected, WorkerProgress } from './ipc.ts';
import { cpuTimes, describeMachine, loadAverage, memory, type CpuTimes } from './proc-stats.ts';
import { runPublishSchedule, type PublishStats } from './publisher.ts';
import { assembleResult, type RunResult } from './result.ts';
import { openTarget } from './target.ts';
import { codeVersion, fmt, forkWorker, log, parseMetrics, round, sleep, waitAll, type WorkerHandle } from './swarm.ts';

export type Snapshot = Map<number, CpuTimes | undefined>;

/** Things a failure path must still be able to stop. */
export const running: { engine: EngineHandle | undefined; workers: WorkerHandle[] } = { engine: undefined, workers: [] };

export async function cleanup(): Promise<void> {
  for (const w of running.workers) if (!w.exited) w.child.kill('SIGKILL');
  if (running.engine !== undefined && running.engine.exit === undefined) await running.engine.stop(5000);
}

export async function runTarget(cli: Cli, target: TargetSpec, outBase: string): Promise<RunResult> {
  const s = cli.scenario;
  const problems: string[] = [];
  let aborted = '';
  const abort = (why: string): void => {
    if (aborted !== '') return;
    aborted = why;
    problems.push(`aborted: ${why}`);
    process.stderr.write(`\nloadtest: aborting: ${why}\n`);
  };
  const isAborted = (): boolean => aborted !== '';
  const workers: WorkerHandle[] = (running.workers = []);
  const nWorkers = cli.workers ?? Math.ceil(s.connections / s.vehiclesPerWorker);
  if (Math.ceil(s.connections / nWorkers) > 18_000) throw new Error(`${nWorkers} workers would hold ${Math.ceil(s.connections / nWorkers)} sockets each; at most 18,000 fit the open-file limit`);
  const machine = describeMachine();
  const loadStart = loadAverage();
  const runId = Date.now().toString(36);
  const areas = Array.from({ length: s.areas }, (_, i) => `loadtest:${s.name}-${runId}-${i}`);
  const totalSeconds = s.connectTimeoutSeconds + s.warmupSeconds + s.durationSeconds + s.settleTimeoutSeconds + 90;
  const hardDeadline = setTimeout(() => {
    process.stderr.write(`loadtest: hard deadline of ${totalSeconds} s passed; killing everything\n`);
    void cleanup().finally(() => process.exit(3));
  }, totalSeconds * 1000);
  hardDeadline.unref();
  const tname = targetName(target);
  const engineProcs = target.kind === 'external' || target.kind === 'mqtt' ? 'started elsewhere' : `${cli.engineWorkers} process(es)`;
  log(
    `scenario ${s.name} -> ${tname} (${engineProcs}): ${fmt(s.connections)} vehicles (${s.mix.map((m) => m.transport).join('+')}, acks ${s.acks ? 'on' : 'off'}) over ${s.areas} area(s), ` +
      `${s.messageSize} B at ${s.producerRate} msg/s for ${s.durationSeconds} s (+${s.warmupSeconds} s warm-up); ${nWorkers} vehicle worker(s); load average ${loadStart.raw}`,
  );

  // 1. the target
  const spread = cli.spread === 'auto' ? (s.connections > SPREAD_AUTO_LIMIT ? 'dest' : 'none') : cli.spread;
  // Each worker gets enough destination addresses to keep every address:port under
  // PER_DESTINATION vehicles: past ~14,000 connections to one address:port the kernel's source-port
  // search scans them all on every connect (see README "Addressing").
  const perWorker = Math.ceil(s.connections / nWorkers);
  const destsPerWorker = spread === 'dest' ? Math.ceil(perWorker / PER_DESTINATION) : 1;
  const workerHosts = Array.from({ length: nWorkers }, (_, w) =>
    Array.from({ length: destsPerWorker }, (_, j) => (spread === 'dest' ? `127.0.0.${1 + ((w * destsPerWorker + j) % 254)}` : '127.0.0.1')),
  );
  const destinations = workerHosts.flat();
  const usesMqtt = s.mix.some((m) => m.transport.startsWith('mqtt'));
  if (target.kind === 'mqtt' && !s.mix.every((m) => m.transport.startsWith('mqtt'))) throw new Error('an MQTT broker target needs MQTT vehicles: --set transport=mqtt-qos0 (or mqtt-qos1)');
  const tgt = await openTarget(cli, target, { outBase, spread, destinations, runId, tokenLifetimeSeconds: totalSeconds + 3600, usesMqtt });
  const engine = tgt.engine;
  running.engine = engine;
  const { host, port, token } = tgt;
  log(`${tname}${engine === undefined ? '' : ` pid ${engine.pid} (processes ${engine.pids().join(', ')})`} listening on ${spread === 'dest' ? 'the swarm destinations' : host}:${port}${tgt.mqtt === undefined ? '' : ` (MQTT ${tgt.mqtt.port})`}${engine === undefined ? '' : ` (log ${engine.logPath})`}`);
  const enginePids = (): number[] => tgt.pids();
  const engineCpu = (): number | undefined => {
    const ps = enginePids();
    if (ps.length === 0) return undefined;
    return ps.reduce((a, p) => a + ((cpuTimes(p)?.user ?? 0) + (cpuTimes(p)?.system ?? 0)), 0);
  };
  const engineRssKB = (): number | undefined => {
    const ps = enginePids();
    return ps.length === 0 ? undefined : ps.reduce((a, p) => a + (memory(p)?.rssKB ?? 0), 0);
  };
  const rssBeforeConnectKB = engineRssKB();

  // 2. vehicle workers
  const maxMode = s.producerRate === 'max';
  for (let w = 0, first = 0; w < nWorkers; w++) {
    const count = Math.min(perWorker, s.connections - first);
    const handle = forkWorker(
      {
        type: 'init',
        workerIndex: w,
        firstVehicle: first,
        vehicles: count,
        areas,
        hosts: isIPv4(host) && spread === 'dest' ? workerHosts[w] : [host],
        port,
        mix: s.mix,
        acks: s.acks,
        ...(token !== undefined && { token }),
        connectConcurrency: Math.max(1, Math.floor(s.connectConcurrency / nWorkers)),
        attemptTimeoutMs: 20_000,
        // Through an engine restart, or refused by --max-connect-rate (503 + Retry-After), a vehicle
        // keeps trying (backoff up to 2 s) until the engine takes it.
        connectRetries: s.engineRestart !== undefined ? 1000 : 3,
        ...(s.engineRestart !== undefined && { reconnectRetries: 1000 }),
        // Retries move over 8 more loopback addresses of this worker (127.1.w.1-8), see ConnectorOptions.retryHosts.
        ...(s.engineRestart !== undefined && spread === 'dest' && { retryHosts: Array.from({ length: 8 }, (_, k) => `127.1.${w}.${k + 1}`) }),
        maxFrameBytes: s.messageSize * 2 + 64 * 1024,
        ...(s.slowReaders !== undefined && { slowReaders: { share: s.slowReaders.share, pauseMs: s.slowReaders.pauseMs ?? 800, periodMs: s.slowReaders.periodMs ?? 1000 } }),
        reconnectOnClose: s.reconnectOnClose,
        progressMs: maxMode ? 100 : 1000,
        ...(tgt.mqtt !== undefined && { mqtt: tgt.mqtt }),
      },
      (msg) => {
        problems.push(msg);
        if (!msg.includes('before its report')) abort(msg.split('\n')[0]);
      },
    );
    workers.push(handle);
    first += count;
  }
  if (!(await waitAll(workers, (w) => w.ready, 30_000, isAborted))) throw new Error('workers did not start');

  // progress line, every second
  let phase = 'connect';
  let lastFrames = 0;
  let lastEngineCpu = engineCpu();
  let lastTick = performance.now();
  const started = performance.now();
  const consumeRate: number[] = [];
  let publishing = false;
  let liveStats: PublishStats | undefined;
  const ticker = setInterval(() => {
    const now = performance.now();
    const dt = (now - lastTick) / 1000;
    lastTick = now;
    const ps = workers.map((w) => w.progress).filter((p): p is WorkerProgress => p !== undefined);
    const sum = (f: (p: WorkerProgress) => number): number => ps.reduce((a, p) => a + f(p), 0);
    const frames = sum((p) => p.frames);
    const rate = (frames - lastFrames) / dt;
    lastFrames = frames;
    if (publishing) consumeRate.push(Math.round(rate));
    const ec = engineCpu();
    const cpuPct = ec !== undefined && lastEngineCpu !== undefined ? ((ec - lastEngineCpu) / dt) * 100 : NaN;
    lastEngineCpu = ec;
    const rss = engineRssKB();
    const pending = ps.some((p) => p.pending >= 0) ? ` pending ${fmt(sum((p) => Math.max(0, p.pending)))}` : '';
    const drops = sum((p) => p.dropped) > 0 ? ` dropped ${fmt(sum((p) => p.dropped))} back ${fmt(sum((p) => p.resubscribed))}` : '';
    log(
      `${((now - started) / 1000).toFixed(0).padStart(4)}s ${phase.padEnd(8)} subscribed ${fmt(sum((p) => p.subscribed))}/${fmt(s.connections)} open ${fmt(sum((p) => p.open))}` +
        `${sum((p) => p.failed) > 0 ? ` failed ${fmt(sum((p) => p.failed))}` : ''}${drops} | published ${fmt(liveStats?.ok ?? 0)} delivered/s ${fmt(rate)} total ${fmt(sum((p) => p.unique))}` +
        `${sum((p) => p.duplicated) > 0 ? ` dup ${fmt(sum((p) => p.duplicated))}` : ''}${sum((p) => p.closedAfterSubscribe) > 0 ? ` closed ${fmt(sum((p) => p.closedAfterSubscribe))}` : ''}${pending}` +
        ` | ${target.kind} ${Number.isNaN(cpuPct) ? '-' : `${cpuPct.toFixed(0)}%`} cpu ${rss === undefined ? '-' : `${Math.round(rss / 1024)} MB`} | worker loop delay max ${Math.max(0, ...ps.map((p) => p.eventLoopDelayMaxMs))} ms`,
    );
  }, 1000);

  // 3. connect
  const pids = (): Array<{ role: string; pid: number }> => [
    ...enginePids().map((pid, i, all) => ({ role: all.length === 1 ? target.kind : i === 0 ? `${target.kind} primary` : `${target.kind} worker ${i - 1}`, pid })),
    ...tgt.sidecars,
    ...workers.map((w) => ({ role: `vehicle worker ${w.index} (${fmt(w.vehicles)} vehicles)`, pid: w.pid })),
  ];
  // Every process seen at a snapshot, with its role (the engine's are gone by the time the report is built).
  const seen = new Map<number, string>();
  const snapshot = (): Snapshot => {
    const ps = pids();
    for (const p of ps) if (!seen.has(p.pid)) seen.set(p.pid, p.role);
    return new Map(ps.map((p) => [p.pid, cpuTimes(p.pid)]));
  };
  const cpuBeforeConnect = snapshot();
  for (const w of workers) w.send({ type: 'connect' });
  const allConnected = await waitAll(workers, (w) => w.connected !== undefined, s.connectTimeoutSeconds * 1000, isAborted);
  const conns = workers.map((w) => w.connected).filter((c): c is WorkerConnected => c !== undefined);
  const subscribedAll = conns.reduce((a, c) => a + c.subscribed, 0);
  const connectTimeSeconds = conns.length === 0 ? NaN : round((Math.max(...conns.map((c) => c.lastSubscribedUs)) - Math.min(...conns.map((c) => c.firstConnectUs))) / 1e6);
  const attemptFailures: Record<string, number> = {};
  for (const c of conns) for (const [k, v] of Object.entries(c.attemptFailures)) attemptFailures[k] = (attemptFailures[k] ?? 0) + v;
  if (!allConnected) problems.push(`not every worker finished connecting within ${s.connectTimeoutSeconds} s`);
  if (subscribedAll < s.connections) problems.push(`${fmt(s.connections - subscribedAll)} vehicles never subscribed (attempt failures: ${JSON.stringify(attemptFailures)})`);
  log(`connected: ${fmt(subscribedAll)}/${fmt(s.connections)} subscribed in ${connectTimeSeconds} s (first connect -> last subscribed)`);
  const cpuAfterConnect = snapshot();
  await sleep(1000);
  const rssAfterConnectKB = engineRssKB();
  const metricsBefore = await tgt.scrape();

  // 4. publish (+ storm / churn during the measured window)
  phase = s.warmupSeconds > 0 ? 'warm-up' : 'measure';
  let cpuAtMeasure: Snapshot = new Map();
  let selfCpuAtMeasure = process.cpuUsage();
  let measureStartedAt = performance.now();
  const timers: NodeJS.Timeout[] = [];
  let cpuBeforeStorm: Snapshot = new Map();
  publishing = true;
  const floors = (): number[] => {
    const ps = workers.map((w) => w.progress?.floors).filter((f): f is readonly number[] => f !== undefined);
    return areas.map((_, a) => {
      const known = ps.map((f) => f[a]).filter((x) => x >= 0);
      return known.length === 0 ? -1 : Math.min(...known);
    });
  };
  const stats = await runPublishSchedule(
    await tgt.sender(areas, s.publishConcurrency),
    {
      areas,
      messageSize: s.messageSize,
      payload: s.payload,
      rate: s.producerRate,
      window: s.maxInFlightMessages,
      floors,
      warmupSeconds: s.warmupSeconds,
      durationSeconds: s.durationSeconds,
      concurrency: s.publishConcurrency,
      onMeasureStart: () => {
        phase = 'measure';
        measureStartedAt = performance.now();
        cpuAtMeasure = snapshot();
        selfCpuAtMeasure = process.cpuUsage();
        for (const w of workers) w.send({ type: 'measure' });
        const storm = s.reconnectStorm;
        if (storm !== undefined) {
          timers.push(setTimeout(() => {
            phase = 'storm';
            log(`reconnect storm: ${Math.round((storm.share ?? 1) * 100)}% of the vehicles drop now and come back within ${storm.jitterMs} ms with their offsets`);
            for (const w of workers) w.send({ type: 'drop', share: storm.share ?? 1, jitterMs: storm.jitterMs ?? 1000 });
          }, storm.atSecond * 1000));
        }
        const restart = s.engineRestart;
        if (restart !== undefined) {
          if (engine === undefined) problems.push('engineRestart needs a target started here (engine)');
          else
            timers.push(setTimeout(() => {
              phase = 'storm';
              // The processes about to go: their CPU up to now (read again at the end, they are gone).
              cpuBeforeStorm = snapshot();
              if (restart.how === 'kill9-workers') {
                const killed = engine.killWorkers(restart.workers);
                log(`engine storm: kill -9 of ${killed.length} worker(s) (pids ${killed.join(', ')}); the primary restarts them`);
              } else {
                log('engine storm: SIGTERM to every engine process, then a restart on the same port and data dir');
                engine.restart().then(
                  (r) => log(`engine storm: restarted; down for ${Math.round(r.downMs)} ms (exit code ${r.code}, signal ${r.signal})`),
                  (err: unknown) => abort(`engine restart failed: ${String(err)}`),
                );
              }
            }, restart.atSecond * 1000));
        }
        if (s.churnPerSecond !== undefined && s.churnPerSecond > 0) {
          const share = Math.min(1, s.churnPerSecond / Math.max(1, subscribedAll));
          timers.push(setInterval(() => {
            for (const w of workers) w.send({ type: 'drop', share, jitterMs: 1000 });
          }, 1000));
        }
      },
      shouldStop: () => isAborted() || (engine !== undefined && engine.exit !== undefined),
      // An engine-side storm makes publishes fail for a while: retry them (same Idempotency-Key) instead of counting them lost.
      ...(s.engineRestart !== undefined && { retryForMs: 60_000 }),
      live: (st) => (liveStats = st),
    },
  );
  for (const t of timers) clearTimeout(t);
  const publishEndedAt = performance.now();
  if (engine?.exit !== undefined) problems.push(`${tname} exited during the run: code ${engine.exit.code}, signal ${engine.exit.signal}`);
  if (stats.ok < stats.attempted) problems.push(`${stats.attempted - stats.ok} of ${stats.attempted} publishes failed: ${JSON.stringify(stats.failures)}`);

  // 5. settle
  phase = 'settle';
  const lastOffsets = stats.perArea.map((a) => a.last);
  const firstOffsets = stats.perArea.map((a) => (a.count === 0 ? 1 : a.first));
  for (const w of workers) w.send({ type: 'target', lastOffsets, firstOffsets });
  const settleStarted = performance.now();
  const settled = await waitAll(workers, (w) => w.settled, s.settleTimeoutSeconds * 1000, isAborted);
  const settleSeconds = round((performance.now() - settleStarted) / 1000);
  if (!settled) problems.push(`not every vehicle had every offset ${s.settleTimeoutSeconds} s after the last publish`);
  publishing = false;
  const measuredWallSeconds = (performance.now() - measureStartedAt) / 1000;
  const cpuAtEnd = snapshot();
  // Engine-side storm: processes that died count up to the storm, those it started count from zero.
  for (const [pid, cpu] of cpuBeforeStorm) if (cpuAtEnd.get(pid) === undefined && cpu !== undefined) cpuAtEnd.set(pid, cpu);
  if (s.engineRestart !== undefined) for (const pid of cpuAtEnd.keys()) if (!cpuAtMeasure.has(pid)) cpuAtMeasure.set(pid, { user: 0, system: 0 });
  const selfCpu = process.cpuUsage(selfCpuAtMeasure);
  const rssEndKB = engineRssKB();
  const rssPeakKB = enginePids().reduce((a, p) => a + (memory(p)?.hwmKB ?? 0), 0);
  const sidecarRss = tgt.sidecars.map((c) => ({ pid: c.pid, endKB: memory(c.pid)?.rssKB, peakKB: memory(c.pid)?.hwmKB }));
  clearInterval(ticker);
  const metricsAfter = await tgt.scrape();
  if (metricsAfter === undefined && (target.kind === 'engine' || target.kind === 'external')) problems.push('could not read /metrics');

  // 6. reports
  for (const w of workers) w.send({ type: 'finish' });
  await waitAll(workers, (w) => w.report !== undefined, 30_000, () => false);
  // Let the workers exit (their sockets close) before the target is asked to stop.
  await waitAll(workers, (w) => w.exited, 10_000, () => false);
  for (const w of workers) if (!w.exited) w.child.kill('SIGKILL');
  const engineStop = engine === undefined ? undefined : await engine.stop();
  if (engineStop !== undefined && !engineStop.clean) problems.push(`${target.kind} did not stop cleanly on SIGTERM: code ${engineStop.code}, signal ${engineStop.signal}`);
  running.engine = undefined;
  await tgt.close();
  clearTimeout(hardDeadline);

  return assembleResult({
    s, target, tname, host, port, spread, nWorkers, engineWorkers: engine === undefined ? enginePids().length : cli.engineWorkers,
    machine, code: codeVersion(), loadStart, loadEnd: loadAverage(), workers, stats, consumeRate,
    subscribedAll, connectTimeSeconds, attemptFailures, pids: [...seen].map(([pid, role]) => ({ pid, role })), cpuBeforeConnect, cpuAfterConnect, cpuAtMeasure, cpuAtEnd,
    engineRoles: [...seen].filter(([pid, role]) => !role.startsWith('vehicle worker') && !tgt.sidecars.some((c) => c.pid === pid)).map(([pid]) => pid), sidecarRss, selfCpu, measuredWallSeconds, publishSeconds: (publishEndedAt - measureStartedAt) / 1000, settleSeconds, settled,
    rss: { beforeConnectKB: rssBeforeConnectKB, afterConnectKB: rssAfterConnectKB, endKB: rssEndKB, peakKB: rssPeakKB },
    metrics: metricsAfter === undefined ? {} : parseMetrics(metricsAfter), metricsBefore, metricsAfter, engineStop,
    engineLog: engine?.logSummary(), logPath: engine?.logPath, problems, aborted,
  });
}
