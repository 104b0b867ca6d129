/**
 * The SDK in headless Chromium [issue 15 Proof 3]: Debian's `chromium` driven by playwright-core.
 * A page served at the engine's origin (page.route) loads the SDK as built by `tsc` (the package's
 * dist), uses the browser's own WebSocket, fetch and localStorage, receives messages, survives a
 * kill -9 and restart of the engine, and after a page reload (an app restart) resumes from
 * localStorage with nothing delivered twice. Compression is on by default where the runtime has
 * DecompressionStream('deflate-raw'): the page speaks v1.json+deflate and inflates with
 * Chromium's own DecompressionStream [issue 16].
 *
 * Needs /usr/bin/chromium and playwright-core; skipped with a note without them, unless
 * ABE_REQUIRE_BROWSER=1 (CI), where it fails instead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSuiteRuns, launchChromium } from '../../engine/testing/chromium.ts';
import { metric, range } from '../../engine/testing/harness.ts';
import { Publisher, TestEngine } from '../testing/engine.ts';

const CLIENT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Route {
  request(): { url(): string };
  fulfill(r: { status?: number; contentType?: string; body: string }): Promise<void>;
}
interface Page {
  goto(url: string): Promise<unknown>;
  reload(): Promise<unknown>;
  route(url: string, handler: (route: Route) => Promise<void>): Promise<void>;
  on(event: 'pageerror', f: (e: Error) => void): void;
  on(event: 'console', f: (m: { type(): string; text(): string }) => void): void;
  evaluate<T>(f: string): Promise<T>;
}
interface Context {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Text that makes each message big enough to be compressed (over --compression-min-bytes). */
const NOTE = 'Lane 2 closed northbound between exits 14 and 15 for resurfacing; expect delays. '.repeat(3);

const PAGE = (wsUrl: string) => `<!doctype html><meta charset="utf-8"><title>vehicle</title>
<script type="module">
  import { Client, LocalStoragePositionStore } from '/app/sdk/index.js';
  window.__got = { 'br:a': [], 'br:b': [] };
  window.__errors = [];
  window.__subprotocols = [];
  const NOTE = ${JSON.stringify(NOTE)};
  const client = new Client({ url: ${JSON.stringify(wsUrl)}, store: new LocalStoragePositionStore({ prefix: 'veh1:' }), history: true, minReconnectDelay: 100, maxReconnectDelay: 1000 });
  client.on('error', (e) => window.__errors.push(String(e.error)));
  client.on('connected', (c) => window.__subprotocols.push(c.subprotocol));
  // -1 marks a message whose data did not survive the trip (compressed frames are inflated in the page)
  for (const area of ['br:a', 'br:b']) client.subscribe(area, (m) => { window.__got[m.area].push(m.data.note === NOTE ? m.offset : -1); });
  client.connect();
  window.__client = client;
</script>`;

describe.skipIf(!browserSuiteRuns('SDK browser test'))('the SDK in headless Chromium', () => {
  let e: TestEngine;
  let ctx: Context;
  let profile: string;
  let dist: string;

  beforeAll(async () => {
    e = await TestEngine.start();
    // the package as it ships: tsc's output (ES2022 modules), served to the page
    dist = await mkdtemp(join(tmpdir(), 'abe-sdk-dist-'));
    execFileSync(process.execPath, [join(CLIENT_DIR, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(CLIENT_DIR, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'pipe' });
    profile = await mkdtemp(join(tmpdir(), 'abe-sdk-chromium-'));
    // A page fulfilled by page.route has no IP address space of its own, so Chromium's Local
    // Network Access checks would block its WebSocket to 127.0.0.1 (a page the engine served
    // itself is fine).
    ctx = await launchChromium<Context>(profile, {}, ['--disable-features=LocalNetworkAccessChecks']);
  }, 60_000);

  afterAll(async () => {
    await ctx?.close();
    await e?.close();
    await rm(profile, { recursive: true, force: true });
    await rm(dist, { recursive: true, force: true });
  });

  it('receives, survives kill -9 + restart of the engine, and resumes from localStorage after a reload', async () => {
    const page = await ctx.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const consoleErrors: string[] = []; // diagnostics only: refused connects while the engine is down are expected
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await page.route(`${e.base}/app/**`, async (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path === '/app/index.html') return route.fulfill({ contentType: 'text/html', body: PAGE(e.wsUrl) });
      const file = join(dist, path.replace('/app/sdk/', ''));
      if (!path.startsWith('/app/sdk/') || !existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
      return route.fulfill({ contentType: 'text/javascript', body: readFileSync(file, 'utf8') });
    });
    await page.goto(`${e.base}/app/index.html`);
    const got = () => page.evaluate<Record<string, number[]>>('window.__got');
    const pageState = () => page.evaluate<string>('window.__client?.state');
    for (let t = Date.now(); (await pageState()) !== 'connected'; ) {
      if (Date.now() - t > 15_000) throw new Error(`page never connected: ${[...pageErrors, ...consoleErrors].join('; ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await page.evaluate('Promise.all(["br:a","br:b"].map((a) => window.__client.getSubscription(a).ready()))');
    const pub = new Publisher(() => e);
    const publishEach = async (n: number) => {
      for (let i = 0; i < n; i++) for (const a of ['br:a', 'br:b']) await pub.publish(a, { i, note: NOTE });
    };
    await publishEach(20);
    const reach = async (n: number, what: string) => {
      const end = Date.now() + 20_000;
      for (;;) {
        const g = await got();
        if (g['br:a'].length >= n && g['br:b'].length >= n) return g;
        if (Date.now() > end) throw new Error(`${what}: ${JSON.stringify(g)} ${pageErrors.join('; ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await reach(20, 'first 20');
    await e.stop('SIGKILL');
    await e.restart();
    await publishEach(20);
    const afterRestart = await reach(40, 'after the restart');
    for (const a of ['br:a', 'br:b']) expect(afterRestart[a]).toEqual(range(1, 40));
    expect(await pageState()).toBe('connected');
    const stats = await page.evaluate<{ resumes: number; reconnects: number; gaps: number }>('window.__client.stats()');
    expect(stats.resumes).toBeGreaterThanOrEqual(2);
    expect(stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(stats.gaps).toBe(0);
    // an app restart: the page reloads, positions come back from localStorage
    await page.evaluate('window.__client.disconnect()');
    await page.reload();
    for (let t = Date.now(); (await pageState()) !== 'connected'; ) {
      if (Date.now() - t > 15_000) throw new Error('page never reconnected after reload');
      await new Promise((r) => setTimeout(r, 50));
    }
    await publishEach(5);
    const afterReload = await reach(5, 'after the reload');
    await new Promise((r) => setTimeout(r, 300));
    const final = await got();
    for (const a of ['br:a', 'br:b']) expect(final[a]).toEqual(range(41, 45));
    expect(afterReload).toBeDefined();
    expect(await page.evaluate<string[]>('window.__errors')).toEqual([]);
    expect(await page.evaluate<string[]>('window.__subprotocols')).toEqual(['v1.json+deflate']);
    expect(await metric(e.base, 'abe_compression_frames_total', { encoder: 'ws-json-deflate', result: 'compressed' })).toBeGreaterThanOrEqual(10);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
