/**
 * Wires one engine process: log -> area registry -> transports on one uWS app.
 * main.ts (CLI) and the tests both start the engine through here; nothing here knows flags.
 */
import type { Registry } from 'prom-client';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { Compressor } from './areas/compression.ts';
import { FormatTable } from './areas/encoding.ts';
import { AreaRegistry } from './areas/registry.ts';
import { AreaService } from './areas/service.ts';
import { createAuthenticator } from './auth/jwt.ts';
import type { EngineConfig } from './config.types.ts';
import type { Logger } from './logger.ts';
import { createLog } from './log/factory.ts';
import type { AreaLog } from './log/types.ts';
import { createMetrics, type EngineMetrics } from './metrics/metrics.ts';
import type { HttpContext } from './transports/http/context.ts';
import { LiveSampler } from './metrics/live.ts';
import { mountDashboard } from './transports/http/dashboard.ts';
import { mountHttpRoutes } from './transports/http/routes.ts';
import { loadUws } from './transports/uws.ts';
import { mountMqtt, type MqttEndpoint } from './transports/mqtt/mount.ts';
import { Admission } from './transports/shared/admission.ts';
import { mountWsEndpoint, type WsEndpoint } from './transports/ws/endpoint.ts';
import { registerWsFormats } from './transports/ws/message-encoders.ts';

export interface Engine {
  readonly port: number;
  readonly uwsBuild: string;
  readonly log: AreaLog;
  readonly areas: AreaRegistry;
  readonly metrics: EngineMetrics;
  readonly ws: WsEndpoint;
  /** MQTT over TCP (this bound port) and over WebSocket at /mqtt. */
  readonly mqttPort: number;
  readonly mqtt: MqttEndpoint;
  /** Graceful stop: refuse new work, close sockets with going_away, close the log. */
  close(): Promise<void>;
}

export interface EngineOverrides {
  /** A log other than the embedded one (Pulsar; test doubles). */
  readonly log?: AreaLog;
  readonly now?: () => number;
  /** This process's index among several engine processes (issue 6): `worker` label of per-process metrics. */
  readonly worker?: string;
  /** What GET /metrics renders; engine/cluster passes one that answers for every process. Default: this process's registry. */
  readonly scrape?: Registry;
  /**
   * This process is one of the engine's own workers (engine/cluster): bind the HTTP port with
   * SO_REUSEPORT so the siblings share it; the primary checked the port was free before forking.
   * Otherwise the port is bound exclusively, so a second engine (or anything else) on a port in
   * use is a start error, not a silent sharer of the traffic [issue 13 item 2].
   */
  readonly sharedPort?: boolean;
}

/** Cursors nobody subscribes to are closed after this long. */
const IDLE_AREA_CLOSE_MS = 60_000;
/** Fan-outs yield every --fanout-slice-ms while a connect arrived within this long (areas/fan-out.ts Slice). */
const SLICE_AFTER_CONNECT_MS = 2000;
const REPLAY_BATCH = 512;

