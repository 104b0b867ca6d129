/**
 * /dashboard in headless Chromium [issue 5]: Debian's `chromium` driven by playwright-core. The page
 * loads with no request leaving the engine, its numbers and charts move while messages flow, and a
 * screenshot is saved to .vitest-artifacts/dashboard.png.
 *
 * Needs /usr/bin/chromium (apt-get install chromium) and the playwright-core package; without them
 * the suite is skipped with a note, unless ABE_REQUIRE_BROWSER=1 (CI), where it fails instead.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken, TEST_HS_SECRET } from '../../auth/testing.ts';
import { browserSuiteRuns, launchChromium } from '../../testing/chromium.ts';
import { publishOk, sleep, startTestEngine, testOpsToken, until, type TestEngine, type Vehicle } from '../../testing/harness.ts';

const ARTIFACTS = new URL('../../../.vitest-artifacts/', import.meta.url);

/** The part of playwright-core's API used here (imported by name at run time, so typechecking never needs the package). */
interface Page {
  goto(url: string): Promise<unknown>;
  on(event: 'request', f: (r: { url(): string }) => void): void;
  on(event: 'pageerror', f: (e: Error) => void): void;
  on(event: 'console', f: (m: { type(): string; text(): string }) => void): void;
  textContent(selector: string): Promise<string | null>;
  evaluate<T>(f: string): Promise<T>;
  screenshot(opts: { path: string; fullPage?: boolean }): Promise<unknown>;
  fill(selector: string, value: string): Promise<void>;
  click(selector: string): Promise<void>;
  isVisible(selector: string): Promise<boolean>;
  close(): Promise<void>;
}
interface Context {
  newPage(): Promise<Page>;
  pages(): Page[];
  close(): Promise<void>;
}
describe.skipIf(!browserSuiteRuns('dashboard browser test'))('/dashboard in headless Chromium', () => {
  let t: TestEngine;
  let ctx: Context;
  let profile: string;
  const vehicles: Vehicle[] = [];
  let publishing = true;
  let publisher: Promise<void> | undefined;

  beforeAll(async () => {
    t = await startTestEngine(['--sweep-interval-ms', '100']);
    for (let i = 0; i < 4; i++) {
      const v = await t.connect({ protocol: i % 2 === 0 ? 'v1.json' : 'v1.msgpack' });
      await v.subscribe('city:centre');
      if (i < 2) await v.subscribe('city:harbour');
      vehicles.push(v);
    }
    // Messages flow for the whole test; vehicles 0-2 ack everything, vehicle 3 acks its first
    // message only (ack mode, then silent), so its area shows a growing ack lag.
    publisher = (async () => {
      let laggerAcked = false;
      for (let n = 0; publishing; n++) {
        const area = n % 3 === 0 ? 'city:harbour' : 'city:centre';
        const { offset } = await publishOk(t.base, area, { kind: 'lane-closed', n });
        for (let i = 0; i < 3; i++) if (area === 'city:centre' || i < 2) vehicles[i].ack(area, offset);
        if (!laggerAcked && area === 'city:centre') {
          await vehicles[3].waitOffset(area, offset);
          vehicles[3].ack(area, offset);
          laggerAcked = true;
        }
        await sleep(40);
      }
    })();
    profile = await mkdtemp(join(tmpdir(), 'abe-chromium-'));
    ctx = await launchChromium<Context>(profile, { viewport: { width: 1680, height: 900 }, deviceScaleFactor: 1 });
  }, 60_000);

  afterAll(async () => {
    publishing = false;
    await publisher;
    await ctx?.close();
    await t?.stop();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
  });

  it('loads from the engine alone, shows live figures and charts that move, and saves a screenshot', async () => {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${t.base}/dashboard`);

    const num = async (sel: string): Promise<number> => {
      const s = (await page.textContent(sel)) ?? '';
      const m = /([\d.]+)\s*([KMG])?/.exec(s);
      return m === null ? NaN : Number(m[1]) * ({ K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1);
    };
    await until('4 connected vehicles on the page', async () => (await num('#kpi-connections')) === 4, 15_000, 100);
    await until('publishes per second above 0', async () => (await num('#kpi-publishes')) > 0, 15_000, 100);
    await until('deliveries per second above 0', async () => (await num('#kpi-delivered')) > 0, 15_000, 100);
    expect(await page.textContent('#ready')).toBe('READY');

    // Live: the sample time advances every second, and the throughput chart's pixels change with it.
    const stamp = (): Promise<string> => page.evaluate<string>('document.body.dataset.updated');
    const pixels = (): Promise<string> => page.evaluate<string>("document.getElementById('chart-rates').toDataURL()");
    const s1 = await stamp();
    const p1 = await pixels();
    await until('the page to take a new sample', async () => (await stamp()) !== s1, 5000, 100);
    const s2 = await stamp();
    await until('another one', async () => (await stamp()) !== s2, 5000, 100);
    expect(await pixels()).not.toBe(p1);

    // End-to-end latency and the per-stage breakdown (every stage, acks included).
    await until('a P99 figure', async () => Number.isFinite(await num('#kpi-p99')), 10_000, 100);
    await until('all five stages in the breakdown', async () => (await page.evaluate<number>("document.querySelectorAll('#breakdown .row').length")) === 5, 10_000, 100);
    const areas = await page.textContent('#areas');
    expect(areas).toContain('city:centre');
    expect(areas).toContain('city:harbour');
    // A non-acking vehicle lags: the top area by ack lag shows it.
    await until('an area with ack lag', async () => ((await page.textContent('#areas tr:first-child td:last-child')) ?? '0').trim() !== '0', 10_000, 100);

    await sleep(4000); // a little more history in the charts for the screenshot
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS.pathname, 'dashboard.png');
    await page.screenshot({ path, fullPage: true });
    expect(existsSync(path)).toBe(true);

    expect(errors).toEqual([]);
    const foreign = requests.filter((u) => !u.startsWith(`${t.base}/`));
    expect(foreign).toEqual([]);
    expect(requests.some((u) => u.endsWith('/dashboard/charts.js'))).toBe(true);
  }, 90_000);

  // Authentication on [issue 13]: /dashboard/data needs a token with "ops": true.
  it('with auth on: asks for a token, refuses one without the ops right, shows data with one (form or #token=)', async () => {
    const a = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET]);
    try {
      const v = await a.connect({ token: await signToken({ sub: 'car-9', subscribe: ['ops:*'] }) });
      await v.subscribe('ops:hidden');
      const ops = await testOpsToken();
      const page = await ctx.newPage();
      await page.goto(`${a.base}/dashboard`);
      await until('the token prompt', async () => (await page.textContent('#ready')) === 'TOKEN REQUIRED', 10_000, 100);
      expect(await page.isVisible('#auth')).toBe(true);
      expect(await page.textContent('#areas')).not.toContain('ops:hidden');

      await page.fill('#token', await signToken({ sub: 'car-9', subscribe: ['ops:*'] }));
      await page.click('#auth button');
      await until('a refusal of the vehicle token', async () => (await page.textContent('#ready')) === 'TOKEN WITHOUT OPS RIGHT', 10_000, 100);

      await page.fill('#token', ops);
      await page.click('#auth button');
      await until('data with the ops token', async () => (await page.textContent('#areas'))?.includes('ops:hidden') === true, 15_000, 100);
      expect(await page.textContent('#ready')).toBe('READY');
      expect(await page.isVisible('#auth')).toBe(false);
      await page.close();

      // A link with the token in the fragment: used, then cleared from the address bar.
      const linked = await ctx.newPage();
      await linked.goto(`${a.base}/dashboard#token=${ops}`);
      await until('data via #token=', async () => (await linked.textContent('#areas'))?.includes('ops:hidden') === true, 15_000, 100);
      expect(await linked.evaluate<string>('location.href')).toBe(`${a.base}/dashboard`);
      await linked.close();
    } finally {
      await a.stop();
    }
  }, 60_000);
});
