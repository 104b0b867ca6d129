/**
 * Is the load generator out of the way, and what went wrong: the verdict lines and the problems
 * list of a report. The engine's writes complete into socket buffers whether or not a worker
 * reads them, so its fan-out loop time is independent of the load generator; a worker that keeps
 * up finishes reading one message about when the engine finishes writing it.
 */
import type { WorkerReport } from './ipc.ts';
import type { RawRun, RunResult } from './result.ts';
import { fmt, round } from './swarm.ts';

export function verdictOf(result: Omit<RunResult, 'verdict'>, reports: readonly WorkerReport[], r: RawRun): string[] {
  const verdict: string[] = [];
  const problems = r.problems;
  const fanoutAvgMs = result.engine.fanoutAvgMs;
  const workerProcs = result.processes.filter((p) => p.role.startsWith('vehicle worker'));
  for (const p of workerProcs) {
    const rep = reports.find((x) => x.pid === p.pid);
    const busy = p.cpuPercent ?? 0;
    const perMsg = 'cpuMsPerMessage' in p ? p.cpuMsPerMessage : undefined;
    const spreadMs = rep === undefined ? undefined : round(rep.receiveSpreadAvgUs / 1000, 1);
    const saturated = busy >= 80 || (rep !== undefined && rep.eventLoopDelay.p99 >= 100);
    const lagMs = spreadMs !== undefined && fanoutAvgMs !== undefined ? round(spreadMs - fanoutAvgMs, 1) : undefined;
    let judgement: string;
    if (saturated) judgement = 'SATURATED: the load generator may be limiting the figures (use more --workers)';
    else if (lagMs === undefined) judgement = 'not saturated (no engine fan-out timing to compare with)';
    else if (lagMs <= Math.max(10, 0.2 * (fanoutAvgMs ?? 0))) judgement = `keeps pace: it finishes reading a message within ${Math.max(0, lagMs)} ms of the engine finishing writing it, so the engine's fan-out sets the spread`;
    else judgement = `finishes reading a message ${lagMs} ms after the engine finished writing it: the load generator adds up to that much to the tail (more --workers would parallelise the reading)`;
    verdict.push(
      `${p.role}: ${busy}% of a core over the measured window` +
        (perMsg === undefined ? '' : `, ${perMsg} ms CPU per published message`) +
        (spreadMs === undefined ? '' : `; a message reaches all its vehicles within ${spreadMs} ms (avg)`) +
        (fanoutAvgMs === undefined ? '' : ` vs the engine's fan-out loop ${fanoutAvgMs} ms`) +
        ` — ${judgement}`,
    );
  }
  for (const p of workerProcs) {
    const connectCpu = 'connectCpuSeconds' in p ? p.connectCpuSeconds : undefined;
    if (connectCpu === undefined || !(result.connectTimeSeconds > 0)) continue;
    const busy = round((connectCpu / result.connectTimeSeconds) * 100, 0);
    verdict.push(
      `connecting, ${p.role}: ${connectCpu} s CPU in the ${result.connectTimeSeconds} s connect phase (${busy}% of a core)` +
        (busy >= 70 ? ' — the load generator is likely what bounds the connect time (more --workers would parallelise it)' : ''),
    );
  }
  const e = result.engine;
  if (e.cpuPercent !== undefined) {
    const lagP99 = e.metrics['abe_nodejs_eventloop_lag_p99_seconds'];
    const lagMax = e.metrics['abe_nodejs_eventloop_lag_max_seconds'];
    verdict.push(
      `${e.kind} (${e.pids.length} process${e.pids.length === 1 ? '' : 'es'}): ${e.cpuPercent}% of a core over the measured window${fanoutAvgMs === undefined ? '' : `, fan-out loop ${fanoutAvgMs} ms per message`}` +
        (lagMax === undefined ? '' : `; event-loop lag (whole run${e.pids.length > 1 ? ', averaged over processes' : ''}) p99 ${round((lagP99 ?? 0) * 1000, 1)} ms, max ${round(lagMax * 1000, 1)} ms`),
    );
  }
  const allCpu = result.processes.reduce((a, p) => a + (p.cpuSeconds ?? 0), 0);
  verdict.push(
    `all our processes used ${round((allCpu / r.measuredWallSeconds / r.machine.nproc) * 100, 1)}% of the machine's ${r.machine.nproc} cores; ` +
      `load average ${r.loadStart.one} at start, ${r.loadEnd.one} at end (anything above our own use is other work on the machine)`,
  );
  if (r.s.producerRate === 'max') verdict.push(`maximum rate: ${fmt(result.deliveriesPerSecond)} deliveries/s (${result.published.perSecond} messages/s to ${fmt(result.subscribed)} vehicles)`);
  if (result.reconnect !== undefined) {
    const rc = result.reconnect;
    verdict.push(
      `reconnects: ${fmt(rc.dropped)} vehicles dropped, ${fmt(rc.resubscribed)} came back (${fmt(rc.recoveredFalse)} answered recovered:false)` +
        (rc.stormSeconds === undefined ? '' : `, first drop to last resubscribed ${rc.stormSeconds} s`) +
        `; drop to resubscribed P50 ${rc.dropToResubscribed.p50Ms} ms / P99 ${rc.dropToResubscribed.p99Ms} ms`,
    );
  }
  const { lost, duplicated, outOfOrder, delivered } = result;
  if (lost === 0 && duplicated === 0 && outOfOrder === 0) verdict.push(`every vehicle got every offset exactly once, in order (${fmt(delivered)} deliveries)`);
  else {
    const byT = result.loadGenerator.lostByTransport;
    const split = Object.keys(byT).length > 0 ? ` (lost by transport: ${Object.entries(byT).map(([t, x]) => `${t} ${fmt(x)}`).join(', ')})` : '';
    verdict.push(`delivery problems: ${fmt(lost)} lost, ${fmt(duplicated)} duplicated, ${fmt(outOfOrder)} out of order${split}`);
    if (Object.keys(byT).length === 1 && byT['mqtt-qos0'] !== undefined && result.reconnect !== undefined) {
      verdict.push('only MQTT QoS 0 vehicles lost messages, and vehicles dropped: QoS 0 is at most once (what was in flight when a vehicle dropped is not resent)');
    }
  }

  const lg = result.loadGenerator;
  if (lg.closedAfterSubscribe > 0) problems.push(`${fmt(lg.closedAfterSubscribe)} vehicles were disconnected after subscribing: close codes ${JSON.stringify(lg.closeCodes)}`);
  if (Object.keys(lg.engineErrors).length > 0) problems.push(`error frames from the engine: ${JSON.stringify(lg.engineErrors)}`);
  if (Object.keys(lg.protocolErrors).length > 0) problems.push(`protocol problems seen by vehicles: ${JSON.stringify(lg.protocolErrors)}`);
  if (Object.keys(lg.socketErrors).length > 0) problems.push(`socket errors: ${JSON.stringify(lg.socketErrors)}`);
  if (lg.mqttRedeliveredWithoutDup > 0) problems.push(`${fmt(lg.mqttRedeliveredWithoutDup)} MQTT QoS 1 redeliveries of offsets already received came without the DUP flag (a session resumed from an older position than was sent)`);
  if (lg.negativeLatency > 0) problems.push(`${lg.negativeLatency} receive times before their send time (clock)`);
  // A self-started engine on loopback without a key warns about it on purpose.
  const engProblems = Object.fromEntries(Object.entries(e.log?.problems ?? {}).filter(([k]) => !k.startsWith('authentication is OFF')));
  if (Object.keys(engProblems).length > 0) problems.push(`${e.kind} log warnings/errors: ${JSON.stringify(engProblems)}`);
  if (result.published.maxScheduleLagMs > 100) problems.push(`the publisher fell up to ${round(result.published.maxScheduleLagMs, 0)} ms behind its schedule`);
  return verdict;
}
