/**
 * Every HTTP route of the engine on one uWS app. Unknown routes: 404 JSON. Every route checks
 * Content-Length first and GET routes answer HEAD too (./framing.ts).
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Registry } from 'prom-client';
import { refuseHttp } from '../shared/http-reply.ts';
import type { HttpContext } from './context.ts';
import { handleAreaInfo, handleHistory } from './areas.ts';
import { bodyFor, framed, getAndHead } from './framing.ts';
import { handleHealthz, handleMetrics, handleReadyz, requireOps, type Readiness } from './ops.ts';
import { handlePublish } from './publish.ts';

export function mountHttpRoutes(app: TemplatedApp, ctx: HttpContext, registry: Registry, readiness: Readiness): void {
  const refuse = (code: 'method_not_allowed' | 'not_found') =>
    framed(ctx, (res: HttpResponse, req: HttpRequest) => {
      refuseHttp(bodyFor(res, req), ctx, code, { what: 'request refused', fields: { method: req.getMethod(), path: req.getUrl() } });
    });
  const notAllowed = refuse('method_not_allowed');
  app.post('/v1/areas/:area/messages', framed(ctx, (res, req) => handlePublish(ctx, res, req)));
  getAndHead(app, ctx, '/v1/areas/:area/messages', (res, req) => handleHistory(ctx, res, req));
  app.any('/v1/areas/:area/messages', notAllowed);
  getAndHead(app, ctx, '/v1/areas/:area', (res, req) => handleAreaInfo(ctx, res, req));
  app.any('/v1/areas/:area', notAllowed);
  getAndHead(app, ctx, '/healthz', (res) => handleHealthz(res));
  getAndHead(app, ctx, '/readyz', (res) => handleReadyz(res, readiness));
  getAndHead(app, ctx, '/metrics', (res, req) => requireOps(ctx, res, req, () => handleMetrics(res, registry)));
  app.any('/*', refuse('not_found'));
}
