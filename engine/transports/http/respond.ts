/** uWS HTTP helpers: JSON answers, error answers from the registry, bounded body reading. */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { EngineError, isEngineError, type ErrorCode } from '../../errors.ts';
import { statusText, writeErrorReply } from '../shared/http-reply.ts';

/** Tracks whether the client went away; every async handler installs one before awaiting. */
export interface Aborted {
  aborted: boolean;
}

export function watchAbort(res: HttpResponse): Aborted {
  const state = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
  });
  return state;
}

export function sendJson(res: HttpResponse, status: number, body: string | Uint8Array, extraHeaders?: Record<string, string>): void {
  res.cork(() => {
    res.writeStatus(`${status} ${statusText(status)}`).writeHeader('content-type', 'application/json');
    if (extraHeaders !== undefined) for (const [k, v] of Object.entries(extraHeaders)) res.writeHeader(k, v);
    res.end(body);
  });
}

export function sendError(res: HttpResponse, code: ErrorCode, message?: string, closeConnection = false): void {
  writeErrorReply(res, code, { ...(message !== undefined && { message }), closeConnection });
}

export function errorCodeOf(err: unknown): ErrorCode {
  return isEngineError(err) ? err.code : 'internal';
}

/**
 * Reads the whole body, refusing (413) as soon as it passes `limit` bytes, before buffering more.
 * uWS chunks are only valid inside the callback, so each one is copied.
 */
export function readBody(res: HttpResponse, limit: number, contentLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (contentLength > limit) {
      reject(new EngineError('payload_too_large', `body of ${contentLength} bytes, limit ${limit}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit) {
        done = true;
        reject(new EngineError('payload_too_large', `body over ${limit} bytes`));
        return;
      }
      chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
      if (isLast) {
        done = true;
        resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
      }
    });
  });
}

/**
 * The `{area}` path parameter, percent-decoded. uWS hands parameters over raw, so a client that
 * encodes its path (`encodeURIComponent('city:42')` = `city%3A42`, what fetch users usually do)
 * got 400 invalid_area for a valid id [e2e: engine/e2e/rest.test.ts]. Undecodable input is
 * returned as-is, which then fails the area id check.
 */
export function areaParam(req: HttpRequest): string {
  const raw = req.getParameter(0) ?? '';
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
