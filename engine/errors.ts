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
  upgrade_required: { status: 426, message: 'WebSocket protocol version 13 only (RFC 6455)' },
  rate_limited: { status: 429, message: 'too many requests' },
  too_many_subscriptions: { status: 429, message: 'subscriptions per connection limit reached' },
  too_many_connections: { status: 503, message: 'connection limit of this process reached' },
  connect_rate_limited: { status: 503, message: 'too many connections per second on this listener; retry after Retry-After seconds' },
  flapping_banned: { status: 503, message: 'this client connected too often (flapping) and is refused for a while; retry after Retry-After seconds' },
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
  message_too_big: { code: 4504, reconnect: false, meaning: 'client frame over the size limit (over 4x the limit uWS drops the connection itself: the client sees 1006)' },
  /**
   * RFC 6455 §8.1: a text frame must be valid UTF-8 (1007). uWS 20.30 checks that before the
   * engine sees the frame and drops the TCP connection without a close frame, so the client sees
   * 1006; the engine still counts and logs it under this reason (./transports/shared/uws-close.ts).
   */
  invalid_utf8: { code: 1007, reconnect: false, meaning: 'text frame not valid UTF-8 (the client sees 1006: uWS drops the connection itself)' },
} as const;

export type CloseReason = keyof typeof CLOSE;

/**
 * MQTT reason codes the engine sends (MQTT 5.0 §2.4), keyed by a stable name that is also the
 * `reason` label of abe_mqtt_bad_input_total / abe_mqtt_disconnects_total. `v4` is the MQTT 3.1.1
 * CONNACK return code where 3.1.1 has one; elsewhere a 3.1.1 client gets SUBACK 0x80 or a close.
 */
export const MQTT_REASON = {
  success: { v5: 0x00, meaning: 'success' },
  no_subscription_existed: { v5: 0x11, meaning: 'UNSUBSCRIBE for a filter this session did not have' },
  unspecified_error: { v5: 0x80, meaning: 'the engine could not do it (e.g. the log is unavailable); retry later' },
  malformed_packet: { v5: 0x81, meaning: 'packet could not be decoded' },
  protocol_error: { v5: 0x82, meaning: 'packet valid but not allowed here (first packet not CONNECT, second CONNECT, QoS 2 flow...)' },
  unsupported_protocol_version: { v5: 0x84, v4: 0x01, meaning: 'only MQTT 3.1.1 (level 4) and 5.0 (level 5)' },
  client_identifier_not_valid: { v5: 0x85, v4: 0x02, meaning: 'client id empty with a persistent session, or over 256 bytes' },
  bad_user_name_or_password: { v5: 0x86, v4: 0x04, meaning: 'password is not a valid token, or username differs from the client id' },
  not_authorized: { v5: 0x87, v4: 0x05, meaning: 'token subject is not the client id, or the token does not allow the area' },
  server_busy: { v5: 0x89, v4: 0x03, meaning: 'this process is full (--max-connections)' },
  server_shutting_down: { v5: 0x8b, meaning: 'engine shutting down; reconnect and resume the session' },
  bad_authentication_method: { v5: 0x8c, v4: 0x04, meaning: 'MQTT 5 enhanced authentication is not supported; send the token as password' },
  keep_alive_timeout: { v5: 0x8d, meaning: 'nothing received for 1.5 x keepalive' },
  session_taken_over: { v5: 0x8e, meaning: 'another connection with the same client id took the session' },
  topic_filter_invalid: { v5: 0x8f, meaning: 'topic filter is not areas/{area}' },
  topic_name_invalid: { v5: 0x90, meaning: 'PUBLISH topic is not areas/{area}' },
  packet_identifier_not_found: { v5: 0x92, meaning: 'PUBREL for a QoS 2 packet id this session does not hold (answered PUBCOMP 0x92)' },
  receive_maximum_exceeded: { v5: 0x93, meaning: 'more QoS 1 and 2 PUBLISH in flight than the engine\'s Receive Maximum' },
  topic_alias_invalid: { v5: 0x94, meaning: 'topic aliases are not accepted (Topic Alias Maximum 0)' },
  packet_too_large: { v5: 0x95, meaning: 'packet over the Maximum Packet Size' },
  message_rate_too_high: { v5: 0x96, meaning: 'too many packets per second (--max-frames-per-second)' },
  quota_exceeded: { v5: 0x97, meaning: 'subscription limit, publish backlog, or fell out of the retained window' },
  payload_format_invalid: { v5: 0x99, meaning: 'payload does not match its declared format (UTF-8 / JSON)' },
  connection_rate_exceeded: { v5: 0x9f, v4: 0x03, meaning: 'too many connects per second on this listener (--max-connect-rate), or this client id / subject / address is banned for flapping' },
  maximum_connect_time: { v5: 0xa0, meaning: 'the token expired; reconnect with a fresh one' },
  wildcard_subscriptions_not_supported: { v5: 0xa2, meaning: 'a shared subscription over a wildcard filter ($share/{group}/areas/+): share one area per filter' },
  subscription_identifiers_not_supported: { v5: 0xa1, meaning: 'Subscription Identifiers are not supported (announced in CONNACK): each would make the shared PUBLISH bytes differ per subscriber' },
} as const satisfies Record<string, { v5: number; v4?: number; meaning: string }>;

export type MqttReason = keyof typeof MQTT_REASON;

/** The MQTT reason an engine close (areas/ call Subscriber.close with a CloseReason) is sent as. */
export const MQTT_CLOSE: Readonly<Record<CloseReason, MqttReason>> = {
  normal: 'success',
  going_away: 'server_shutting_down',
  slow_consumer: 'quota_exceeded',
  ack_timeout: 'unspecified_error',
  rate_limited: 'message_rate_too_high',
  too_many_connections: 'server_busy',
  internal: 'unspecified_error',
  token_expired: 'maximum_connect_time',
  unauthorized: 'not_authorized',
  forbidden: 'not_authorized',
  bad_frame: 'malformed_packet',
  too_many_subscriptions: 'quota_exceeded',
  message_too_big: 'packet_too_large',
  invalid_utf8: 'malformed_packet',
};
