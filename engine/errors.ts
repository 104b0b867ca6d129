/**
 * The one registry of everything the engine tells a client went wrong:
 * error codes (REST bodies, WebSocket `error` frames), WebSocket close codes, and
 * (later) MQTT reason codes. Callers branch on `EngineError.code`, never on message text.
 */

/** Error codes with the HTTP status a REST caller sees. */
export const ERRORS = {
  bad_request: { status: 400, message: 'malformed request' },
  bad_frame: { status: 400, message: 'malformed frame' },
  invalid_area: { status: 400, message: 'area id must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' },
  bad_offset: { status: 400, message: 'offset is not a position this area has reached' },
  bad_ack: { status: 400, message: 'ack for an offset that was never sent on this subscription' },
  not_subscribed: { status: 400, message: 'not subscribed to this area' },
  already_subscribed: { status: 400, message: 'already subscribed to this area' },
  unauthorized: { status: 401, message: 'missing, invalid or expired token' },
  forbidden: { status: 403, message: 'token does not allow this area' },
  area_not_found: { status: 404, message: 'area has no messages' },
  not_found: { status: 404, message: 'no such resource' },
  method_not_allowed: { status: 405, message: 'method not allowed' },
  payload_too_large: { status: 413, message: 'payload over the size limit' },
  unsupported_media_type: { status: 415, message: 'content type must be application/json, application/msgpack or application/octet-stream' },
  rate_limited: { status: 429, message: 'too many requests' },
  too_many_subscriptions: { status: 429, message: 'subscriptions per connection limit reached' },
  too_many_connections: { status: 503, message: 'connection limit of this process reached' },
  log_unavailable: { status: 503, message: 'the log is unavailable' },
  shutting_down: { status: 503, message: 'engine is shutting down' },
  internal: { status: 500, message: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class EngineError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.code = code;
    this.name = 'EngineError';
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
}

export function isEngineError(e: unknown): e is EngineError {
  return e instanceof EngineError;
}

/**
 * WebSocket close codes. Ranges (same idea as Centrifugo's disconnect codes):
 *   1000-1999  RFC 6455 codes we use as-is.
 *   4000-4499  transient: the client SHOULD reconnect (with jittered backoff) and resume
 *              with its (epoch, offset).
 *   4500-4999  terminal: reconnecting unchanged will fail the same way; fix the token,
 *              the request or the client first.
 * Reasons sent in the close frame are the registry key (short, stable, < 123 bytes).
 */
export const CLOSE = {
  normal: { code: 1000, reconnect: false, meaning: 'client asked to close' },
  going_away: { code: 1001, reconnect: true, meaning: 'engine shutting down; reconnect to another instance and resume' },
  slow_consumer: { code: 4000, reconnect: true, meaning: 'fell out of the retained window while not reading; resume will answer recovered:false' },
  ack_timeout: { code: 4001, reconnect: true, meaning: 'acks stopped advancing after repeated resends' },
  rate_limited: { code: 4002, reconnect: true, meaning: 'too many frames per second; back off before reconnecting' },
  too_many_connections: { code: 4003, reconnect: true, meaning: 'this process is full; reconnect (another process or later)' },
  internal: { code: 4004, reconnect: true, meaning: 'engine error on this connection' },
  token_expired: { code: 4005, reconnect: true, meaning: 'token expired; reconnect with a fresh token' },
  unauthorized: { code: 4500, reconnect: false, meaning: 'token missing or invalid' },
  forbidden: { code: 4501, reconnect: false, meaning: 'token does not allow subscribing to the area' },
  bad_frame: { code: 4502, reconnect: false, meaning: 'frame could not be decoded or violates the protocol' },
  too_many_subscriptions: { code: 4503, reconnect: false, meaning: 'subscriptions per connection limit reached' },
  message_too_big: { code: 4504, reconnect: false, meaning: 'client frame over the size limit' },
} as const;

export type CloseReason = keyof typeof CLOSE;
