/**
 * Typed errors, one per engine close code (the engine's registry: engine/errors.ts CLOSE; a test
 * checks this table against it entry for entry). Ranges [engine/errors.ts]: 4000-4499 transient
 * (reconnect and resume), 4500-4999 terminal (fix the token or the request first).
 */

export class AbeError extends Error {
  constructor(
    /** Stable key: the engine's registry key, or a local one (connect_timeout, ping_timeout, ...). */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AbeError';
  }
}

/** The engine (or the network) closed the WebSocket. */
export class CloseError extends AbeError {
  constructor(
    code: string,
    readonly closeCode: number,
    /** true: the client reconnects and resumes; false: it stops (terminal). */
    readonly reconnect: boolean,
    readonly detail: string,
  ) {
    super(code, `connection closed ${closeCode} ${code}${detail ? `: ${detail}` : ''}`);
    this.name = 'CloseError';
  }
}

type CloseErrorClass = new (detail: string) => CloseError;

function closeClass(name: string, code: string, closeCode: number, reconnect: boolean): CloseErrorClass {
  const cls = class extends CloseError {
    constructor(detail: string) {
      super(code, closeCode, reconnect, detail);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

// transient: the client retries, with backoff, and resumes every area
export const GoingAwayError = closeClass('GoingAwayError', 'going_away', 1001, true);
export const SlowConsumerError = closeClass('SlowConsumerError', 'slow_consumer', 4000, true);
export const AckTimeoutError = closeClass('AckTimeoutError', 'ack_timeout', 4001, true);
export const RateLimitedError = closeClass('RateLimitedError', 'rate_limited', 4002, true);
export const TooManyConnectionsError = closeClass('TooManyConnectionsError', 'too_many_connections', 4003, true);
export const EngineInternalError = closeClass('EngineInternalError', 'internal', 4004, true);
export const TokenExpiredError = closeClass('TokenExpiredError', 'token_expired', 4005, true);
/** 1006 (no close frame: network, engine killed, a refused upgrade in a browser) and any unknown code. */
export const AbnormalCloseError = closeClass('AbnormalCloseError', 'abnormal', 1006, true);
// terminal: the client stops, `lastError` says why, ready() rejects
export const NormalCloseError = closeClass('NormalCloseError', 'normal', 1000, false);
export const UnauthorizedError = closeClass('UnauthorizedError', 'unauthorized', 4500, false);
export const ForbiddenError = closeClass('ForbiddenError', 'forbidden', 4501, false);
export const BadFrameError = closeClass('BadFrameError', 'bad_frame', 4502, false);
export const TooManySubscriptionsError = closeClass('TooManySubscriptionsError', 'too_many_subscriptions', 4503, false);
export const MessageTooBigError = closeClass('MessageTooBigError', 'message_too_big', 4504, false);
export const InvalidUtf8Error = closeClass('InvalidUtf8Error', 'invalid_utf8', 1007, false);

export interface CloseCodeEntry {
  readonly reason: string;
  readonly reconnect: boolean;
  readonly make: (detail: string) => CloseError;
}

function entry(cls: CloseErrorClass): [number, CloseCodeEntry] {
  const sample = new cls('');
  return [sample.closeCode, { reason: sample.code, reconnect: sample.reconnect, make: (d) => new cls(d) }];
}

/** Every close code the engine sends, with its registry key and whether the client reconnects. */
export const CLOSE_CODES: Readonly<Record<number, CloseCodeEntry>> = Object.freeze(
  Object.fromEntries(
    [
      NormalCloseError,
      GoingAwayError,
      InvalidUtf8Error,
      SlowConsumerError,
      AckTimeoutError,
      RateLimitedError,
      TooManyConnectionsError,
      EngineInternalError,
      TokenExpiredError,
      UnauthorizedError,
      ForbiddenError,
      BadFrameError,
      TooManySubscriptionsError,
      MessageTooBigError,
    ].map(entry),
  ),
);

/** The typed error for a close the client saw (unknown codes: by range, else abnormal). */
export function closeError(closeCode: number, reason: string): CloseError {
  const known = CLOSE_CODES[closeCode];
  if (known !== undefined) return known.make(reason);
  if (closeCode >= 4500 && closeCode <= 4999) return new CloseError(reason || 'terminal', closeCode, false, reason);
  if (closeCode >= 4000 && closeCode <= 4499) return new CloseError(reason || 'transient', closeCode, true, reason);
  return new CloseError('abnormal', closeCode, true, reason);
}

/** Local reasons (no engine close applies), after centrifuge-js codes.ts. */
export const LOCAL = {
  connect_called: 0,
  transport_closed: 1,
  ping_timeout: 2,
  subscribe_timeout: 3,
  offline: 4,
  token_refresh: 5,
  unsubscribe_called: 6,
  connect_timeout: 7,
  upgrade_refused: 8,
} as const;
export type LocalReason = keyof typeof LOCAL;

/** Local, transient. */
export class ConnectTimeoutError extends AbeError {
  constructor(ms: number) {
    super('connect_timeout', `the WebSocket did not open within ${ms} ms`);
    this.name = 'ConnectTimeoutError';
  }
}
export class PingTimeoutError extends AbeError {
  constructor(ms: number) {
    super('ping_timeout', `nothing received for ${ms} ms after a ping: the link is dead`);
    this.name = 'PingTimeoutError';
  }
}
export class SubscribeTimeoutError extends AbeError {
  constructor(area: string, ms: number) {
    super('subscribe_timeout', `no answer to subscribe ${area} within ${ms} ms`);
    this.name = 'SubscribeTimeoutError';
  }
}
/** The engine refused the WebSocket upgrade with an HTTP status (seen in Node with `ws`; a browser sees 1006). */
export class UpgradeRefusedError extends AbeError {
  constructor(
    readonly status: number,
    code: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(code, `upgrade refused: HTTP ${status} ${code}`);
    this.name = 'UpgradeRefusedError';
  }
}

/** An `error` frame about one area (`code` is the engine's ERRORS key: invalid_area, bad_offset, ...). */
export class AreaError extends AbeError {
  constructor(
    code: string,
    message: string,
    readonly area: string | undefined,
  ) {
    super(code, message);
    this.name = 'AreaError';
  }
}

/** Thrown by subscribe()/moveTo() for something the client can tell before sending anything. */
export class UsageError extends AbeError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'UsageError';
  }
}

/** A history (REST) request failed. */
export class HistoryError extends AbeError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
    this.name = 'HistoryError';
  }
}
