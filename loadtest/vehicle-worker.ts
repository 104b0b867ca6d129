/**
 * One load-generator process: up to 18,000 vehicles, each a raw TCP socket (./raw-socket.ts) speaking just enough
 * of its transport (./vehicle-codec.ts: WebSocket v1 JSON/msgpack in ./ws-vehicle.ts) to connect,
 * subscribe to its area, answer pings and read messages. Started by run.ts with
 * child_process.fork; driven over IPC (./ipc.ts). Connecting, reconnects and slow readers:
 * ./connector.ts; the offset check, counters and histograms: ./vehicles.ts.
 *
 * Cheap on purpose, so the load generator is not what we measure: every socket reads into ONE
 * shared buffer (net `onread`), frames are scanned in place, a message frame is not decoded
 * (./message-parse.ts), and the receive clock is read once per socket read.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { Connector } from './connector.ts';
import type { ParentMessage, WorkerInit, WorkerMessage } from './ipc.ts';
import type { Transport } from './scenario.ts';
import type { VehicleCodec } from './vehicle-codec.ts';
import { pickTransport, Vehicle } from './vehicles.ts';
import { WsVehicleCodec } from './ws-vehicle.ts';
import { MqttVehicleCodec } from './mqtt-vehicle.ts';
import { signToken } from '../engine/auth/testing.ts';

function send(msg: WorkerMessage): void {
  process.send?.(msg);
}

/** Codec per transport (see vehicle-codec.ts). */
function codecFor(t: Transport, m: WorkerInit, tokens: ReadonlyMap<number, string>): VehicleCodec {
  if (t !== 'mqtt-qos0' && t !== 'mqtt-qos1') return new WsVehicleCodec(t);
  if (m.mqtt === undefined) throw new Error(`transport ${t}: the target has no MQTT port`);
  return new MqttVehicleCodec({
    transport: t,
    version: m.mqtt.version,
    port: m.mqtt.port,
    clientIdPrefix: m.mqtt.clientIdPrefix,
    offsetFrom: m.mqtt.offsetFrom,
    areas: m.areas.length,
    ...(tokens.size > 0 && { tokenOf: (id: number) => tokens.get(id) }),
  });
}

