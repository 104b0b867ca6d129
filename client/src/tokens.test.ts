/**
 * Tokens against a real engine with HS256 auth [issue 15 Proof 5]: a 5 s token keeps a client
 * connected for 30 s with no lost message (refresh by swapping connections before exp), the 4005
 * path when a refresh comes too late, and the terminal cases.
 */
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken, TEST_HS_SECRET } from '../../engine/auth/testing.ts';
import { range, sleep, until } from '../../engine/testing/harness.ts';
import { Publisher, Recorder, SDK_WAIT_MS, TestEngine } from '../testing/engine.ts';
import { Client } from './client.ts';
import { ForbiddenError, UnauthorizedError, UpgradeRefusedError, UsageError } from './errors.ts';
import type { ClientOptions } from './types.ts';

let e: TestEngine;
let pub: Publisher;
beforeAll(async () => {
  e = await TestEngine.start(['--auth-hs-secret', TEST_HS_SECRET]);
  pub = new Publisher(() => e, await signToken({ sub: 'cloud', subscribe: [], publish: ['*'] }));
});
afterAll(async () => {
  await e.close();
});

const now = () => Math.floor(Date.now() / 1000);
const shortToken = (seconds: number, subscribe = ['tok:*']) => signToken({ sub: 'car-42', iat: now(), exp: now() + seconds, subscribe, publish: [] });

function client(opts: Partial<ClientOptions>): Client {
  return new Client({ url: e.wsUrl, WebSocket: WebSocket as never, minReconnectDelay: 100, maxReconnectDelay: 1000, ...opts });
}

