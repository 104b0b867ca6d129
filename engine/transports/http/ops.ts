/**
 * /healthz (process is up), /readyz (log healthy and accepting), /metrics (Prometheus text), and
 * the gate of operations data.
 *
 * /healthz and /readyz are open with authentication on too: load balancers and Kubernetes probes
 * carry no tokens, and they tell nothing beyond up/ready. /metrics and /dashboard/data list area
 * ids, subscriber counts and lag, so with authentication on they need a bearer token with
 * `"ops": true` (engine/auth/jwt.ts); in loopback dev mode (no key) they stay open.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Registry } from 'prom-client';
import { EngineError } from '../../errors.ts';
import { refuseHttp } from '../shared/http-reply.ts';
import { authenticateRequest, type HttpContext } from './context.ts';
import { errorCodeOf, sendJson, watchAbort } from './respond.ts';

export interface Readiness {
  ready(): { ok: boolean; log: string; accepting: boolean };
}

export function handleHealthz(res: HttpResponse): void {
  sendJson(res, 200, '{"status":"ok"}');
}

export function handleReadyz(res: HttpResponse, readiness: Readiness): void {
  const r = readiness.ready();
  // Not ready says why with the code a publish would get: shutting_down, else log_unavailable.
  const code = r.ok ? undefined : r.accepting ? 'log_unavailable' : 'shutting_down';
  sendJson(res, r.ok ? 200 : 503, JSON.stringify({ status: r.ok ? 'ready' : 'not ready', ...(code && { code }), log: r.log, accepting: r.accepting }));
}

export function handleMetrics(res: HttpResponse, registry: Registry): void {
  const state = watchAbort(res);
  registry.metrics().then(
    (text) => {
      if (state.aborted) return;
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('content-type', registry.contentType).end(text);
      });
    },
    () => {
      if (!state.aborted) sendJson(res, 500, '{"code":"internal","message":"metrics collection failed"}');
    },
  );
}

/** RFC 6750 §3: a 401 for a bearer-protected resource says so; §3.1: a token short of rights is insufficient_scope. */
const CHALLENGE = {
  unauthorized: 'Bearer realm="abe-ops"',
  forbidden: 'Bearer realm="abe-ops", error="insufficient_scope"',
} as const;

/**
 * Runs `serve` (inside a cork, so it may write at once) when the request may read operations data:
 * always with authentication off; with it on, only for a valid bearer token with the ops right.
 * Otherwise 401 `unauthorized` (no or bad token) or 403 `forbidden` (a token without `"ops": true`),
 * each counted in abe_http_errors_total (and abe_auth_failures_total for a bad token) and logged.
 */
export function requireOps(ctx: HttpContext, res: HttpResponse, req: HttpRequest, serve: () => void): void {
  if (!ctx.auth.enabled) return serve();
  const authorization = req.getHeader('authorization');
  const path = req.getUrl();
  const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
  const state = watchAbort(res);
  authenticateRequest(ctx, authorization)
    .then((principal) => {
      if (!principal.canOperate()) throw new EngineError('forbidden', 'the token does not carry the ops right ("ops": true)');
      if (!state.aborted) res.cork(serve);
    })
    .catch((err: unknown) => {
      const code = errorCodeOf(err);
      if (state.aborted) return void ctx.httpErrors(code).inc();
      const challenge = code === 'unauthorized' || code === 'forbidden' ? { 'WWW-Authenticate': CHALLENGE[code] } : undefined;
      refuseHttp(res, ctx, code, {
        what: 'operations request refused',
        level: code === 'internal' ? 'warn' : 'info',
        message: (err as Error).message,
        ...(challenge && { headers: challenge }),
        fields: { path, remote },
      });
    });
}
