/**
 * The operations surface with authentication on [issue 13 item 7]: /metrics and /dashboard/data
 * (area ids, subscribers, lag) need a bearer token with `"ops": true`: 401 without a valid token,
 * 403 with one lacking the right, 200 with it. /healthz, /readyz (probes) and the /dashboard page
 * itself (no data in it) stay open. Loopback dev mode (no key) keeps everything open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken, TEST_HS_SECRET } from '../auth/testing.ts';
import { captureLogs, http, metricFrom, publishOk, scrapeMetrics, startTestEngine, testOpsToken, type TestEngine } from '../testing/harness.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('auth on', () => {
  let t: TestEngine;
  let ops: string;
  let vehicle: string;
  let publisher: string;
  const { logger, lines: logLines } = captureLogs('info');

  beforeAll(async () => {
    t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET], { logger });
    ops = await testOpsToken();
    vehicle = await signToken({ sub: 'car-1', subscribe: ['*'] });
    publisher = await signToken({ sub: 'city-svc', publish: ['ops:*'] });
    await publishOk(t.base, 'ops:secret-area', { a: 1 }, { token: publisher });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it.each(['/metrics', '/dashboard/data'])('%s: no token 401, a bad token 401, a token without ops 403, an ops token 200', async (path) => {
    const none = await http(t.base, path);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'unauthorized', message: 'missing token' });
    expect(none.text).not.toContain('ops:secret-area');
    const garbage = await http(t.base, path, bearer('not.a.jwt'));
    expect(garbage.status).toBe(401);
    const forged = await signToken({ sub: 'x', ops: true }, { alg: 'HS256', secret: 'another-secret-0123456789abcdef-0123456789' });
    expect((await http(t.base, path, bearer(forged))).status).toBe(401);
    for (const token of [vehicle, publisher, await signToken({ sub: 'x', ops: false })]) {
      const r = await http(t.base, path, bearer(token));
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ code: 'forbidden' });
      expect(r.text).not.toContain('ops:secret-area');
    }
    const ok = await http(t.base, path, bearer(ops));
    expect(ok.status).toBe(200);
    if (path === '/dashboard/data') {
      expect(ok.body).toHaveProperty('topAreas');
    } else {
      expect(ok.text).toContain('abe_build_info');
    }
  });

  it('401 and 403 carry an RFC 6750 Bearer challenge; refusals are counted and logged', async () => {
    const raw = await fetch(`${t.base}/metrics`);
    expect(raw.headers.get('www-authenticate')).toBe('Bearer realm="abe-ops"');
    const denied = await fetch(`${t.base}/metrics`, bearer(vehicle));
    expect(denied.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    const text = (await scrapeMetrics(t.base)).text;
    expect(metricFrom(text, 'abe_http_errors_total', { code: 'unauthorized' })).toBeGreaterThanOrEqual(2);
    expect(metricFrom(text, 'abe_http_errors_total', { code: 'forbidden' })).toBeGreaterThanOrEqual(1);
    expect(metricFrom(text, 'abe_auth_failures_total', { reason: 'missing_token' })).toBeGreaterThanOrEqual(1);
    const refusals = logLines.filter((l) => l.msg === 'operations request refused');
    expect(refusals.some((l) => l.code === 'unauthorized' && l.path === '/metrics')).toBe(true);
    expect(refusals.some((l) => l.code === 'forbidden')).toBe(true);
  });

  it('HEAD /metrics follows the same rule', async () => {
    expect((await fetch(`${t.base}/metrics`, { method: 'HEAD' })).status).toBe(401);
    expect((await fetch(`${t.base}/metrics`, { method: 'HEAD', ...bearer(ops) })).status).toBe(200);
  });

  it('/healthz, /readyz and the /dashboard page stay open; the page holds no data', async () => {
    expect((await http(t.base, '/healthz')).status).toBe(200);
    expect((await http(t.base, '/readyz')).status).toBe(200);
    for (const path of ['/dashboard', '/dashboard/dashboard.js', '/dashboard/charts.js']) {
      const r = await http(t.base, path);
      expect(r.status, path).toBe(200);
      expect(r.text, path).not.toContain('ops:secret-area');
    }
  });
});

describe('loopback dev mode (no key): open as before', () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await startTestEngine();
    await publishOk(t.base, 'dev:area', { a: 1 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('/metrics and /dashboard/data answer 200 with no token (and ignore a token)', async () => {
    expect((await http(t.base, '/metrics')).status).toBe(200);
    const data = await http(t.base, '/dashboard/data');
    expect(data.status).toBe(200);
    expect(data.body).toHaveProperty('topAreas');
    expect((await http(t.base, '/metrics', bearer('not.a.jwt'))).status).toBe(200);
  });
});
