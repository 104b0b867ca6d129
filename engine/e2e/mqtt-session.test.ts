/**
 * End to end, persistent sessions: resume after a disconnect gets exactly what was missed (MQTT.js,
 * 3.1.1 clean=false and 5.0 clean start=false + session expiry), unacked in-flight messages are
 * resent with DUP=1 (raw client holding its PUBACKs), the in-flight window, takeover, session
 * present, a clean session discards, a session survives an engine restart, keepalive at 1.5x,
 * and a resumed session re-checks the token's rights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHs256, TEST_HS_SECRET } from '../auth/testing.ts';
import { range, sleep, startTestEngine, tempDir, until, type TestEngine } from '../testing/harness.ts';
import { isCmd, mqttConnect, RawMqtt, Rest, type TestMqtt } from './mqtt-support.ts';

const token = (sub: string, subscribe = ['fleet:*']) => signHs256({ sub, subscribe, publish: [] });

describe('mqtt sessions', () => {
  let t: TestEngine;
  let rest: Rest;
  const open: TestMqtt[] = [];
  const url = () => `mqtt://127.0.0.1:${t.mqttPort}`;
  const persistent = async (clientId: string, version: 4 | 5, extra = {}) => {
    const c = await mqttConnect(url(), {
      protocolVersion: version,
      clientId,
      username: clientId,
      password: await token(clientId),
      clean: false,
      ...(version === 5 && { properties: { sessionExpiryInterval: 3600 } }),
      ...extra,
    });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET, '--mqtt-inflight-window', '8']);
    rest = await Rest.of(t.base, true);
  });
  afterAll(async () => {
    for (const c of open) await c.end(true).catch(() => undefined);
    await t?.stop();
  });

  it.each([4, 5] as const)('resume after a disconnect: what was missed, in order, no gap, no duplicate (v%i)', async (version) => {
    const area = `fleet:resume-${version}`;
    const topic = `areas/${area}`;
    const id = `car-resume-${version}`;
    const a = await persistent(id, version);
    expect(a.client.connected).toBe(true);
    await a.client.subscribeAsync(topic, { qos: 1 });
    await rest.seq(area, 10);
    await a.waitCount(topic, 10);
    await sleep(50); // PUBACKs reach the engine
    await a.end();
    await rest.seq(area, 15, 11); // missed while away
    const b = await persistent(id, version);
    await b.waitCount(topic, 15);
    await rest.seq(area, 5, 26);
    await b.waitCount(topic, 20);
    await sleep(100);
    expect(b.ns(topic)).toEqual(range(11, 30));
    expect(b.received.every((r) => !r.packet.dup)).toBe(true);
  });

  it('session present is set only when a stored session was resumed; clean discards it', async () => {
    const id = 'car-present';
    const a = await persistent(id, 5);
    await a.client.subscribeAsync('areas/fleet:present', { qos: 1 });
    await a.end();
    // Use raw packets to read the flag exactly.
    const flag = async (clean: boolean) => {
      const raw = await RawMqtt.open(t.mqttPort, 5);
      raw.send({ cmd: 'connect', protocolVersion: 5, clientId: id, username: id, password: Buffer.from(await token(id)), clean, keepalive: 30, properties: { sessionExpiryInterval: 3600 } }, 5);
      const ack = await raw.waitPacket('connack', isCmd('connack'));
      raw.send({ cmd: 'disconnect', reasonCode: 0 }, 5);
      await raw.waitClosed();
      return ack.sessionPresent;
    };
    expect(await flag(false)).toBe(true);
    expect(await flag(true)).toBe(false); // clean start discards the stored session...
    expect(await flag(false)).toBe(true); // ...but with expiry > 0 a new one is kept
  });

  it('unacked in-flight messages are resent with DUP=1 on resume, acked ones never; the window holds the rest in the ring', async () => {
    const id = 'car-dup';
    const area = 'fleet:dup';
    const connect = async () => {
      const raw = await RawMqtt.open(t.mqttPort, 4);
      raw.send({ cmd: 'connect', protocolVersion: 4, clientId: id, username: id, password: Buffer.from(await token(id)), clean: false, keepalive: 30 });
      return { raw, ack: await raw.waitPacket('connack', isCmd('connack')) };
    };
    const first = await connect();
    expect(first.ack.sessionPresent).toBe(false);
    first.raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `areas/${area}`, qos: 1 }] });
    await first.raw.waitPacket('suback', isCmd('suback'));
    await rest.seq(area, 20);
    // Window 8: exactly 8 in flight while nothing is acked.
    await until('8 publishes', () => first.raw.publishes().length >= 8);
    await sleep(200);
    expect(first.raw.publishes().map((p) => JSON.parse(p.payload.toString()).n)).toEqual(range(1, 8));
    // Ack 1..3 (cumulative: acking 3 settles 1 and 2): three more come.
    first.raw.send({ cmd: 'puback', messageId: first.raw.publishes()[2].messageId });
    await until('11 publishes', () => first.raw.publishes().length >= 11);
    await sleep(100);
    expect(first.raw.publishes().length).toBe(11);
    first.raw.destroy();
    await sleep(100);

    const second = await connect();
    expect(second.ack.sessionPresent).toBe(true);
    await until('resend', () => second.raw.publishes().length >= 8);
    const got = second.raw.publishes();
    expect(got.map((p) => JSON.parse(p.payload.toString()).n)).toEqual(range(4, 11));
    expect(got.every((p) => p.dup)).toBe(true); // 4..11 were sent before: DUP=1 [MQTT-4.4.0-1]
    for (const p of got) second.raw.send({ cmd: 'puback', messageId: p.messageId });
    await until('the next window', () => second.raw.publishes().length >= 16);
    second.raw.send({ cmd: 'puback', messageId: second.raw.publishes()[15].messageId });
    await until('the last one', () => second.raw.publishes().length >= 17);
    const after = second.raw.publishes().slice(8);
    expect(after.map((p) => JSON.parse(p.payload.toString()).n)).toEqual(range(12, 20));
    expect(after.some((p) => p.dup)).toBe(false); // never sent before
    second.raw.destroy();
  });

  it('takeover: a second connection with the same client id closes the first (5.0 DISCONNECT 0x8E) and continues its session', async () => {
    const id = 'car-takeover';
    const area = 'fleet:takeover';
    const a = await persistent(id, 5);
    await a.client.subscribeAsync(`areas/${area}`, { qos: 1 });
    await rest.seq(area, 5);
    await a.waitCount(`areas/${area}`, 5);
    await sleep(50);
    const disconnected = new Promise<number | undefined>((r) => a.client.once('disconnect', (p) => r(p.reasonCode)));
    const b = await persistent(id, 5);
    expect(await disconnected).toBe(0x8e);
    await rest.seq(area, 5, 6);
    await b.waitCount(`areas/${area}`, 5);
    expect(b.ns(`areas/${area}`)).toEqual(range(6, 10));
  });

  it('a resumed session re-checks the token: areas it no longer allows are dropped', async () => {
    const id = 'car-rights';
    const a = await persistent(id, 5);
    await a.client.subscribeAsync(['areas/fleet:r1', 'areas/fleet:r2'], { qos: 1 });
    await a.end();
    await rest.seq('fleet:r1', 2);
    await rest.seq('fleet:r2', 2);
    const b = await mqttConnect(url(), {
      protocolVersion: 5,
      clientId: id,
      username: id,
      password: await signHs256({ sub: id, subscribe: ['fleet:r1'] }),
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    open.push(b);
    await b.waitCount('areas/fleet:r1', 2);
    await sleep(200);
    expect(b.ns('areas/fleet:r2')).toEqual([]);
  });

  it('keepalive: a client silent for 1.5x its keepalive is closed with 0x8D', async () => {
    const id = 'car-silent';
    const raw = await RawMqtt.open(t.mqttPort, 5);
    raw.send({ cmd: 'connect', protocolVersion: 5, clientId: id, username: id, password: Buffer.from(await token(id)), clean: true, keepalive: 1 }, 5);
    await raw.waitPacket('connack', isCmd('connack'));
    const started = Date.now();
    const d = await raw.waitPacket('disconnect', isCmd('disconnect'), 5000);
    expect(d.reasonCode).toBe(0x8d);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    await raw.waitClosed();
  });
});

describe('mqtt sessions across an engine restart', () => {
  it('the session (subscriptions and acked offsets) is durable: resume after restart gets exactly what was missed', async () => {
    const dir = await tempDir();
    const flags = ['--auth-hs-secret', TEST_HS_SECRET];
    const id = 'car-restart';
    const topic = 'areas/fleet:restart';
    let t = await startTestEngine(flags, { dir, keepDir: true });
    let rest = await Rest.of(t.base, true);
    const opts = async () => ({ protocolVersion: 4 as const, clientId: id, username: id, password: await token(id), clean: false });
    const a = await mqttConnect(`mqtt://127.0.0.1:${t.mqttPort}`, await opts());
    await a.client.subscribeAsync(topic, { qos: 1 });
    await rest.seq('fleet:restart', 7);
    await a.waitCount(topic, 7);
    await sleep(1500); // a session checkpoint
    await t.stop();
    await a.end(true).catch(() => undefined);
    t = await startTestEngine(flags, { dir });
    rest = await Rest.of(t.base, true);
    await rest.seq('fleet:restart', 3, 8);
    const b = await mqttConnect(`mqtt://127.0.0.1:${t.mqttPort}`, await opts());
    try {
      await b.waitCount(topic, 3);
      await sleep(100);
      expect(b.ns(topic)).toEqual(range(8, 10));
    } finally {
      await b.end(true);
      await t.stop();
    }
  });
});
