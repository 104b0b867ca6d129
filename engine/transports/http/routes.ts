/** Every HTTP route of the engine on one uWS app. Unknown routes: 404 JSON. */
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Registry } from 'prom-client';
import type { HttpContext } from './context.ts';
import { handleAreaInfo, handleHistory } from './areas.ts';
import { handleHealthz, handleMetrics, handleReadyz, type Readiness } from './ops.ts';
import { handlePublish } from './publish.ts';
import { sendError } from './respond.ts';

export function mountHttpRoutes(app: TemplatedApp, ctx: HttpContext, registry: Registry, readiness: Readiness): void {
  const notAllowed = (res: HttpResponse): void => {
    ctx.httpErrors('method_not_allowed').inc();
    sendError(res, 'method_not_allowed');
  };
  app.post('/v1/areas/:area/messages', (res, req) => handlePublish(ctx, res, req));
  app.get('/v1/areas/:area/messages', (res, req) => handleHistory(ctx, res, req));
  app.any('/v1/areas/:area/messages', notAllowed);
  app.get('/v1/areas/:area', (res, req) => handleAreaInfo(ctx, res, req));
  app.any('/v1/areas/:area', notAllowed);
  app.get('/healthz', (res) => handleHealthz(res));
  app.get('/readyz', (res) => handleReadyz(res, readiness));
  app.get('/metrics', (res) => handleMetrics(res, registry));
  app.any('/*', (res) => {
    ctx.httpErrors('not_found').inc();
    sendError(res, 'not_found');
  });
}