export async function startEngine(config: EngineConfig, logger: Logger, overrides: EngineOverrides = {}): Promise<Engine> {
  const { uws, build } = loadUws();
  const now = overrides.now ?? Date.now;
  const metrics = createMetrics({ topAreas: config.metricsTopAreas, ...(overrides.worker !== undefined && { worker: overrides.worker }) });
  const log =
    overrides.log ??
    (await createLog(config, logger, {
      onDeadLetter: (area, reason) => logger.warn({ area, reason }, 'log message dead-lettered'),
    }));
  await log.open();

  const formats = new FormatTable();
  const compressor = new Compressor(config.compression, metrics.compression);
  const wsFormatOf = registerWsFormats(formats, compressor);

  const admission = new Admission(config.admission, metrics.admission, logger.child({ component: 'admission' }), now);
  const areaLogger = logger.child({ component: 'areas' });
  const areas = new AreaRegistry(
    log,
    formats,
    metrics.areas,
    {
      ringSize: config.ringSize,
      resendAfterMs: config.ack.resendAfterMs,
      maxResends: config.ack.maxResends,
      replayBatch: REPLAY_BATCH,
      sweepIntervalMs: config.sweepIntervalMs,
      fanoutSliceMs: config.fanoutSliceMs,
      // Slices cost batching (acks read in smaller chunks) and fan-out latency, and help only while
      // connections queue up behind a long fan-out: slice while connects are arriving.
      fanoutSliceWhen: () => now() - admission.lastConnectAt < SLICE_AFTER_CONNECT_MS,
      idleCloseMs: IDLE_AREA_CLOSE_MS,
    },
    metrics.areaGauges,
    (area, what, err) => areaLogger.error({ err, area, what }, 'area error'),
    now,
  );
  const service = new AreaService(log, areas, metrics, config.limits.maxPendingAppends, now);
  const auth = await createAuthenticator({ hsSecret: config.auth.hsSecret, publicKeyPem: config.auth.publicKeyPem, now });

  const app: TemplatedApp = uws.App();
  const wsLogger = logger.child({ component: 'ws' });
  const ws = mountWsEndpoint(
    app,
    { areas, maxSubscriptionsPerConnection: config.limits.maxSubscriptionsPerConnection, metrics: metrics.ws, logger: wsLogger, now },
    auth,
    metrics,
    wsLogger,
    {
      maxClientFrameBytes: config.limits.maxClientFrameBytes,
      maxFramesPerSecond: config.limits.maxFramesPerSecond,
      maxConnections: config.limits.maxConnections,
      maxBackpressureBytes: config.limits.maxBackpressureBytes,
      formatOf: wsFormatOf,
      admission,
    },
  );
  const mqtt = await mountMqtt(app, config, {
    areas,
    service,
    auth,
    formats,
    compressor,
    metrics,
    logger: logger.child({ component: 'mqtt' }),
    now,
    otherConnections: () => ws.connections.size,
    admission,
  });
  let accepting = true;
  const httpContext: HttpContext = {
    service,
    auth,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    logger: logger.child({ component: 'http' }),
    httpErrors: metrics.httpErrors,
    authFailures: metrics.authFailures,
  };
  mountHttpRoutes(
    app,
    httpContext,
    overrides.scrape ?? metrics.registry,
    { ready: () => ({ ok: accepting && log.healthy(), log: log.healthy() ? 'ok' : 'unavailable', accepting }) },
  );
  // Scrape-time gauges (issue 5) and the live page at /dashboard.
  metrics.probe({
    openAreas: () => areas.areaCount,
    slotStates: () => areas.cursors.state,
    pausedConnections: { ws: () => [...ws.connections].reduce((n, c) => (c.paused && !c.closed ? n + 1 : n), 0) },
    logHealthy: () => log.healthy(),
    ready: () => accepting && log.healthy(),
    pendingAppends: () => service.pendingAppends,
    info: { uws: build, log: log.kind },
  });
  const dashboard = mountDashboard(app, LiveSampler.of(metrics, overrides.scrape), httpContext);

  const listenSocket = await listen(app, config.host, config.port, overrides.sharedPort === true ? LISTEN_DEFAULT : LISTEN_EXCLUSIVE_PORT);
  const port = uws.us_socket_local_port(listenSocket);
  areas.startSweeping();
  const connSweep = setInterval(() => ws.sweep(now()), Math.max(config.sweepIntervalMs, 1000));
  connSweep.unref();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      uws.us_listen_socket_close(listenSocket);
      clearInterval(connSweep);
      dashboard.close();
      ws.shutdown();
      mqtt.shutdown();
      // Let in-flight publishes reach the log before closing it.
      const deadline = Date.now() + config.shutdownGraceMs;
      while (service.pendingAppends > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      areas.close();
      await log.close();
      await mqtt.close();
    })();
    return closing;
  };

  return { port, uwsBuild: build, log, areas, metrics, ws, mqttPort: mqtt.port, mqtt, close };
}

/** uWS ListenOptions (a const enum in its typings): LIBUS_LISTEN_DEFAULT sets SO_REUSEPORT, EXCLUSIVE does not. */
const LISTEN_DEFAULT = 0;
const LISTEN_EXCLUSIVE_PORT = 1;

/** uWS 20.30 takes (host, port, options, cb); its typings list options only without a host. */
type ListenWithOptions = (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => void;

function listen(app: TemplatedApp, host: string, port: number, options: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) => {
    (app.listen as unknown as ListenWithOptions).call(app, host, port, options, (s) =>
      s
        ? resolve(s)
        : reject(new Error(`cannot listen on ${host}:${port}: the port is in use (another engine or program holds it) or the address is not local`)),
    );
  });
}