/** Per-vehicle MQTT tokens (sub = client id), when the target has authentication on. */
async function mqttTokens(m: WorkerInit, vehicles: readonly Vehicle[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const secret = m.mqtt?.tokenSecret;
  if (secret === undefined) return out;
  const exp = Math.floor(Date.now() / 1000) + 24 * 3600;
  for (const v of vehicles) {
    if (!m.mix[v.transport].transport.startsWith('mqtt')) continue;
    out.set(v.id, await signToken({ sub: `${m.mqtt!.clientIdPrefix}${v.id}`, exp, subscribe: ['loadtest:*'], publish: [] }, { alg: 'HS256', secret }));
  }
  return out;
}

// Node's samples are the time between two timer ticks, so they include the sampling interval:
// we report the delay beyond it (0 = the loop was never late).
const ELD_RESOLUTION_MS = 10;
const eldWindow: IntervalHistogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
const eldMeasured: IntervalHistogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
/** ns sample -> ms of delay beyond the sampling interval, 2 decimals. */
const lateMs = (ns: number): number => Math.max(0, Math.round((ns / 1e6 - ELD_RESOLUTION_MS) * 100) / 100);
eldWindow.enable();
eldMeasured.enable();
let cpuAtMeasure = process.cpuUsage();

let cfg: WorkerInit;
let conn: Connector;
let target: readonly number[] | null = null;
let firstOffsets: readonly number[] = [];
let settledSent = false;

function sendProgress(): void {
  const t = conn.tally;
  send({
    type: 'progress',
    workerIndex: cfg.workerIndex,
    open: t.open,
    subscribed: t.subscribed,
    failed: t.failed,
    frames: t.frames,
    unique: t.unique,
    duplicated: t.duplicated,
    closedAfterSubscribe: t.closedAfterSubscribe,
    pending: target === null ? -1 : conn.pending(target),
    eventLoopDelayMaxMs: lateMs(eldWindow.max),
    floors: conn.floors(),
    dropped: t.dropped,
    resubscribed: t.resubscribed,
  });
  eldWindow.reset();
}

function checkSettled(): void {
  if (settledSent || target === null) return;
  if (conn.pending(target) === 0) {
    settledSent = true;
    send({ type: 'settled', workerIndex: cfg.workerIndex });
  }
}

function finalReport(): void {
  const t = conn.tally;
  const last = target ?? cfg.areas.map(() => 0);
  let expected = 0;
  let delivered = 0;
  let lost = 0;
  const lostByTransport: Record<string, number> = {};
  for (const v of conn.vehicles) {
    // A vehicle that never subscribed expected everything published to its area.
    const from = v.everSubscribed ? v.head : (firstOffsets[v.area] ?? 1) - 1;
    const exp = Math.max(0, last[v.area] - from);
    expected += exp;
    const got = Math.min(v.count, exp);
    delivered += got;
    lost += exp - got;
    if (exp > got) lostByTransport[cfg.mix[v.transport].transport] = (lostByTransport[cfg.mix[v.transport].transport] ?? 0) + exp - got;
  }
  let spreadSum = 0;
  let spreadMax = 0;
  for (const [first, lastUs] of t.spread.values()) {
    spreadSum += lastUs - first;
    if (lastUs - first > spreadMax) spreadMax = lastUs - first;
  }
  const byTransport: Record<string, string> = {};
  for (const [i, h] of t.byTransport) byTransport[cfg.mix[i].transport] = encodeIntoCompressedBase64(h);
  const cpu = process.cpuUsage(cpuAtMeasure);
  send({
    type: 'report',
    workerIndex: cfg.workerIndex,
    pid: process.pid,
    vehicles: conn.vehicles.length,
    subscribed: t.subscribed,
    endToEnd: encodeIntoCompressedBase64(t.endToEnd),
    acceptToReceive: encodeIntoCompressedBase64(t.acceptToReceive),
    endToEndSlow: encodeIntoCompressedBase64(t.endToEndSlow),
    byTransport,
    frames: t.frames,
    bytes: t.bytes,
    delivered,
    deliveredMeasured: t.uniqueMeasured,
    expected,
    lost,
    duplicated: t.duplicated,
    outOfOrder: t.outOfOrder,
    unstamped: t.unstamped,
    negativeLatency: t.negativeLatency,
    closedAfterSubscribe: t.closedAfterSubscribe,
    closeCodes: t.closeCodes,
    socketErrors: t.socketErrors,
    engineErrors: t.engineErrors,
    protocolErrors: t.protocolErrors,
    pingsAnswered: t.pingsAnswered,
    acksSent: t.acksSent,
    redelivered: t.redelivered,
    redeliveredWithoutDup: t.redeliveredWithoutDup,
    lostByTransport,
    receiveSpreadAvgUs: t.spread.size === 0 ? 0 : Math.round(spreadSum / t.spread.size),
    receiveSpreadMaxUs: spreadMax,
    eventLoopDelay: { p50: lateMs(eldMeasured.percentile(50)), p99: lateMs(eldMeasured.percentile(99)), max: lateMs(eldMeasured.max) },
    cpuUserSeconds: cpu.user / 1e6,
    cpuSystemSeconds: cpu.system / 1e6,
    reconnect: {
      dropped: t.dropped,
      resubscribed: t.resubscribed,
      recoveredFalse: t.recoveredFalse,
      firstDropUs: t.firstDropUs,
      lastResubscribedUs: t.lastResubscribedUs,
      time: encodeIntoCompressedBase64(t.reconnectTime),
      perSecond: Object.fromEntries(t.resubscribedPerSecond),
      stayed: encodeIntoCompressedBase64(t.endToEndStayed),
      beforeStorm: encodeIntoCompressedBase64(t.endToEndBeforeStorm),
    },
  });
}

async function init(m: WorkerInit): Promise<void> {
  cfg = m;
  const vehicles: Vehicle[] = [];
  const slowShare = m.slowReaders?.share ?? 0;
  for (let i = 0; i < m.vehicles; i++) {
    const g = m.firstVehicle + i;
    // Slow readers: every (1/share)-th vehicle, spread over areas and transports.
    const slow = slowShare > 0 && Math.floor((g + 1) * slowShare) > Math.floor(g * slowShare);
    vehicles.push(new Vehicle(g, g % m.areas.length, m.hosts[i % m.hosts.length], pickTransport(g, m.mix), slow));
  }
  const tokens = await mqttTokens(m, vehicles);
  const codecs = m.mix.map((x) => codecFor(x.transport, m, tokens));
  conn = new Connector(
    vehicles,
    codecs,
    {
      port: m.port,
      areaNames: m.areas,
      token: m.token,
      acks: m.acks,
      maxFrameBytes: m.maxFrameBytes,
      connectConcurrency: m.connectConcurrency,
      attemptTimeoutMs: m.attemptTimeoutMs,
      connectRetries: m.connectRetries,
      reconnectRetries: m.reconnectRetries ?? Math.max(10, m.connectRetries),
      ...(m.retryHosts !== undefined && { retryHosts: m.retryHosts }),
      reconnectOnClose: m.reconnectOnClose,
      ...(m.slowReaders !== undefined && { slowReaders: m.slowReaders }),
    },
    () => {
      const t = conn.tally;
      sendProgress();
      send({ type: 'connected', workerIndex: m.workerIndex, subscribed: t.subscribed, failed: t.failed, firstConnectUs: t.firstConnectUs, lastSubscribedUs: t.lastSubscribedUs, attemptFailures: t.attemptFailures });
    },
  );
  setInterval(sendProgress, m.progressMs).unref();
  setInterval(checkSettled, 100).unref();
  send({ type: 'ready', workerIndex: m.workerIndex, pid: process.pid });
}

process.on('message', (m: ParentMessage) => {
  switch (m.type) {
    case 'init':
      init(m).catch((err: unknown) => {
        send({ type: 'fatal', workerIndex: m.workerIndex, message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
        setTimeout(() => process.exit(1), 100);
      });
      return;
    case 'connect':
      conn.start();
      return;
    case 'measure':
      eldMeasured.reset();
      cpuAtMeasure = process.cpuUsage();
      return;
    case 'drop':
      conn.drop(m.share, m.jitterMs);
      return;
    case 'target':
      target = m.lastOffsets;
      firstOffsets = m.firstOffsets;
      checkSettled();
      return;
    case 'finish':
      finalReport();
      // Let the report leave before the sockets go.
      setTimeout(() => {
        conn.stop();
        process.exit(0);
      }, 200);
      return;
  }
});

process.on('disconnect', () => process.exit(1));
process.on('uncaughtException', (err) => {
  send({ type: 'fatal', workerIndex: cfg?.workerIndex ?? -1, message: err.stack ?? String(err) });
  setTimeout(() => process.exit(1), 100);
});
