/**
 * End to end with authentication ON (--auth-hs-secret): tokens at the WebSocket upgrade (header
 * and query), area rights on subscribe and on REST, token expiry on an open connection.
 * (Auth OFF, loopback dev mode, is what every other e2e suite runs with.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken, TEST_HS_SECRET } from '../auth/testing.ts';
import { CLOSE } from '../errors.ts';
import { http, metric, publish, publishOk, startTestEngine, tryConnect, Vehicle, type TestEngine } from '../testing/harness.ts';

let t: TestEngine;
let vehicleToken: string;
let publisherToken: string;

beforeAll(async () => {
  t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET]);
  vehicleToken = await signToken({ sub: 'car-1', subscribe: ['keytop:*'] });
  publisherToken = await signToken({ sub: 'city-svc', publish: ['keytop:*'] });
});
afterAll(async () => {
  await t?.stop();
});

describe('WebSocket upgrade', () => {
  it.each([
    ['no token', {}],
    ['a garbage token', { token: 'not.a.jwt' }],
    ['an empty query token', { queryToken: '' }],
  ])('%s: HTTP 401', async (_what, opts) => {
    const r = await tryConnect(t.wsUrl, opts);
    expect(r).not.toBeInstanceOf(Vehicle);
    expect(r).toMatchObject({ status: 401 });
    expect(JSON.parse((r as { body: string }).body)).toMatchObject({ code: 'unauthorized' });
  });

  it('a token signed with another secret: 401', async () => {
    const forged = await signToken({ sub: 'car-1', subscribe: ['*'] }, { alg: 'HS256', secret: 'another-secret-0123456789abcdef-0123456789' });
    expect(await tryConnect(t.wsUrl, { token: forged })).toMatchObject({ status: 401 });
  });

  it('an expired token: 401', async () => {
    const expired = await signToken({ sub: 'car-1', subscribe: ['*'], exp: Math.floor(Date.now() / 1000) - 10 });
    expect(await tryConnect(t.wsUrl, { token: expired })).toMatchObject({ status: 401 });
  });

  it('a valid token in the Authorization header: connects, subscribes, receives', async () => {
    const v = await t.connect({ token: vehicleToken });
    expect(await v.subscribe('keytop:header')).toMatchObject({ type: 'subscribed' });
    await publishOk(t.base, 'keytop:header', { a: 1 }, { token: publisherToken });
    await v.waitOffset('keytop:header', 1);
  });

  it('a valid token in ?access_token: connects, subscribes, receives (msgpack)', async () => {
    const v = await t.connect({ queryToken: vehicleToken, protocol: 'v1.msgpack' });
    expect(await v.subscribe('keytop:query')).toMatchObject({ type: 'subscribed' });
    await publishOk(t.base, 'keytop:query', { a: 1 }, { token: publisherToken });
    await v.waitOffset('keytop:query', 1);
  });

  it('subscribing outside the token\'s patterns: close 4501 forbidden', async () => {
    const v = await t.connect({ token: vehicleToken });
    const other = await t.connect({ token: vehicleToken });
    await other.subscribe('keytop:fine');
    v.send({ type: 'subscribe', area: 'parking:1' });
    expect(await v.waitClose()).toEqual({ code: CLOSE.forbidden.code, reason: 'forbidden' });
    // the other connection of the same subject carries on
    await publishOk(t.base, 'keytop:fine', { ok: true }, { token: publisherToken });
    await other.waitOffset('keytop:fine', 1);
    expect(other.closeInfo).toBeUndefined();
  });

  it('a token that expires while connected: close 4005 token_expired', async () => {
    const expSeconds = Math.floor(Date.now() / 1000) + 2; // expires in 1..2 s; the connection sweep runs every second
    const short = await signToken({ sub: 'car-short', subscribe: ['keytop:*'], exp: expSeconds });
    const v = await t.connect({ token: short });
    await v.subscribe('keytop:short');
    const closed = await v.waitClose(6000);
    expect(closed).toEqual({ code: CLOSE.token_expired.code, reason: 'token_expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(expSeconds * 1000);
  });
});

describe('REST with auth on', () => {
  it('publish without a token: 401; without publish rights: 403; with: 201', async () => {
    const none = await publish(t.base, 'keytop:rest', { a: 1 });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'unauthorized' });
    const noRights = await publish(t.base, 'keytop:rest', { a: 1 }, { token: vehicleToken });
    expect(noRights.status).toBe(403);
    expect(noRights.body).toMatchObject({ code: 'forbidden' });
    const otherArea = await publish(t.base, 'parking:rest', { a: 1 }, { token: publisherToken });
    expect(otherArea.status).toBe(403);
    const bad = await publish(t.base, 'keytop:rest', { a: 1 }, { token: 'garbage' });
    expect(bad.status).toBe(401);
    const ok = await publish(t.base, 'keytop:rest', { a: 1 }, { token: publisherToken });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ area: 'keytop:rest', offset: 1 });
  });

  it('history needs subscribe rights; area info needs either right', async () => {
    await publishOk(t.base, 'keytop:hist', { a: 1 }, { token: publisherToken });
    const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    expect((await http(t.base, '/v1/areas/keytop:hist/messages')).status).toBe(401);
    expect((await http(t.base, '/v1/areas/keytop:hist/messages', auth(publisherToken))).status).toBe(403);
    const h = await http(t.base, '/v1/areas/keytop:hist/messages', auth(vehicleToken));
    expect(h.status).toBe(200);
    expect(h.body.messages).toHaveLength(1);
    expect((await http(t.base, '/v1/areas/keytop:hist', auth(publisherToken))).status).toBe(200);
    expect((await http(t.base, '/v1/areas/keytop:hist', auth(vehicleToken))).status).toBe(200);
    const stranger = await signToken({ sub: 'x', subscribe: ['parking:*'] });
    expect((await http(t.base, '/v1/areas/keytop:hist', auth(stranger))).status).toBe(403);
  });

  it('probes stay open, /metrics needs the ops right (engine/e2e/ops-auth.test.ts); failures are counted', async () => {
    expect((await http(t.base, '/healthz')).status).toBe(200);
    expect((await http(t.base, '/readyz')).status).toBe(200);
    expect((await http(t.base, '/metrics')).status).toBe(401);
    expect(await metric(t.base, 'abe_auth_failures_total', { reason: 'missing_token' })).toBeGreaterThan(0);
    expect(await metric(t.base, 'abe_connection_closes_total', { reason: 'forbidden' })).toBeGreaterThan(0);
  });
});
