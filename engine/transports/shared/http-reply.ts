/**
 * HTTP error answers shared by everything on the engine's uWS app: REST (../http) and the
 * WebSocket upgrades of /v1/ws (../ws) and /mqtt (../mqtt). One status-line table, one body shape
 * (`{"code","message"}`, the code from the registry in engine/errors.ts) and `refuseHttp`, which
 * also counts the answer in abe_http_errors_total{code} and logs it: every refusal has a specific
 * code, a metric and a log line.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { CounterLike } from '../../areas/metrics.ts';
import { ERRORS, type ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';

/** Reason phrases of the statuses the engine sends (RFC 9110 §15; 429: RFC 6585 §4). */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large', // RFC 9110 §15.5.14 renamed it Content Too Large; kept as the engine always sent it
  415: 'Unsupported Media Type',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}

/**
 * The loop-wide cork buffer of uWS (uWebSockets v20.4x src/LoopData.h CORK_BUFFER_SIZE). A
 * handler runs inside uWS's HTTP parser with its socket corked, so what it writes waits in this
 * buffer until the parser returns. uWS 20.30 checks Content-Length only AFTER calling the handler
 * (src/HttpParser.h, fenceAndConsumePostPadded) and, when it rejects it, closes the socket without
 * uncorking (src/HttpContext.h, the FULLPTR branch): the answer is dropped. One write larger than
 * what is left of the buffer makes uWS flush to the kernel at once (src/AsyncSocket.h write() ->
 * uncork), so an answer that must outlive the parser is padded past it with JSON whitespace.
 */
export const CORK_BUFFER_BYTES = 16 * 1024;

export interface ErrorReply {
  /** Default: the registry's message for the code. */
  readonly message?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** `Connection: close`; uWS closes the socket once the answer is written. */
  readonly closeConnection?: boolean;
  /** uWS will close the socket when the handler returns (see CORK_BUFFER_BYTES): pad the body so it gets out first. */
  readonly beforeParserCloses?: boolean;
}

/** `{status} {reason}`, JSON `{"code","message"}`, extra headers. Corks: call it from anywhere. */
export function writeErrorReply(res: HttpResponse, code: ErrorCode, reply: ErrorReply = {}): void {
  const status = ERRORS[code].status;
  let body = JSON.stringify({ code, message: reply.message ?? ERRORS[code].message });
  // RFC 8259 §2: whitespace may follow a JSON value, so the padded body still parses.
  if (reply.beforeParserCloses === true) body = body.padEnd(CORK_BUFFER_BYTES + 1, ' ');
  res.cork(() => {
    res.writeStatus(`${status} ${statusText(status)}`).writeHeader('content-type', 'application/json');
    if (reply.headers !== undefined) for (const [k, v] of Object.entries(reply.headers)) res.writeHeader(k, v);
    res.end(body, reply.closeConnection === true);
  });
}

/** Where refusals are counted and logged. */
export interface RefusalSink {
  readonly httpErrors: (code: ErrorCode) => CounterLike;
  readonly logger: Logger;
}

export interface Refusal extends ErrorReply {
  /** The log message, e.g. 'websocket upgrade refused'. */
  readonly what: string;
  /** Default debug: client mistakes are not the operator's news; auth refusals on ops routes say info. */
  readonly level?: 'debug' | 'info' | 'warn';
  /** Extra log fields (path, remote address, the offending value). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Counts (abe_http_errors_total{code}), logs and answers one refused HTTP request. */
export function refuseHttp(res: HttpResponse, sink: RefusalSink, code: ErrorCode, refusal: Refusal): void {
  sink.httpErrors(code).inc();
  const message = refusal.message ?? ERRORS[code].message;
  sink.logger[refusal.level ?? 'debug']({ ...refusal.fields, code, status: ERRORS[code].status, message }, refusal.what);
  writeErrorReply(res, code, refusal);
}
