/**
 * The messages between the orchestrator (run.ts) and its vehicle workers (vehicle-worker.ts),
 * over Node's child-process IPC channel (JSON serialization).
 *
 *   parent                      worker
 *   init ─────────────────────▶        (holds its vehicles, nothing open yet)
 *        ◀───────────────────── ready
 *   connect ──────────────────▶        (connect, upgrade, subscribe, at most `connectConcurrency` in flight)
 *        ◀───────────────────── progress (every second, all along)
 *        ◀───────────────────── connected (every vehicle subscribed or given up)
 *   measure ──────────────────▶        (start of the measured window: reset event-loop stats)
 *   drop ─────────────────────▶        (reconnect storm / churn: vehicles drop and resume)
 *   target ───────────────────▶        (last published offset per area: settle when all have it)
 *        ◀───────────────────── settled
 *   finish ───────────────────▶
 *        ◀───────────────────── report (histograms + counters), then the worker exits
 */
import type { Transport } from './scenario.ts';

export interface WorkerInit {
  readonly type: 'init';
  readonly workerIndex: number;
  /** Global index of this worker's first vehicle; vehicle g subscribes to areas[g % areas.length]. */
  readonly firstVehicle: number;
  readonly vehicles: number;
  readonly areas: readonly string[];
  /**
   * Destination addresses, round-robin over this worker's sockets: every loopback destination has
   * its own ~28K ephemeral ports (the kernel picks the source port per destination), of which
   * ~14K are cheap to find (see README "Addressing"): run-target.ts keeps each under PER_DESTINATION (cli.ts).
   */
  readonly hosts: readonly string[];
  readonly port: number;
  /** Transport mix: vehicle g gets a transport with these weights (deterministic per g). */
  readonly mix: readonly { readonly transport: Transport; readonly share: number }[];
  readonly acks: boolean;
  /** Share of vehicles that read slowly (paused pauseMs out of every periodMs). */
  readonly slowReaders?: { readonly share: number; readonly pauseMs: number; readonly periodMs: number };
  /** Vehicles closed by the server reconnect and resume (else they count as closed). */
  readonly reconnectOnClose: boolean;
  /** How often progress is reported (ms); 100 when the producer feeds at the maximum rate. */
  readonly progressMs: number;
  /** MQTT vehicles (transports mqtt-qos0 / mqtt-qos1): where and how. */
  readonly mqtt?: {
    readonly port: number;
    readonly version: 4 | 5;
    /** Client ids are `<prefix><vehicle>`: unique per run, so no stale session is found. */
    readonly clientIdPrefix: string;
    /** 'property': the engine's MQTT 5 `offset` user property; 'seq': from the payload (any broker). */
    readonly offsetFrom: 'property' | 'seq';
    /** With authentication on: each MQTT vehicle signs its own token (sub = its client id) with this per-run secret. */
    readonly tokenSecret?: string;
  };
  /** Bearer token for the upgrade, when the target has authentication on. */
  readonly token?: string;
  readonly connectConcurrency: number;
  /** Per vehicle: give up on one attempt after this long without `subscribed`. */
  readonly attemptTimeoutMs: number;
  readonly connectRetries: number;
  /** Where failed attempts retry (ConnectorOptions.retryHosts). */
  readonly retryHosts?: readonly string[];
  /** Retries of a vehicle coming back after a drop (an engine restart needs many). */
  readonly reconnectRetries?: number;
  readonly maxFrameBytes: number;
}

export type ParentMessage =
  | WorkerInit
  | { readonly type: 'connect' }
  | { readonly type: 'measure' }
  /** Per area index: the last offset published, and the first (what a vehicle that never subscribed missed). */
  | { readonly type: 'target'; readonly lastOffsets: readonly number[]; readonly firstOffsets: readonly number[] }
  /** Reconnect storm / churn: drop `share` of the subscribed vehicles, each back within `jitterMs`. */
  | { readonly type: 'drop'; readonly share: number; readonly jitterMs: number }
  | { readonly type: 'finish' };

