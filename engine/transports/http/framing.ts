/**
 * What every REST route does before its handler: the Content-Length check uWS 20.30 leaves
 * unanswered, and HEAD.
 *
 * Content-Length. uWS 20.30 (uWebSockets v20.4x, src/HttpParser.h) reads Content-Length only after
 * the route handler has run, takes nothing but 1 to 9 digits, and on anything else closes the socket
 * without an answer, dropping what the handler wrote (../shared/http-reply.ts, CORK_BUFFER_BYTES):
 * a negative, non-numeric or 10^12 Content-Length ended in a bare FIN. So every route checks the
 * header first, by the same rules, and answers before uWS closes, with `Connection: close` since the
 * body can no longer be framed: 400 `bad_request` for a value that is not 1*DIGIT (RFC 9110 §8.6;
 * RFC 9112 §6.3 item 5: "the server MUST respond with a 400 (Bad Request) status code and then close
 * the connection"), 413 `payload_too_large` for more than 9 digits.
 *
 * HEAD (RFC 9110 §9.3.2): the same status and header fields as GET, without the content.
 */
import type { HttpRequest, HttpResponse, RecognizedString, TemplatedApp } from 'uWebSockets.js';
import type { ErrorCode } from '../../errors.ts';
import { refuseHttp, type RefusalSink } from '../shared/http-reply.ts';

export type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** uWS 20.30 refuses a Content-Length of more digits than this (its toUnsignedInteger). */
const MAX_CONTENT_LENGTH_DIGITS = 9;

/** Why uWS 20.30 would drop this request after its handler, or undefined when it will not. */
export function contentLengthRefusal(raw: string): { code: ErrorCode; message: string } | undefined {
  if (raw === '') return undefined;
  const shown = JSON.stringify(raw.slice(0, 32));
  if (!/^\d+$/.test(raw)) return { code: 'bad_request', message: `Content-Length ${shown} is not a non-negative decimal integer (RFC 9110 §8.6)` };
  if (raw.length > MAX_CONTENT_LENGTH_DIGITS) {
    return { code: 'payload_too_large', message: `Content-Length ${shown} has more than ${MAX_CONTENT_LENGTH_DIGITS} digits; bodies are at most ${'9'.repeat(MAX_CONTENT_LENGTH_DIGITS)} bytes here` };
  }
  return undefined;
}

/** `handler`, after the Content-Length check above. */
export function framed(sink: RefusalSink, handler: Handler): Handler {
  return (res, req) => {
    const refusal = contentLengthRefusal(req.getHeader('content-length'));
    if (refusal === undefined) return handler(res, req);
    refuseHttp(res, sink, refusal.code, {
      what: 'request refused: unframeable body',
      message: refusal.message,
      closeConnection: true,
      beforeParserCloses: true,
      fields: { method: req.getMethod(), path: req.getUrl() },
    });
  };
}

function byteLength(body: RecognizedString | undefined): number {
  if (body === undefined) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  return body.byteLength;
}

/**
 * `res` for a HEAD request: every method passes through, except that `end(body)` sends the
 * Content-Length of `body` and no content. (uWS 20.30's endWithoutBody(length) would leave the
 * response pending, waiting for `length` bytes, and abort the process when the handler returns:
 * so the header is written by hand and endWithoutBody() gets no length.) A HEAD answer never
 * closes the connection.
 */
export function headResponse(res: HttpResponse): HttpResponse {
  const proxy: HttpResponse = new Proxy(res, {
    get(target, prop) {
      if (prop === 'end') {
        return (body?: RecognizedString): HttpResponse => {
          target.writeHeader('content-length', String(byteLength(body))).endWithoutBody();
          return proxy;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const out = (value as (...a: unknown[]) => unknown).apply(target, args);
        return out === target ? proxy : out; // chained calls stay on the proxy
      };
    },
  });
  return proxy;
}

/** The response to write to: bodiless for HEAD (for handlers registered with `any`). */
export function bodyFor(res: HttpResponse, req: HttpRequest): HttpResponse {
  return req.getMethod() === 'head' ? headResponse(res) : res;
}

/** GET and HEAD of `pattern`, both framed. */
export function getAndHead(app: TemplatedApp, sink: RefusalSink, pattern: string, handler: Handler): void {
  const h = framed(sink, handler);
  app.get(pattern, h);
  app.head(pattern, (res, req) => h(headResponse(res), req));
}
