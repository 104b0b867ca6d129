/**
 * End to end, real sockets: every bad WebSocket input gets its specific error frame or close code,
 * a metric, and never affects another connection (an observer vehicle keeps receiving, in order,
 * after every test).
 */
import { pack } from 'msgpackr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE, type CloseReason } from '../errors.ts';
import { http, metric, publishOk, publishSeq, range, startTestEngine, tryConnect, until, Vehicle, type TestEngine } from '../testing/harness.ts';

let t: TestEngine;
let observer: Vehicle;
let observed = 0;
const OBSERVED = 'bad:observer';

beforeAll(async () => {
  t = await startTestEngine(['--max-subscriptions', '2', '--max-frames-per-second', '20', '--max-client-frame-bytes', '1024']);
  observer = await t.connect({ protocol: 'v1.msgpack' });
  await observer.subscribe(OBSERVED);
});
afterAll(async () => {
  await t?.stop();
});
// One bad connection never affects another: the observer still gets every message, in order.
afterEach(async () => {
  observed = (await publishOk(t.base, OBSERVED, { after: observed })).offset;
  await observer.waitOffset(OBSERVED, observed);
  expect(observer.offsets(OBSERVED)).toEqual(range(1, observed));
  expect(observer.closeInfo).toBeUndefined();
});

async function expectClosedWith(v: Vehicle, reason: CloseReason): Promise<void> {
  expect(await v.waitClose()).toEqual({ code: CLOSE[reason].code, reason });
}

describe('frames that close the connection', () => {
  it('non-JSON text on v1.json: 4502 bad_frame', async () => {
    const v = await t.connect();
    v.sendRaw('{"type":"subscribe",', false);
    await expectClosedWith(v, 'bad_frame');
  });

  it('a binary frame on v1.json: 4502', async () => {
    const v = await t.connect();
    v.sendRaw(Buffer.from(JSON.stringify({ type: 'ping' })), true);
    await expectClosedWith(v, 'bad_frame');
  });

  it('a text frame on v1.msgpack: 4502', async () => {
    const v = await t.connect({ protocol: 'v1.msgpack' });
    v.sendRaw(JSON.stringify({ type: 'ping' }), false);
    await expectClosedWith(v, 'bad_frame');
  });

  it('undecodable msgpack: 4502', async () => {
    const v = await t.connect({ protocol: 'v1.msgpack' });
    v.sendRaw(Buffer.from([0x92, 0x01]), true);
    await expectClosedWith(v, 'bad_frame');
  });

  it.each([
    ['an unknown type', { type: 'publish', area: 'a' }],
    ['no type', { area: 'a' }],
    ['an array', [1, 2]],
    ['a non-integer ack offset', { type: 'ack', area: 'a', offset: 1.5 }],
    ['a negative ack offset', { type: 'ack', area: 'a', offset: -1 }],
    ['a since without epoch', { type: 'subscribe', area: 'a', since: { offset: 1 } }],
    ['a numeric area', { type: 'subscribe', area: 42 }],
  ])('%s: 4502', async (_what, frame) => {
    const v = await t.connect();
    v.sendRaw(JSON.stringify(frame), false);
    await expectClosedWith(v, 'bad_frame');
  });

  it('the same over v1.msgpack (unknown type): 4502', async () => {
    const v = await t.connect({ protocol: 'v1.msgpack' });
    v.sendRaw(pack({ type: 'nope' }), true);
    await expectClosedWith(v, 'bad_frame');
  });

  it('a third subscription with --max-subscriptions 2: 4503 too_many_subscriptions', async () => {
    const v = await t.connect();
    expect(await v.subscribe('lim:1')).toMatchObject({ type: 'subscribed' });
    expect(await v.subscribe('lim:2')).toMatchObject({ type: 'subscribed' });
    v.send({ type: 'subscribe', area: 'lim:3' });
    await expectClosedWith(v, 'too_many_subscriptions');
  });

  it('more than --max-frames-per-second 20: 4002 rate_limited', async () => {
    const v = await t.connect();
    for (let i = 0; i < 30; i++) v.send({ type: 'ping' });
    await expectClosedWith(v, 'rate_limited');
    expect(v.frames.filter((f) => f.type === 'pong').length).toBeLessThanOrEqual(20);
  });

  it('a frame over --max-client-frame-bytes 1024: 4504 message_too_big', async () => {
    const v = await t.connect();
    v.send({ type: 'ping', pad: 'x'.repeat(2000) });
    await expectClosedWith(v, 'message_too_big');
  });

  // uWS 20.30 refuses these before any engine code sees the frame and drops the socket without a
  // close frame: the client can only see 1006. The engine still counts and logs each under its
  // registry reason (transports/shared/uws-close.ts), so they are not lost among disconnects.
  it.each([
    ['a frame over the uWS hard cap (4x the limit)', 'message_too_big', 'payload_too_large', (v: Vehicle) => v.send({ type: 'ping', pad: 'x'.repeat(10_000) })],
    ['a text frame that is not UTF-8 (RFC 6455 §8.1)', 'invalid_utf8', 'bad_frame', (v: Vehicle) => v.sendRaw(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), false)],
  ] as const)('%s: dropped by uWS (1006), counted as %s', async (_name, reason, badInput, send) => {
    const closes = (await metric(t.base, 'abe_connection_closes_total', { reason })) ?? 0;
    const bad = (await metric(t.base, 'abe_bad_input_total', { code: badInput })) ?? 0;
    const v = await t.connect();
    send(v);
    expect((await v.waitClose()).code).toBe(1006);
    await until(`closes{reason=${reason}} counted`, async () => (await metric(t.base, 'abe_connection_closes_total', { reason })) === closes + 1);
    expect(await metric(t.base, 'abe_bad_input_total', { code: badInput })).toBe(bad + 1);
  });
});

