/**
 * The log interface: the only thing areas/ and transports/ know about where messages live.
 * Implementations: embedded (LMDB, default) and Pulsar (production, issue 4). Every
 * implementation passes the one contract suite in ./contract.ts.
 *
 * Offsets are the contract with vehicles [DESIGN "Offsets are the contract"]: per area they start
 * at 1 and increase by exactly 1 per appended message; `epoch` changes only if the store is reset.
 */

/** How the publisher's payload is to be interpreted when framing it for vehicles. */
export type ContentType = 'json' | 'msgpack' | 'binary';

/**
 * What an MQTT 5 publisher attached to its message, kept with the record so every process that
 * reads the log can forward it: MQTT 5 subscribers get it back unaltered [MQTT-3.3.2-15..20], and
 * No Local needs to know who published [MQTT-3.8.3-3]. Absent on REST and WebSocket publishes.
 */
export interface RecordHeaders {
  /** The publishing MQTT client id (No Local compares it with the subscriber's). */
  readonly origin?: string;
  /** Published with RETAIN=1 (Retain As Published subscribers see the flag [MQTT-3.3.1-13]). */
  readonly retain?: boolean;
  /** Publish QoS (retained messages go out at min(this, granted QoS) [MQTT-3.8.4-8]). */
  readonly qos?: 0 | 1 | 2;
  /** User Properties in the order received, names may repeat [MQTT-3.3.2-17, -18]. */
  readonly userProperties?: readonly (readonly [string, string])[];
  readonly responseTopic?: string;
  readonly correlationData?: Uint8Array;
  /** The Content Type string exactly as sent [MQTT-3.3.2-20]. */
  readonly contentType?: string;
  /** Payload Format Indicator 1 as sent [MQTT-3.3.2-4]. */
  readonly utf8?: boolean;
}

export interface LogRecord {
  readonly offset: number;
  /** ms since the Unix epoch at which the engine accepted the publish. */
  readonly time: number;
  /** ms since the Unix epoch after which the record must never be delivered; 0 = never expires. */
  readonly expiresAt: number;
  readonly contentType: ContentType;
  readonly payload: Uint8Array;
  readonly headers?: RecordHeaders;
}

export interface AppendRequest {
  readonly payload: Uint8Array;
  readonly contentType: ContentType;
  readonly headers?: RecordHeaders;
  /** Accept time (ms); the engine stamps it, the log stores it. */
  readonly time: number;
  /** 0 = never expires. */
  readonly expiresAt: number;
  /** A retried append with the same key (per area) returns the first offset, appends nothing. */
  readonly idempotencyKey?: string;
}

export interface AppendResult {
  readonly offset: number;
  readonly epoch: string;
  /** true when the idempotency key matched an earlier append and nothing was written. */
  readonly duplicate: boolean;
}

export interface AreaState {
  readonly epoch: string;
  /** Offset of the newest record, 0 when the area never had one. */
  readonly head: number;
  /** Offset of the oldest retained record; head + 1 when nothing is retained. */
  readonly first: number;
}

export interface TailHandle {
  close(): void;
}

/**
 * Called with records in offset order, never concurrently, never twice for one offset.
 * If retention removed records after the starting point, delivery starts at the first
 * retained one (the consumer sees the jump in offsets and treats it as loss of those).
 * A listener that returns a promise (a fan-out going on over several event-loop turns) gets
 * nothing more until it settles, so a backlog waits in the log, not in memory.
 */
export type TailListener = (records: readonly LogRecord[]) => Promise<void> | undefined | void;

export interface AreaLog {
  /** 'embedded' | 'pulsar': shown in logs and /readyz. */
  readonly kind: string;
  /** Opens the store; must be called (and awaited) once before any other method. */
  open(): Promise<void>;
  state(area: string): Promise<AreaState>;
  /** Resolves only once the record is durable (committed and flushed per the configured durability). */
  append(area: string, request: AppendRequest): Promise<AppendResult>;
  /**
   * Up to `limit` records with offset >= `from`, in order, contiguous from the first retained one.
   * Expired records ARE returned (callers filter on `expiresAt`), so offsets stay dense.
   */
  read(area: string, from: number, limit: number): Promise<LogRecord[]>;
  /** Starts the tailing cursor for an area: every record with offset > `after`, then each new one. */
  tail(area: string, after: number, listener: TailListener): TailHandle;
  /** Areas that have (or had) records. */
  areas(): Promise<string[]>;
  /** false while the store cannot take appends (drives /readyz and 503s). */
  healthy(): boolean;
  close(): Promise<void>;
}

export interface RetentionPolicy {
  /** Keep at most this many records per area (0 = unlimited). */
  readonly maxCount: number;
  /** Drop records older than this (ms, 0 = unlimited). */
  readonly maxAgeMs: number;
}
