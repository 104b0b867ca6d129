/** Public types of the vehicle SDK (protocol v1: client/PROTOCOL.md). */
import type { AbeError } from './errors.ts';

/** Where a vehicle stands in an area: the epoch of the area's log and the last handled offset. */
export interface Position {
  readonly epoch: string;
  readonly offset: number;
}

/** The part of a WebSocket the SDK uses: the browser's and `ws`'s both fit. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly protocol: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  /** `ws` only: drop the TCP connection without a close handshake. */
  terminate?(): void;
  /** `ws` only (Node's EventEmitter): used for 'unexpected-response' to see a refused upgrade's status. */
  on?(event: string, listener: (...args: never[]) => void): unknown;
}
export type WebSocketCtor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type TokenReason = 'initial' | 'expired' | 'refresh' | 'unauthorized';

export interface AcksOptions {
  /** Send the cumulative ack at least this often while it moves (ms, default 1000; keep it under the engine's --ack-resend-ms). */
  intervalMs?: number;
  /** ... or after this many handled messages (default 100). */
  maxMessages?: number;
}

export interface HistoryOptions {
  /** At most this many missed messages are fetched per gap, the newest ones (default 1000). */
  maxMessages?: number;
  /** Messages per history request (default 1000, the engine's maximum). */
  pageSize?: number;
  /** Live messages held while a gap is being filled (default 10000); over it the fill stops. */
  maxBuffer?: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ClientOptions {
  /** ws(s)://host:port/v1/ws, or a function (rotate hosts; called before every connect). */
  url: string | (() => string | Promise<string>);
  token?: string;
  /** Called at start when there is no token, on close 4005, shortly before `exp`, and once after a 4500/401. */
  getToken?: (ctx: { reason: TokenReason }) => Promise<string>;
  /** 'swap' (default): a new connection with the new token, then the old one closes: no disconnected state. 'reconnect': close, reconnect. */
  tokenRefresh?: 'swap' | 'reconnect';
  /** Default globalThis.WebSocket. Node 20 has none: pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketCtor;
  /** Default globalThis.fetch (history requests). */
  fetch?: typeof globalThis.fetch;
  /** Base URL of the REST API; default: the WebSocket URL with ws→http and no path. */
  httpUrl?: string;
  codec?: Codec;
  /**
   * Ask for compressed frames (offer the codec's `+deflate` subprotocol first, the plain one
   * second, so an older engine still answers). Default: true where the runtime has
   * DecompressionStream('deflate-raw') (current browsers, Node 20: checked on 20.20).
   */
  compression?: boolean;
  store?: PositionStore;
  /** First retry window (ms, default 1000). The n-th retry waits U(0, min(max, min·2^n)) (full jitter). */
  minReconnectDelay?: number;
  maxReconnectDelay?: number;
  /** Default true. false: the fixed MQTT.js-like schedule (only to measure the herd jitter prevents). */
  jitter?: boolean;
  /** ms until the WebSocket opens (default 10000). */
  connectTimeout?: number;
  /** ms until a subscribe is answered (default 10000); then the link is treated as broken. */
  subscribeTimeout?: number;
  /** ms of inbound silence before the client pings (default 10000). */
  pingInterval?: number;
  /** ms to wait for anything after a ping (default 5000): a dead link is found within pingInterval + pongTimeout. */
  pongTimeout?: number;
  /** Where `online`/`offline` events come from (default globalThis when it has addEventListener; null: off). */
  networkEventTarget?: { addEventListener(t: string, f: () => void): void; removeEventListener(t: string, f: () => void): void } | null;
  /** Cumulative acks, batched (default off). true = { intervalMs: 1000, maxMessages: 100 }. */
  acks?: boolean | AcksOptions;
  /** Fill `recovered:false` gaps from GET /v1/areas/{area}/messages (default off). */
  history?: boolean | HistoryOptions;
  /** The engine's --max-subscriptions (default 32): the client refuses more locally instead of being closed 4503. */
  maxSubscriptions?: number;
  /** Debug log hook: every state change, close, backoff decision, gap and swap. */
  log?: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
  /** For tests: the random source of the backoff jitter. */
  random?: () => number;
}

export type ClientState = 'disconnected' | 'connecting' | 'connected';
export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';

export interface AreaMessage<T = unknown> {
  readonly area: string;
  readonly offset: number;
  readonly epoch: string;
  /** Engine accept time, ms since the Unix epoch. */
  readonly time: number;
  /** The payload: JSON as published; binary payloads as Uint8Array. */
  readonly data: T;
  /** live/replay from the WebSocket; history from a gap fill. */
  readonly source: 'live' | 'history';
}

export type MessageHandler<T = unknown> = (msg: AreaMessage<T>) => void | Promise<void>;

export type GapReason = 'retention' | 'epoch' | 'slow_consumer' | 'position_ahead';

export interface GapContext {
  readonly area: string;
  readonly epoch: string;
  /** The area head when the engine answered the subscribe: live delivery goes on after it. */
  readonly head: number;
  readonly previous: Position | undefined;
  readonly reason: GapReason;
}

export interface GapEvent extends GapContext {
  /** Offsets possibly missed (some may never have reached anyone: expired messages). */
  readonly missed: { from: number; to: number } | null;
  readonly fill: 'history' | 'state' | 'none';
  /** Messages delivered from history. */
  readonly filled: number;
  /** What nothing could fill (trimmed, capped, fetch failed). */
  readonly lost: { from: number; to: number } | null;
}

export interface SubscriptionOptions {
  /** Start here (overrides the store). */
  since?: Position;
  /** Start at the area's head, ignoring any stored position. */
  fromHead?: boolean;
  acks?: boolean;
  history?: boolean | HistoryOptions;
  /** The app reloads its own state on a gap (wins over history); live messages wait until it resolves. */
  getState?: (ctx: GapContext) => Promise<void>;
  /** 'skip' (default): report a handler error and go on; 'stop': report it and unsubscribe. */
  onHandlerError?: 'skip' | 'stop';
}

export interface MoveOptions extends SubscriptionOptions {
  /** Default: the handler of the subscription being left. */
  handler?: MessageHandler;
  /** 'stored' (default): resume the new area from the store if it has a position; 'fresh': from its head. */
  resume?: 'stored' | 'fresh';
}

export interface ClientStats {
  connects: number;
  reconnects: number;
  connectFailures: number;
  /** Subscribes sent with `since`. */
  resumes: number;
  /** ... answered recovered:true. */
  recovered: number;
  gaps: number;
  gapFilled: number;
  gapLost: number;
  /** Resent or replayed offsets the handler had already had, not delivered again. */
  duplicatesDropped: number;
  delivered: number;
  acksSent: number;
  pings: number;
  /** Frames that came compressed (+deflate subprotocols) and were inflated. */
  inflated: number;
  livenessTimeouts: number;
  tokenRefreshes: number;
  swaps: number;
  handlerErrors: number;
  moves: number;
}

export interface ClientEvents {
  state: (c: { newState: ClientState; oldState: ClientState }) => void;
  connecting: (c: { code: number; reason: string; error?: AbeError; attempt: number; delayMs: number }) => void;
  connected: (c: { url: string; subprotocol: string }) => void;
  disconnected: (c: { code: number; reason: string; error?: AbeError }) => void;
  token: (c: { exp: number | undefined; refreshAt: number | undefined }) => void;
  error: (c: { type: 'transport' | 'token' | 'handler' | 'area' | 'history' | 'store'; error: Error; area?: string }) => void;
}

export interface SubscriptionEvents<T = unknown> {
  state: (c: { newState: SubscriptionState; oldState: SubscriptionState }) => void;
  subscribed: (c: { epoch: string; head: number; recovered: boolean; wasRecovering: boolean }) => void;
  unsubscribed: (c: { reason: string; error?: AbeError }) => void;
  message: (m: AreaMessage<T>) => void;
  gap: (g: GapEvent) => void;
  error: (c: { error: Error }) => void;
}

/** Frames (protocol v1). */
export type ClientFrame =
  | { type: 'subscribe'; area: string; since?: Position }
  | { type: 'ack'; area: string; offset: number }
  | { type: 'unsubscribe'; area: string }
  | { type: 'ping' };

export type ServerFrame =
  | { type: 'subscribed'; area: string; epoch: string; offset: number; recovered: boolean }
  | { type: 'message'; area: string; offset: number; time: number; encoding?: 'base64'; data: unknown }
  | { type: 'unsubscribed'; area: string }
  | { type: 'error'; code: string; message: string; area?: string }
  | { type: 'pong' };

/** A wire format: the WebSocket subprotocol and its frame encoding. */
export interface Codec {
  readonly subprotocol: string;
  readonly binary: boolean;
  encode(frame: ClientFrame): string | Uint8Array;
  /** Throws on a frame that is not protocol v1. */
  decode(data: unknown): ServerFrame;
}

/** Where positions live between subscribes and across app restarts. */
export interface PositionStore {
  get(area: string): Position | undefined;
  /** Called after each handled message: must be cheap. */
  set(area: string, pos: Position): void;
  delete(area: string): void;
  /** Durable after it resolves (disconnect() calls it). */
  flush(): Promise<void>;
}
