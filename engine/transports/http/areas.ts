/**
 * GET /v1/areas/{area}: epoch, head, first retained offset, subscribers here.
 * GET /v1/areas/{area}/messages?from=N&limit=M: retained, unexpired history (the full-state fetch
 * a vehicle does after recovered:false). `next` is where the following page starts.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { PayloadView } from '../../areas/encoding.ts';
import { isValidAreaId } from '../../auth/patterns.ts';
import { EngineError } from '../../errors.ts';
import type { LogRecord } from '../../log/types.ts';
import { acceptsCoding } from '../shared/accept-encoding.ts';
import { authenticateRequest, type HttpContext } from './context.ts';
import { areaParam, errorCodeOf, sendError, sendJson, watchAbort } from './respond.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

function failWith(ctx: HttpContext, res: HttpResponse, state: { aborted: boolean }, area: string) {
  return (err: unknown): void => {
    const code = errorCodeOf(err);
    ctx.httpErrors(code).inc();
    if (code === 'internal' || code === 'log_unavailable') ctx.logger.error({ err, area }, 'area read failed');
    if (!state.aborted) sendError(res, code, (err as Error).message);
  };
}

export function handleAreaInfo(ctx: HttpContext, res: HttpResponse, req: HttpRequest): void {
  const area = areaParam(req);
  const authorization = req.getHeader('authorization');
  const state = watchAbort(res);
  const fail = failWith(ctx, res, state, area);
  if (!isValidAreaId(area)) return fail(new EngineError('invalid_area'));
  authenticateRequest(ctx, authorization)
    .then(async (principal) => {
      if (!principal.canSubscribe(area) && !principal.canPublish(area)) throw new EngineError('forbidden');
      const info = await ctx.service.info(area);
      if (info.head === 0) throw new EngineError('area_not_found', `area ${area} has no messages`);
      if (!state.aborted) sendJson(res, 200, JSON.stringify(info));
    })
    .catch(fail);
}

export function handleHistory(ctx: HttpContext, res: HttpResponse, req: HttpRequest): void {
  const area = areaParam(req);
  const authorization = req.getHeader('authorization');
  const gzip = acceptsCoding(req.getHeader('accept-encoding'), 'gzip');
  const fromRaw = req.getQuery('from') ?? '';
  const limitRaw = req.getQuery('limit') ?? '';
  const state = watchAbort(res);
  const fail = failWith(ctx, res, state, area);
  if (!isValidAreaId(area)) return fail(new EngineError('invalid_area'));
  const from = fromRaw === '' ? 0 : intParam(fromRaw, 'from', Number.MAX_SAFE_INTEGER);
  const limit = limitRaw === '' ? DEFAULT_LIMIT : intParam(limitRaw, 'limit', MAX_LIMIT);
  if (from === undefined || limit === undefined || limit < 1) {
    return fail(new EngineError('bad_request', `from must be a non-negative integer, limit 1..${MAX_LIMIT}`));
  }
  authenticateRequest(ctx, authorization)
    .then(async (principal) => {
      if (!principal.canSubscribe(area)) throw new EngineError('forbidden');
      const h = await ctx.service.history(area, from, limit);
      if (h.state.head === 0) throw new EngineError('area_not_found', `area ${area} has no messages`);
      const items = h.records.map(recordJson).join(',');
      const body = `{"area":"${area}","epoch":"${h.state.epoch}","head":${h.state.head},"first":${h.state.first},"next":${h.next},"messages":[${items}]}`;
      // A page of up to 1000 alerts is what a vehicle fetches to fill a gap: gzip it (off the
      // event loop, zlib's thread pool) when the client takes it and it is worth it [issue 16].
      if (gzip && body.length >= GZIP_MIN_BYTES) {
        const packed = await gzipAsync(body);
        if (!state.aborted) sendJson(res, 200, packed, { 'content-encoding': 'gzip', vary: 'accept-encoding' });
      } else if (!state.aborted) sendJson(res, 200, body, { vary: 'accept-encoding' });
    })
    .catch(fail);
}

const gzipAsync = promisify(gzipCallback);
/** History bodies shorter than this go as they are (a gzip header and a round of zlib for nothing). */
const GZIP_MIN_BYTES = 1024;

function recordJson(r: LogRecord): string {
  const enc = r.contentType === 'binary' ? ',"encoding":"base64"' : '';
  return `{"offset":${r.offset},"time":${r.time}${r.expiresAt !== 0 ? `,"expiresAt":${r.expiresAt}` : ''}${enc},"data":${new PayloadView(r).jsonText()}}`;
}

function intParam(v: string, _name: string, max: number): number | undefined {
  if (!/^\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return n > max ? undefined : n;
}
