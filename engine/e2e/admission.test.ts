/**
 * Reconnect storms, end to end [issue 13]: --max-connect-rate refuses WebSocket upgrades over the
 * listener's rate with 503 connect_rate_limited + Retry-After, and flapping detection bans a
 * client that connects too often (503 flapping_banned + Retry-After) without touching the others.
 * MQTT (CONNACK 0x9F) is in mqtt-admission.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { signToken, TEST_HS_SECRET } from '../auth/testing.ts';
import { metric, range, sleep, startTestEngine, tryConnect, Vehicle, type TestEngine } from '../testing/harness.ts';

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

type Refusal = { status: number; body: string; headers: Readonly<Record<string, string | string[] | undefined>> };

async function refused(wsUrl: string, token?: string): Promise<Refusal> {
  const r = await tryConnect(wsUrl, token === undefined ? {} : { token });
  if (r instanceof Vehicle) {
    r.close();
    throw new Error('the upgrade was accepted');
  }
  return r;
}

describe('--max-connect-rate', () => {
  it('refuses upgrades over the rate with 503 connect_rate_limited + Retry-After, admits again a moment later', async () => {
    t = await startTestEngine(['--max-connect-rate', '5']);
    // 12 at once against a bucket of 5 (refilled at 5/s): whatever the machine's pace, some are refused.
    const tries = await Promise.all(range(1, 12).map(() => tryConnect(t!.wsUrl)));
    const open = tries.filter((x): x is Vehicle => x instanceof Vehicle);
    const refusals = tries.filter((x): x is Refusal => !(x instanceof Vehicle));
    expect(open.length).toBeGreaterThanOrEqual(5);
    expect(refusals.length).toBeGreaterThan(0);
    for (const r of refusals) {
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toMatchObject({ code: 'connect_rate_limited' });
      expect(r.headers['retry-after']).toBe('1');
    }
    expect(await metric(t.base, 'abe_connect_refusals_total', { listener: 'ws', reason: 'connect_rate_limited' })).toBe(refusals.length);
    await sleep(400); // 2 tokens back at 5/s
    open.push(await Vehicle.connect(t.wsUrl));
    for (const v of open) v.close();
  });
});

describe('flapping detection', () => {
  it('bans a subject that connects more than --flapping-max-connects times in the window; others are not affected; the ban ends', async () => {
    t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET, '--flapping-by', 'subject', '--flapping-max-connects', '3', '--flapping-ban-seconds', '2']);
    const flappy = await signToken({ sub: 'car-flappy', subscribe: ['*'] });
    const calm = await signToken({ sub: 'car-calm', subscribe: ['*'] });
    for (let i = 0; i < 3; i++) (await Vehicle.connect(t.wsUrl, { token: flappy })).close();
    const r = await refused(t.wsUrl, flappy);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'flapping_banned' });
    expect(r.headers['retry-after']).toBe('2');
    expect((await refused(t.wsUrl, flappy)).status).toBe(503);
    (await Vehicle.connect(t.wsUrl, { token: calm })).close();
    expect(await metric(t.base, 'abe_flapping_bans_total', { key: 'subject' })).toBe(1);
    expect(await metric(t.base, 'abe_connect_refusals_total', { listener: 'ws', reason: 'flapping_banned' })).toBe(2);
    await sleep(2100);
    (await Vehicle.connect(t.wsUrl, { token: flappy })).close();
  });

  it('by default (--flapping-by clientid) WebSocket vehicles sharing one token are never banned', async () => {
    t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET, '--flapping-max-connects', '2']);
    const shared = await signToken({ sub: 'fleet', subscribe: ['*'] });
    for (let i = 0; i < 6; i++) (await Vehicle.connect(t.wsUrl, { token: shared })).close();
  });
});
