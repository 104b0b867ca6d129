/** The resolved configuration. Only config.ts knows flags and env vars; everything else gets this. */
export interface EngineConfig {
  readonly host: string;
  readonly port: number;
  /** Reserved for the MQTT listener (issue 3). */
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
  readonly ringSize: number;
  readonly sweepIntervalMs: number;
  readonly ack: {
    /** Resend unacked messages after this long without an ack advancing. */
    readonly resendAfterMs: number;
    /** Close with ack_timeout after this many resends without progress. */
    readonly maxResends: number;
  };
  /** How often a tail polls the store for appends made by other processes. */
  readonly tailPollMs: number;
  readonly shutdownGraceMs: number;
}
