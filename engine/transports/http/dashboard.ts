/**
 * GET /dashboard: the live operations page [issue 5], served by the engine itself with no external
 * CDN: HTML, CSS and a small canvas chart script from ./dashboard/, read once at start.
 * GET /dashboard/data: the latest LiveState as JSON (`?history=1` adds the last 300 points, what
 * a page loads first); the page polls it every second.
 */
import { readFileSync } from 'node:fs';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { LiveSampler } from '../../metrics/live.ts';
import type { EngineMetrics } from '../../metrics/metrics.ts';

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

export interface Dashboard {
  readonly sampler: LiveSampler;
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

/** `scrape`: what /metrics renders when it is not this process's registry (engine/cluster's aggregate). */
export function mountDashboard(app: TemplatedApp, metrics: EngineMetrics, scrape?: { metrics(): Promise<string> }): Dashboard {
  const assets = loadAssets();
  const sampler = LiveSampler.of(metrics, scrape);
  const page = assets.get('index.html')!;
  const onPage = (res: HttpResponse): void => {
    sampler.touch(); // start sampling as the page loads, so its first poll already has a point
    send(res, page);
  };
  app.get('/dashboard', onPage);
  app.get('/dashboard/', onPage);
  for (const [file, asset] of assets) {
    if (file !== 'index.html') app.get(`/dashboard/${file}`, (res) => send(res, asset));
  }
  app.get('/dashboard/data', (res, req) => {
    const withHistory = req.getQuery('history') === '1';
    sampler.touch();
    const body = JSON.stringify(sampler.state(withHistory));
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store').end(body);
    });
  });
  return { sampler, close: () => sampler.stop() };
}
