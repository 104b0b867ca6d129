/** The narrow context MQTT handlers get: no reaching into the server or the log. */
import type { Compressor } from '../../areas/compression.ts';
import type { CounterLike } from '../../areas/metrics.ts';
import type { AreaRegistry } from '../../areas/registry.ts';
import type { AreaService } from '../../areas/service.ts';
import type { Authenticator } from '../../auth/types.ts';
import type { ErrorCode, MqttReason } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { SessionStore } from '../../sessions/types.ts';
import type { MqttConnection } from './connection.ts';
import type { MqttFormats } from './encoders.ts';
import type { Admission } from '../shared/admission.ts';
import type { SharedGroup } from './shared-group.ts';
import type { WildcardDirectory } from './wildcards.ts';

export interface MqttSettings {
  /** Largest packet a client may send (advertised as Maximum Packet Size in 5.0 CONNACK). */
  readonly maxPacketBytes: number;
  readonly maxPayloadBytes: number;
  /** QoS 1 messages in flight to a 3.1.1 client; cap on a 5.0 client's Receive Maximum. */
  readonly inflightWindow: number;
  /** QoS 1 PUBLISH a client may have awaiting PUBACK (advertised Receive Maximum). */
  readonly receiveMaximum: number;
  readonly sessionExpiryMaxSeconds: number;
  /** A connected session with moved positions is written once this old (ms). */
  readonly checkpointMs: number;
  readonly keepaliveMaxSeconds: number;
  readonly maxSubscriptions: number;
  readonly maxPacketsPerSecond: number;
  readonly maxBackpressureBytes: number;
  readonly maxConnections: number;
  /** MQTT/TCP sockets: bare libuv handles (raw-tcp.ts) or node:net (--mqtt-sockets). */
  readonly tcpSockets: 'raw' | 'net';
  /** A connection that has not sent CONNECT by then is closed. */
  readonly connectTimeoutMs: number;
}

export interface MqttMetrics {
  /** Refusals and closes caused by client input, by MQTT reason name. */
  readonly badInput: (reason: MqttReason) => CounterLike;
  /** Connections the engine closed (DISCONNECT sent or socket closed), by MQTT reason name. */
  readonly disconnects: (reason: MqttReason) => CounterLike;
  readonly sessionsResumed: CounterLike;
  readonly retainedSent: CounterLike;
  /** Messages not sent because they exceed the client's Maximum Packet Size. */
  readonly oversizeSkipped: CounterLike;
  readonly acks: CounterLike;
  readonly subscribes: CounterLike;
  readonly recoveredFalse: CounterLike;
  readonly subscriptions: { inc(): void; dec(): void };
  readonly connections: (transport: string) => { inc(): void; dec(): void };
  /** HTTP refusals of the /mqtt upgrade (abe_http_errors_total, shared with REST). */
  readonly httpErrors: (code: ErrorCode) => CounterLike;
}

export interface MqttContext {
  readonly areas: AreaRegistry;
  readonly service: AreaService;
  readonly auth: Authenticator;
  readonly sessions: SessionStore;
  readonly formats: MqttFormats;
  /** For frames built outside the ring (retained messages) of subscriptions that asked for deflate. */
  readonly compressor: Compressor;
  readonly settings: MqttSettings;
  readonly metrics: MqttMetrics;
  readonly logger: Logger;
  readonly now: () => number;
  /** Connected clients by client id (session takeover). */
  readonly live: Map<string, MqttConnection>;
  /** Open connections of every transport in this process (for --max-connections). */
  readonly connectionCount: () => number;
  /** Connect rate and flapping bans (../shared/admission.ts). */
  readonly admission: Admission;
  /** Shared subscription groups of this process, by `{group}/{area}` (shared-group.ts). */
  readonly shared: Map<string, SharedGroup>;
  /** Areas for wildcard subscriptions (wildcards.ts). */
  readonly wildcards: WildcardDirectory;
  /** Wills waiting for their Will Delay Interval, by client id (session-gone.ts). */
  readonly delayedWills: Map<string, { readonly timer: NodeJS.Timeout; readonly publish: () => void }>;
}