describe('frames answered with an error frame (the connection carries on)', () => {
  it('an invalid area id: invalid_area', async () => {
    const v = await t.connect();
    for (const area of ['-starts-with-dash', 'has space', 'x'.repeat(129), 'slash/no', 'ümlaut']) {
      const from = v.frames.length;
      v.send({ type: 'subscribe', area });
      expect(await v.waitFrame(`answer for ${area}`, (f) => f.type === 'error' || f.type === 'subscribed', from)).toMatchObject({
        type: 'error',
        code: 'invalid_area',
      });
    }
    expect(await v.subscribe('ok:area')).toMatchObject({ type: 'subscribed' });
    expect(v.closeInfo).toBeUndefined();
  });

  it('an ack for an area not subscribed: not_subscribed; unsubscribe of one: not_subscribed', async () => {
    const v = await t.connect();
    const from = v.frames.length;
    v.ack('never:subscribed', 1);
    expect(await v.waitFrame('error', (f) => f.type === 'error', from)).toMatchObject({ code: 'not_subscribed', area: 'never:subscribed' });
    const from2 = v.frames.length;
    v.send({ type: 'unsubscribe', area: 'never:subscribed' });
    expect(await v.waitFrame('error', (f) => f.type === 'error', from2)).toMatchObject({ code: 'not_subscribed' });
    await v.sync();
    expect(v.closeInfo).toBeUndefined();
  });

  it('an ack beyond what was sent: bad_ack; acks of what was sent are fine', async () => {
    const area = 'bad:ack';
    const v = await t.connect();
    await v.subscribe(area);
    await publishSeq(t.base, area, 3);
    await v.waitOffset(area, 3);
    v.ack(area, 4);
    expect(await v.waitFrame('bad_ack', (f) => f.type === 'error')).toMatchObject({ code: 'bad_ack', area });
    const before = v.errors().length;
    v.ack(area, 3);
    v.ack(area, 1); // old ack: accepted, changes nothing
    await v.sync();
    expect(v.errors().length).toBe(before);
    expect(v.closeInfo).toBeUndefined();
  });

  it('a double subscribe: already_subscribed (and the first subscription keeps working)', async () => {
    const area = 'bad:double';
    const v = await t.connect();
    expect(await v.subscribe(area)).toMatchObject({ type: 'subscribed' });
    expect(await v.subscribe(area)).toMatchObject({ type: 'error', code: 'already_subscribed', area });
    await publishOk(t.base, area, { x: 1 });
    await v.waitOffset(area, 1);
    await v.sync();
    expect(v.offsets(area)).toEqual([1]);
  });

  it('bad input is counted in /metrics', async () => {
    for (const code of ['bad_frame', 'invalid_area', 'not_subscribed', 'bad_ack', 'already_subscribed', 'rate_limited', 'payload_too_large', 'too_many_subscriptions']) {
      expect(await metric(t.base, 'abe_bad_input_total', { code }), code).toBeGreaterThan(0);
    }
    expect(await metric(t.base, 'abe_connection_closes_total', { reason: 'bad_frame' })).toBeGreaterThan(0);
    expect((await http(t.base, '/healthz')).status).toBe(200);
  });
});

describe('upgrade', () => {
  it('an unsupported subprotocol: HTTP 400 at upgrade', async () => {
    const r = await tryConnect(t.wsUrl, { protocol: 'v2.json' });
    expect(r).not.toBeInstanceOf(Vehicle);
    expect(r).toMatchObject({ status: 400 });
    expect(JSON.parse((r as { body: string }).body)).toMatchObject({ code: 'bad_request' });
  });

  it('no subprotocol at all defaults to v1.json', async () => {
    const v = await t.connect({ protocol: null });
    await v.sync();
    expect(v.frames).toEqual([{ type: 'pong' }]);
  });
});

describe('connection limit (--max-connections 2, its own engine)', () => {
  let small: TestEngine;
  beforeAll(async () => {
    small = await startTestEngine(['--max-connections', '2']);
  });
  afterAll(async () => {
    await small?.stop();
  });

  it('the third connection gets HTTP 503 too_many_connections; a freed place is usable again', async () => {
    const a = await small.connect();
    await small.connect();
    const third = await tryConnect(small.wsUrl);
    expect(third).toMatchObject({ status: 503 });
    expect(JSON.parse((third as { body: string }).body)).toMatchObject({ code: 'too_many_connections' });
    a.close();
    await a.waitClose();
    const v = await until('a place is free again', async () => {
      const r = await tryConnect(small.wsUrl);
      return r instanceof Vehicle ? r : undefined;
    });
    await v.sync();
    v.close();
  });
});

