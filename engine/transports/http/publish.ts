/**
 * POST /v1/areas/{area}/messages: the cloud services' publish. Answers 201 {area, offset, epoch}
 * only once the log says the message is durable [DESIGN "Nothing acknowledged is lost"].
 *   Content-Type  application/json | application/msgpack | application/octet-stream
 *   Idempotency-Key  (optional) a retry with the same key answers the first offset again (same 201, "duplicate":true)
 *   Message-TTL  (optional, or ?ttl=) seconds until the message expires; never delivered after
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { isValidAreaId } from '../../auth/patterns.ts';
import { EngineError } from '../../errors.ts';
import type { ContentType } from '../../log/types.ts';
import { isJson, isMsgpack } from '../shared/payload.ts';
import { authenticateRequest, type HttpContext } from './context.ts';
import { areaParam, errorCodeOf, readBody, sendError, sendJson, watchAbort } from './respond.ts';

const MAX_IDEMPOTENCY_KEY = 256;
const MAX_TTL_SECONDS = 365 * 24 * 3600;

export function handlePublish(ctx: HttpContext, res: HttpResponse, req: HttpRequest): void {
  const area = areaParam(req);
  const contentTypeHeader = req.getHeader('content-type');
  const authorization = req.getHeader('authorization');
  const idempotencyKey = req.getHeader('idempotency-key');
  const ttlHeader = req.getHeader('message-ttl') || req.getQuery('ttl') || '';
  const contentLength = Number(req.getHeader('content-length') || '0');
  const state = watchAbort(res);

  const fail = (err: unknown): void => {
    const code = errorCodeOf(err);
    ctx.httpErrors(code).inc();
    if (code === 'internal') ctx.logger.error({ err, area }, 'publish failed');
    // The log says once (error level) when it stops and starts taking writes; each refused publish
    // is counted (abe_http_errors_total) and only a debug line: a full disk must not flood the log.
    else if (code === 'log_unavailable') ctx.logger.debug({ area, code, message: (err as Error).message }, 'publish refused: log unavailable');
    else ctx.logger.debug({ area, code, message: (err as Error).message }, 'publish refused');
    // A refused body may still be streaming in: close so we do not read it.
    if (!state.aborted) sendError(res, code, (err as Error).message, code === 'payload_too_large');
  };

  try {
    if (!isValidAreaId(area)) throw new EngineError('invalid_area');
    const contentType = parseContentType(contentTypeHeader);
    const ttlSeconds = parseTtl(ttlHeader);
    if (idempotencyKey.length > MAX_IDEMPOTENCY_KEY) throw new EngineError('bad_request', `Idempotency-Key longer than ${MAX_IDEMPOTENCY_KEY}`);
    const body = readBody(res, ctx.maxPayloadBytes, Number.isFinite(contentLength) ? contentLength : 0);
    // Swallow the body promise's rejection here if auth fails first; it is awaited below.
    body.catch(() => undefined);
    authenticateRequest(ctx, authorization)
      .then(async (principal) => {
        if (!principal.canPublish(area)) throw new EngineError('forbidden', `subject ${principal.subject} may not publish to ${area}`);
        const payload = await body;
        validatePayload(payload, contentType);
        const result = await ctx.service.publish(area, {
          payload,
          contentType,
          ttlSeconds,
          idempotencyKey: idempotencyKey === '' ? undefined : idempotencyKey,
        });
        if (state.aborted) return;
        sendJson(res, 201, JSON.stringify({ area, offset: result.offset, epoch: result.epoch, duplicate: result.duplicate }));
      })
      .catch(fail);
  } catch (err) {
    fail(err);
  }
}

function parseContentType(header: string): ContentType {
  const base = header.split(';')[0].trim().toLowerCase();
  if (base === 'application/json') return 'json';
  if (base === 'application/msgpack' || base === 'application/x-msgpack' || base === 'application/vnd.msgpack') return 'msgpack';
  if (base === 'application/octet-stream') return 'binary';
  throw new EngineError('unsupported_media_type');
}

function parseTtl(v: string): number {
  if (v === '') return 0;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1 || Number(v) > MAX_TTL_SECONDS) {
    throw new EngineError('bad_request', `Message-TTL must be whole seconds between 1 and ${MAX_TTL_SECONDS}`);
  }
  return Number(v);
}

/** A payload that vehicles could not decode, or would get changed, is refused here (../shared/payload.ts). */
function validatePayload(payload: Buffer, contentType: ContentType): void {
  if (payload.byteLength === 0) throw new EngineError('bad_request', 'empty body');
  if (contentType === 'json' && !isJson(payload)) throw new EngineError('bad_request', 'body is not one JSON text in well-formed UTF-8');
  if (contentType === 'msgpack' && !isMsgpack(payload)) throw new EngineError('bad_request', 'body is not exactly one valid MessagePack object');
}
