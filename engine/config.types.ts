import type { CompressionSettings } from './areas/compression.ts';

/** The resolved configuration. Only config.ts knows flags and env vars; everything else gets this. */
export interface EngineConfig {
  readonly host: string;
  readonly port: number;
  /** MQTT over TCP port (0 = any free port; the bound one is Engine.mqttPort). */
  readonly mqttPort: number;
  readonly dataDir: string;
  readonly logLevel: string;
  /** 'flush' = answer a publish after fsync; 'commit' = after the LMDB commit (survives kill -9, not power loss). */
  readonly durability: 'flush' | 'commit';
  readonly auth: {
    /** HS256 shared secret. */
    readonly hsSecret?: string;
    /** PEM (SPKI) public key for ES256/RS256, read from a file at start. */
    readonly publicKeyPem?: string;
  };
  readonly retention: {
    readonly maxCount: number;
    readonly maxAgeMs: number;
    /** How long an Idempotency-Key is remembered. */
    readonly idempotencyTtlMs: number;
  };
  readonly limits: {
    readonly maxPayloadBytes: number;
    readonly maxClientFrameBytes: number;
    readonly maxSubscriptionsPerConnection: number;
    readonly maxFramesPerSecond: number;
    readonly maxConnections: number;
    /** Bytes buffered on a socket before it stops getting live sends and catches up later. */
    readonly maxBackpressureBytes: number;
    /** Publishes waiting for the log before REST answers 429. */
    readonly maxPendingAppends: number;
  };
  /** Who may connect how often (engine/transports/shared/admission.ts). */
  readonly admission: AdmissionConfig;
  readonly ringSize: number;
  readonly sweepIntervalMs: number;
  /** A fan-out yields the event loop after this long (0 = never) [areas/fan-out.ts Slice]. */
  readonly fanoutSliceMs: number;
  /** Deflate for clients that ask for it [areas/compression.ts]. */
  readonly compression: CompressionSettings;
  readonly ack: {
    /** Resend unacked messages after this long without an ack advancing. */
    readonly resendAfterMs: number;
    /** Close with ack_timeout after this many resends without progress. */
    readonly maxResends: number;
  };
  /** How often a tail polls the store for appends made by other processes. */
  readonly tailPollMs: number;
  readonly shutdownGraceMs: number;
  /** Areas exported per ranking in the per-area gauges (top-N keeps label cardinality bounded). */
  readonly metricsTopAreas: number;
  /** MQTT listener settings (issue 3); the port is `mqttPort`. */
  readonly mqtt: {
    /** QoS 1 messages in flight per 3.1.1 connection; cap on a 5.0 client's Receive Maximum. */
    readonly inflightWindow: number;
    /** Longest session expiry granted (3.1.1 persistent sessions get exactly this). */
    readonly sessionExpiryMaxSeconds: number;
    /** A connected session's positions are written at most this often (--mqtt-checkpoint-ms). */
    readonly checkpointMs: number;
    /** MQTT/TCP on bare libuv handles (raw, mqtt/raw-tcp.ts) or node:net sockets (--mqtt-sockets). */
    readonly sockets: 'raw' | 'net';
    /** Longest keepalive accepted; 0 or longer becomes this (announced to 5.0 clients). */
    readonly keepaliveMaxSeconds: number;
  };
  /** Engine processes sharing the ports (issue 6, engine/cluster); 1 = a single process, no primary. */
  readonly workers: number;
  /** Where messages live: the embedded LMDB log (default, `dataDir`) or Apache Pulsar. */
  readonly log: {
    readonly kind: 'embedded' | 'pulsar';
    readonly pulsar: PulsarConfig;
  };
}

/** Settings of the Pulsar log (used when `log.kind` is 'pulsar'). */
export interface PulsarConfig {
  /** Service URL: pulsar://host:6650, pulsar+ssl://..., or an http(s) lookup URL (the native client). */
  readonly url?: string;
  /** The broker's web service, http(s)://host:port: admin API and WebSocket API (the websocket client). */
  readonly webUrl?: string;
  /** Which client: native (libpulsar), websocket, or auto (native when it loads). */
  readonly client: 'native' | 'websocket' | 'auto';
  /** `tenant/namespace` of the area topics. */
  readonly namespace: string;
  /** Token for AuthenticationToken (JWT); exclusive with tokenFile. */
  readonly token?: string;
  /** File holding the token, re-read whenever the client needs one (rotation). */
  readonly tokenFile?: string;
  /** CA bundle for pulsar+ssl:// (default: the bundle pulsar-client ships). */
  readonly tlsTrustCertsFile?: string;
  /** Dead-letter topic = area topic + this suffix. */
  readonly deadLetterSuffix: string;
  /** An append fails (503 log_unavailable) when Pulsar has not acknowledged it within this. */
  readonly sendTimeoutMs: number;
  /** Recent records kept in memory per open area; older reads replay from Pulsar. */
  readonly cacheRecords: number;
  /** An area without an offset anchor for this long gets a checkpoint. */
  readonly checkpointIntervalMs: number;
  /** A reader counts as caught up after this long without a message. */
  readonly catchUpIdleMs: number;
}

export const FLAPPING_KEYS = ['clientid', 'subject', 'address'] as const;
export type FlappingKey = (typeof FLAPPING_KEYS)[number];

export interface AdmissionConfig {
  /** Connections accepted per second per listener per process (token bucket, burst = rate); 0 = no limit. */
  readonly maxConnectRate: number;
  readonly flapping: {
    /** Connects of one client within `windowMs` before it is banned; 0 = off. */
    readonly maxConnects: number;
    readonly windowMs: number;
    readonly banMs: number;
    readonly by: readonly FlappingKey[];
  };
}
