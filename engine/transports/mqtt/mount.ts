/**
 * server.ts's one call: MQTT settings from the configuration, the durable session store
 * (`${dataDir}/sessions`), the lazy MQTT formats (encoders.ts), metrics, both listeners and the sweep.
 * Call before any area cursor opens (the formats join the FormatTable here).
 */
import { join } from 'node:path';
import type { TemplatedApp } from 'uWebSockets.js';
import type { FormatTable } from '../../areas/encoding.ts';
import type { AreaRegistry } from '../../areas/registry.ts';
import type { AreaService } from '../../areas/service.ts';
import type { Authenticator } from '../../auth/types.ts';
import type { EngineConfig } from '../../config.types.ts';
import type { Logger } from '../../logger.ts';
import { LmdbSessionStore } from '../../sessions/lmdb.ts';
import type { SessionStore } from '../../sessions/types.ts';
import type { MqttSettings } from './context.ts';
import { registerMqttFormats } from './encoders.ts';
import type { Compressor } from '../../areas/compression.ts';
import { startMqtt, type MqttEndpoint } from './endpoint.ts';
import { createMqttMetrics, type MqttHostMetrics } from './metrics.ts';
import type { Admission } from '../shared/admission.ts';

export type { MqttEndpoint } from './endpoint.ts';

export interface MountMqttDeps {
  readonly areas: AreaRegistry;
  readonly service: AreaService;
  readonly auth: Authenticator;
  readonly formats: FormatTable;
  /** Payload compression for MQTT 5 subscriptions that ask for it. */
  readonly compressor: Compressor;
  readonly metrics: MqttHostMetrics;
  readonly logger: Logger;
  readonly now: () => number;
  readonly otherConnections: () => number;
  /** Connect rate and flapping bans, shared with the WebSocket endpoint. */
  readonly admission: Admission;
  /** Default: LMDB in `${dataDir}/sessions`. */
  readonly sessions?: SessionStore;
}

/** Headroom over the largest payload for the topic, packet id and 5.0 properties of a PUBLISH. */
const PACKET_HEADROOM = 4096;
/** QoS 1 PUBLISH a client may have awaiting our PUBACK (5.0 Receive Maximum we advertise). */
const RECEIVE_MAXIMUM = 64;
const CONNECT_TIMEOUT_MS = 10_000;
const SWEEP_MS = 1000;

export function mqttSettings(config: EngineConfig): MqttSettings {
  return {
    maxPacketBytes: config.limits.maxPayloadBytes + PACKET_HEADROOM,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    inflightWindow: config.mqtt.inflightWindow,
    receiveMaximum: RECEIVE_MAXIMUM,
    sessionExpiryMaxSeconds: config.mqtt.sessionExpiryMaxSeconds,
    checkpointMs: config.mqtt.checkpointMs,
    keepaliveMaxSeconds: config.mqtt.keepaliveMaxSeconds,
    maxSubscriptions: config.limits.maxSubscriptionsPerConnection,
    maxPacketsPerSecond: config.limits.maxFramesPerSecond,
    maxBackpressureBytes: config.limits.maxBackpressureBytes,
    maxConnections: config.limits.maxConnections,
    tcpSockets: config.mqtt.sockets,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  };
}

export async function mountMqtt(app: TemplatedApp, config: EngineConfig, deps: MountMqttDeps): Promise<MqttEndpoint> {
  const sessions = deps.sessions ?? new LmdbSessionStore(join(config.dataDir, 'sessions'));
  await sessions.open();
  const endpoint = await startMqtt(
    app,
    {
      areas: deps.areas,
      service: deps.service,
      auth: deps.auth,
      sessions,
      formats: registerMqttFormats(deps.formats, deps.compressor),
      compressor: deps.compressor,
      metrics: createMqttMetrics(deps.metrics),
      logger: deps.logger,
      now: deps.now,
      otherConnections: deps.otherConnections,
      admission: deps.admission,
    },
    mqttSettings(config),
    { host: config.host, port: config.mqttPort },
  );
  deps.metrics.probe({
    pausedConnections: {
      mqtt: () => [...endpoint.connections].reduce((n, c) => (!c.closed && c.paused ? n + 1 : n), 0),
    },
  });
  const timer = setInterval(() => endpoint.sweep(deps.now()), SWEEP_MS);
  timer.unref();
  return {
    port: endpoint.port,
    connections: endpoint.connections,
    sweep: (now) => endpoint.sweep(now),
    shutdown() {
      clearInterval(timer);
      endpoint.shutdown();
    },
    close: () => endpoint.close(),
  };
}