export interface WorkerProgress {
  readonly type: 'progress';
  readonly workerIndex: number;
  /** Sockets open and upgraded right now. */
  readonly open: number;
  readonly subscribed: number;
  readonly failed: number;
  /** Message frames received (unique + duplicates). */
  readonly frames: number;
  readonly unique: number;
  readonly duplicated: number;
  readonly closedAfterSubscribe: number;
  /** Offsets still missing against the target (only after `target`; -1 before). */
  readonly pending: number;
  /** Largest event-loop delay (beyond the sampling interval) since the last progress report, ms. */
  readonly eventLoopDelayMaxMs: number;
  /** Per area: lowest last offset over subscribed normal readers (-1: none); paces a max-rate producer. */
  readonly floors: readonly number[];
  readonly dropped: number;
  readonly resubscribed: number;
}

export interface WorkerConnected {
  readonly type: 'connected';
  readonly workerIndex: number;
  readonly subscribed: number;
  readonly failed: number;
  /** µs since the epoch (cross-process clock: performance.timeOrigin + now). */
  readonly firstConnectUs: number;
  readonly lastSubscribedUs: number;
  /** Why vehicles failed to connect, by reason, with counts (retries included). */
  readonly attemptFailures: Readonly<Record<string, number>>;
}

export interface WorkerReport {
  readonly type: 'report';
  readonly workerIndex: number;
  readonly pid: number;
  readonly vehicles: number;
  readonly subscribed: number;
  /** HDR histograms, µs, compressed base64 (hdr-histogram-js encodeIntoCompressedBase64). */
  readonly endToEnd: string;
  /** Engine accept time (ms resolution) to receive. */
  readonly acceptToReceive: string;
  readonly frames: number;
  readonly bytes: number;
  /** Unique offsets received after subscribing, up to the target. */
  readonly delivered: number;
  readonly deliveredMeasured: number;
  readonly expected: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly outOfOrder: number;
  /** Messages with no sentAtUs, or a receive time before it (clock trouble). */
  readonly unstamped: number;
  readonly negativeLatency: number;
  readonly closedAfterSubscribe: number;
  /** Close frames / socket errors seen, by code or errno. */
  readonly closeCodes: Readonly<Record<string, number>>;
  readonly socketErrors: Readonly<Record<string, number>>;
  /** `error` frames from the engine, by code. */
  readonly engineErrors: Readonly<Record<string, number>>;
  readonly protocolErrors: Readonly<Record<string, number>>;
  readonly pingsAnswered: number;
  readonly acksSent: number;
  /** MQTT QoS 1 resends of offsets already received, and how many of them lacked the DUP flag. */
  readonly redelivered: number;
  readonly redeliveredWithoutDup: number;
  /** `lost` split by the vehicles' transport (MQTT QoS 0 may lose what was in flight at a drop). */
  readonly lostByTransport: Readonly<Record<string, number>>;
  /** Spread of one message over this worker's vehicles: last receive - first receive, µs. */
  readonly receiveSpreadAvgUs: number;
  readonly receiveSpreadMaxUs: number;
  /** Event-loop delay over the measured window beyond the 10 ms sampling interval, ms. */
  readonly eventLoopDelay: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly cpuUserSeconds: number;
  readonly cpuSystemSeconds: number;
  /** Slow readers' latency (kept out of endToEnd), and normal readers' per transport. */
  readonly endToEndSlow: string;
  readonly byTransport: Readonly<Record<string, string>>;
  /** Deliberate drops: how many, how many came back, recovered:false answers, first drop / last resubscribe µs, drop -> resubscribed µs. */
  readonly reconnect: {
    readonly dropped: number;
    readonly resubscribed: number;
    readonly recoveredFalse: number;
    readonly firstDropUs: number;
    readonly lastResubscribedUs: number;
    readonly time: string;
    /** Resubscribes per Unix second. */
    readonly perSecond: Readonly<Record<string, number>>;
    /** End-to-end latency of the normal readers that never dropped (encoded histogram). */
    readonly stayed: string;
    /** End-to-end latency of normal readers before the first drop (encoded histogram). */
    readonly beforeStorm: string;
  };
}

export type WorkerMessage =
  | { readonly type: 'ready'; readonly workerIndex: number; readonly pid: number }
  | WorkerProgress
  | WorkerConnected
  | { readonly type: 'settled'; readonly workerIndex: number }
  | WorkerReport
  | { readonly type: 'fatal'; readonly workerIndex: number; readonly message: string };
