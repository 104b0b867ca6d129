/**
 * End to end with MQTT.js (3.1.1 and 5.0, over TCP and over WebSocket at /mqtt): messages
 * published over REST and over MQTT arrive in order, with MQTT 5 user properties; encode once
 * (all QoS 1 subscribers of a format get the same packet id); retained messages; publish rights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHs256, TEST_HS_SECRET } from '../auth/testing.ts';
import { range, startTestEngine, until, type TestEngine } from '../testing/harness.ts';
import { mqttConnect, Rest, type TestMqtt } from './mqtt-support.ts';

type Variant = { name: string; version: 4 | 5; ws: boolean };
const VARIANTS: Variant[] = [
  { name: '3.1.1/tcp', version: 4, ws: false },
  { name: '5.0/tcp', version: 5, ws: false },
  { name: '3.1.1/ws', version: 4, ws: true },
  { name: '5.0/ws', version: 5, ws: true },
];

describe('mqtt delivery', () => {
  let t: TestEngine;
  let rest: Rest;
  const clients: TestMqtt[] = [];
  const url = (v: Variant) => (v.ws ? `ws://127.0.0.1:${t.port}/mqtt` : `mqtt://127.0.0.1:${t.mqttPort}`);
  const token = (sub: string, rights: { subscribe?: string[]; publish?: string[] } = {}) =>
    signHs256({ sub, subscribe: rights.subscribe ?? ['city:*'], publish: rights.publish ?? [] });
  const connect = async (v: Variant, clientId: string, rights?: { subscribe?: string[]; publish?: string[] }, extra = {}) => {
    const c = await mqttConnect(url(v), { protocolVersion: v.version, clientId, username: clientId, password: await token(clientId, rights), ...extra });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET]);
    rest = await Rest.of(t.base, true);
  });
  afterAll(async () => {
    for (const c of clients) await c.end(true).catch(() => undefined);
    await t?.stop();
  });

  it.each(VARIANTS)('REST publishes arrive in order at QoS 0 and 1 ($name)', async (v) => {
    const area = `city:order-${v.version}-${v.ws ? 'ws' : 'tcp'}`;
    const q1 = await connect(v, `car-q1-${v.name}`);
    const q0 = await connect(v, `car-q0-${v.name}`);
    expect(await q1.client.subscribeAsync(`areas/${area}`, { qos: 1 })).toMatchObject([{ qos: 1 }]);
    expect(await q0.client.subscribeAsync(`areas/${area}`, { qos: 0 })).toMatchObject([{ qos: 0 }]);
    await rest.seq(area, 50);
    await q1.waitCount(`areas/${area}`, 50);
    await q0.waitCount(`areas/${area}`, 50);
    expect(q1.ns(`areas/${area}`)).toEqual(range(1, 50));
    expect(q0.ns(`areas/${area}`)).toEqual(range(1, 50));
    expect(q1.received.every((r) => r.packet.qos === 1 && !r.packet.dup)).toBe(true);
    expect(q0.received.every((r) => r.packet.qos === 0)).toBe(true);
    if (v.version === 5) {
      const first = q1.received[0].packet;
      expect(first.properties?.userProperties).toMatchObject({ offset: '1' });
      expect(Number(first.properties?.userProperties?.time)).toBeGreaterThan(1_600_000_000_000);
      expect(first.properties?.contentType).toBe('application/json');
    }
  });

  it('QoS 2 is granted; all QoS 1 and 2 subscribers get the same packet id per offset', async () => {
    const v = VARIANTS[1];
    const a = await connect(v, 'car-pid-a');
    const b = await connect(VARIANTS[3], 'car-pid-b');
    expect(await a.client.subscribeAsync('areas/city:pid', { qos: 2 })).toMatchObject([{ qos: 2 }]);
    await b.client.subscribeAsync('areas/city:pid', { qos: 1 });
    const { offset } = await rest.publish('city:pid', { n: 1 });
    await a.waitCount('areas/city:pid', 1);
    await b.waitCount('areas/city:pid', 1);
    expect(a.received[0].packet.messageId).toBe((offset % 65535) + 1);
    expect(b.received[0].packet.messageId).toBe((offset % 65535) + 1);
  });

  it('message expiry: 5.0 gets the seconds remaining; an expired message is never sent', async () => {
    const c = await connect(VARIANTS[1], 'car-ttl');
    await c.client.subscribeAsync('areas/city:ttl', { qos: 1 });
    await rest.publish('city:ttl', { n: 1 }, { ttlSeconds: 60 });
    await c.waitCount('areas/city:ttl', 1);
    const exp = c.received[0].packet.properties?.messageExpiryInterval ?? 0;
    expect(exp).toBeGreaterThan(55);
    expect(exp).toBeLessThanOrEqual(60);
  });

  it.each([VARIANTS[0], VARIANTS[1], VARIANTS[3]])('publish over MQTT (QoS 0 and 1) reaches MQTT and REST readers in order ($name)', async (v) => {
    const area = `city:pub-${v.name.replace('/', '-').replace('.', '')}`;
    const sub = await connect(v, `sub-${area}`);
    await sub.client.subscribeAsync(`areas/${area}`, { qos: 1 });
    const pub = await connect(v, `pub-${area}`, { subscribe: [], publish: ['city:*'] });
    for (let n = 1; n <= 20; n++) await pub.client.publishAsync(`areas/${area}`, JSON.stringify({ n }), { qos: n % 2 === 0 ? 1 : 0 });
    await sub.waitCount(`areas/${area}`, 20);
    expect(sub.ns(`areas/${area}`)).toEqual(range(1, 20));
    expect(await rest.history(area)).toEqual(range(1, 20)); // stored as JSON
  });

  it('publish rights: 5.0 QoS 1 gets PUBACK 0x87 and stays connected; 3.1.1 is disconnected', async () => {
    const v5 = await connect(VARIANTS[1], 'nopub-5', { publish: ['other:*'] });
    await expect(v5.client.publishAsync('areas/city:x', '{"n":1}', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    expect(v5.client.connected).toBe(true);
    const v4 = await connect(VARIANTS[0], 'nopub-4', { publish: [] });
    const closed = new Promise<void>((r) => v4.client.once('close', () => r()));
    v4.client.publish('areas/city:x', '{"n":1}', { qos: 1 });
    await closed;
    expect(await rest.history('city:x')).toEqual([]);
  });

  it('retained: the latest retain=1 publish is sent first on subscribe with the retain flag; empty payload clears it', async () => {
    const v = VARIANTS[1];
    const pub = await connect(v, 'parking-pub', { subscribe: [], publish: ['city:*'] });
    await pub.client.publishAsync('areas/city:parking', JSON.stringify({ n: 1, free: 3 }), { qos: 1, retain: true });
    await pub.client.publishAsync('areas/city:parking', JSON.stringify({ n: 2, free: 2 }), { qos: 1, retain: true });
    await rest.publish('city:parking', { n: 3 }); // not retained
    for (const variant of VARIANTS) {
      const s = await connect(variant, `parking-sub-${variant.name}`);
      await s.client.subscribeAsync('areas/city:parking', { qos: 1 });
      await until('retained', () => s.received.length >= 1);
      expect(s.received[0].packet.retain).toBe(true);
      expect(JSON.parse(s.received[0].payload.toString())).toEqual({ n: 2, free: 2 });
      if (variant.version === 5) expect(s.received[0].packet.properties?.userProperties).toMatchObject({ offset: '2' });
    }
    await pub.client.publishAsync('areas/city:parking', '', { qos: 1, retain: true });
    const late = await connect(v, 'parking-late');
    await late.client.subscribeAsync('areas/city:parking', { qos: 1 });
    await rest.publish('city:parking', { n: 4 });
    await late.waitCount('areas/city:parking', 1);
    expect(late.received.map((r) => r.packet.retain)).toEqual([false]);
  });
});
