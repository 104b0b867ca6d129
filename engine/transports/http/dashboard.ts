/**
 * GET /dashboard: the live operations page [issue 5], served by the engine itself with no external
 * CDN: HTML, CSS and a small canvas chart script from ./dashboard/, read once at start.
 * GET /dashboard/data: the latest LiveState as JSON (`?history=1` adds the last 300 points, what
 * a page loads first); the page polls it every second.
 *
 * With authentication on, /dashboard/data lists area ids and lag, so it needs a token with the ops
 * right (./ops.ts requireOps) like /metrics. The page and its scripts carry no data and stay open;
 * the page takes the token from its URL fragment (`/dashboard#token=<jwt>`: a fragment is never
 * sent to the server, so it stays out of access logs and Referer headers) or from a prompt, keeps
 * it in sessionStorage for the tab and sends it as `Authorization: Bearer` on every poll.
 */
import { readFileSync } from 'node:fs';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { HttpContext } from './context.ts';
import { getAndHead } from './framing.ts';
import { requireOps } from './ops.ts';

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
};

export interface Dashboard<S> {
  readonly sampler: S;
  close(): void;
}

function loadAssets(): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const [file, type] of Object.entries(ASSETS)) {
    out.set(file, { body: readFileSync(new URL(`./dashboard/${file}`, import.meta.url)), type });
  }
  return out;
}

function send(res: HttpResponse, asset: Asset): void {
  res.cork(() => {
    res
      .writeStatus('200 OK')
      .writeHeader('content-type', asset.type)
      .writeHeader('cache-control', 'no-cache')
      .writeHeader('x-content-type-options', 'nosniff')
      .end(asset.body);
  });
}

/**
 * What the dashboard shows, sampled on demand (engine/metrics/live.ts's LiveSampler, built by the
 * server: this route never imports engine/metrics).
 */
export interface DashboardSampler {
  /** A page or poll wants data: keep sampling for a while. */
  touch(): void;
  state(withHistory: boolean): unknown;
  stop(): void;
}

export function mountDashboard<S extends DashboardSampler>(app: TemplatedApp, sampler: S, ctx: HttpContext): Dashboard<S> {
  const assets = loadAssets();
  const page = assets.get('index.html')!;
  const onPage = (res: HttpResponse): void => {
    // Start sampling as the page loads, so its first poll already has a point; with authentication
    // on, only an authorized poll starts it (a page load carries no token).
    if (!ctx.auth.enabled) sampler.touch();
    send(res, page);
  };
  getAndHead(app, ctx, '/dashboard', onPage);
  getAndHead(app, ctx, '/dashboard/', onPage);
  for (const [file, asset] of assets) {
    if (file !== 'index.html') getAndHead(app, ctx, `/dashboard/${file}`, (res) => send(res, asset));
  }
  getAndHead(app, ctx, '/dashboard/data', (res, req) => {
    const withHistory = req.getQuery('history') === '1';
    requireOps(ctx, res, req, () => {
      sampler.touch();
      const body = JSON.stringify(sampler.state(withHistory));
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store').end(body);
      });
    });
  });
  return { sampler, close: () => sampler.stop() };
}