/** Publishes to the areas at ~rate/s until stopped. */
function stream(areas: string[], perSecond: number): { stop: () => Promise<void> } {
  let running = true;
  const done = (async () => {
    for (let i = 0; running; i++) {
      await pub.publish(areas[i % areas.length], { i }, i);
      await sleep(1000 / perSecond);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
    },
  };
}

describe('tokens against the engine', () => {
  it('a 5 s token keeps the client connected for 30 s with no lost or duplicated message (swap before exp)', async () => {
    const reasons: string[] = [];
    const rec = new Recorder();
    const c = client({
      getToken: async ({ reason }) => {
        reasons.push(reason);
        return shortToken(5);
      },
    });
    const states: string[] = [];
    const closes: number[] = [];
    c.on('state', (s) => states.push(s.newState));
    c.on('connecting', (x) => closes.push(x.code));
    const subs = [c.subscribe('tok:a', rec.handler), c.subscribe('tok:b', rec.handler)];
    c.connect();
    for (const s of subs) await s.ready();
    const start = { 'tok:a': subs[0].position!.offset, 'tok:b': subs[1].position!.offset };
    const load = stream(['tok:a', 'tok:b'], 50);
    await sleep(30_000);
    await load.stop();
    for (const a of ['tok:a', 'tok:b'] as const) {
      const last = Math.max(...pub.offsetsOf(a));
      await until(`${a} to reach ${last}`, () => (rec.offsets(a).at(-1) ?? 0) >= last, SDK_WAIT_MS);
      expect(rec.offsets(a)).toEqual(range(start[a] + 1, last));
    }
    await c.disconnect();
    expect(reasons[0]).toBe('initial');
    expect(reasons.filter((r) => r === 'refresh').length).toBeGreaterThanOrEqual(6);
    expect(states).toEqual(['connecting', 'connected', 'disconnected']); // never left connected until disconnect()
    expect(closes).not.toContain(4005);
    expect(c.stats().swaps).toBeGreaterThanOrEqual(6);
  }, 60_000);

  it('a refresh too late: the engine closes 4005, getToken("expired") runs, nothing is lost', async () => {
    const reasons: string[] = [];
    const rec = new Recorder();
    let slow = true;
    const c = client({
      getToken: async ({ reason }) => {
        reasons.push(reason);
        if (reason === 'refresh' && slow) {
          slow = false;
          await sleep(6000); // past exp: the engine closes 4005 first
        }
        return shortToken(4);
      },
    });
    const codes: number[] = [];
    c.on('connecting', (x) => codes.push(x.code));
    const sub = c.subscribe('tok:late', rec.handler);
    c.connect();
    await sub.ready();
    const start = sub.position!.offset;
    const load = stream(['tok:late'], 40);
    await until('4005', () => codes.includes(4005), SDK_WAIT_MS);
    await sleep(1500);
    await load.stop();
    const last = Math.max(...pub.offsetsOf('tok:late'));
    await until('catch up', () => (rec.offsets('tok:late').at(-1) ?? 0) >= last, SDK_WAIT_MS);
    expect(rec.offsets('tok:late')).toEqual(range(start + 1, last));
    expect(reasons).toContain('expired');
    await c.disconnect();
  }, 60_000);

  it('reconnect mode: the state blips but nothing is lost', async () => {
    const rec = new Recorder();
    const c = client({ tokenRefresh: 'reconnect', getToken: async () => shortToken(3) });
    const sub = c.subscribe('tok:re', rec.handler);
    c.connect();
    await sub.ready();
    const start = sub.position!.offset;
    const load = stream(['tok:re'], 40);
    await sleep(7000);
    await load.stop();
    const last = Math.max(...pub.offsetsOf('tok:re'));
    await until('catch up', () => (rec.offsets('tok:re').at(-1) ?? 0) >= last, SDK_WAIT_MS);
    expect(rec.offsets('tok:re')).toEqual(range(start + 1, last));
    expect(c.stats().reconnects).toBeGreaterThanOrEqual(2);
    await c.disconnect();
  }, 30_000);

  it('an area outside the token’s globs fails locally (ForbiddenError); the connection and other areas stay', async () => {
    const rec = new Recorder();
    const c = client({ token: await shortToken(600, ['tok:ok*']) });
    const ok = c.subscribe('tok:ok1', rec.handler);
    const denied = c.subscribe('tok:nope', rec.handler);
    const errors: unknown[] = [];
    denied.on('error', (x) => errors.push(x.error));
    c.connect();
    await ok.ready();
    await expect(denied.ready()).rejects.toBeInstanceOf(ForbiddenError);
    expect(denied.state).toBe('unsubscribed');
    expect(errors[0]).toBeInstanceOf(ForbiddenError);
    await pub.publish('tok:ok1', 'x');
    await until('delivery on the allowed area', () => rec.offsets('tok:ok1').length === 1, SDK_WAIT_MS);
    expect(c.stats().reconnects).toBe(0);
    expect(() => c.subscribe('bad area!', rec.handler)).toThrow(UsageError);
    // a move into a forbidden area is refused, and the area moved from stays and can move later
    await expect(c.moveTo('tok:ok1', 'tok:nope2')).rejects.toBeInstanceOf(ForbiddenError);
    expect(ok.moveTarget).toBeUndefined();
    await c.moveTo('tok:ok1', 'tok:ok2');
    expect(c.getSubscription('tok:ok2')?.state).toBe('subscribed');
    await c.disconnect();
  });

  it('a bad token and no getToken: terminal UnauthorizedError (HTTP 401 seen through ws), ready() rejects', async () => {
    const c = client({ token: 'not-a-jwt' });
    const disconnected: unknown[] = [];
    c.on('disconnected', (d) => disconnected.push(d.error));
    c.connect();
    await expect(c.ready(10_000)).rejects.toBeInstanceOf(UpgradeRefusedError);
    expect(c.state).toBe('disconnected');
    expect((c.lastError as UpgradeRefusedError).status).toBe(401);
    expect(disconnected.length).toBe(1);
  });

  it('getToken throwing UnauthorizedError stops the client', async () => {
    const c = client({
      getToken: async () => {
        throw new UnauthorizedError('the fleet backend revoked this vehicle');
      },
    });
    c.connect();
    await expect(c.ready(5000)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(c.state).toBe('disconnected');
  });

  it('more subscriptions than the engine allows are refused locally, not by a 4503 close', () => {
    const c = client({ token: 'x', maxSubscriptions: 3 });
    for (let i = 0; i < 3; i++) c.subscribe(`tok:m${i}`);
    expect(() => c.subscribe('tok:m3')).toThrow(/at most 3/);
  });
});
