/** /healthz (process is up), /readyz (log healthy and accepting), /metrics (Prometheus text). */
import type { HttpResponse } from 'uWebSockets.js';
import type { Registry } from 'prom-client';
import { sendJson, watchAbort } from './respond.ts';

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
