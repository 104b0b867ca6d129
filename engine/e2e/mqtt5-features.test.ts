/**
 * MQTT 5 features a Mosquitto or EMQX user relies on, end to end with MQTT.js 5, raw packets
 * (byte-level checks) and mosquitto_pub/_sub: No Local, forwarded publish properties
 * (request/response), Retain As Published, lean PUBLISHes for small Maximum Packet Sizes,
 * Subscription Identifier refusal, keepalive at 1.5x, QoS 2 both ways (exactly once, PUBREL resent
 * on resume), Will Delay, retained messages at the subscription's QoS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHs256, TEST_HS_SECRET } from '../auth/testing.ts';
import { sleep, startTestEngine, until, type TestEngine } from '../testing/harness.ts';
import { hasMosquittoClients, isCmd, mqttConnect, RawMqtt, Rest, spawnClient, type TestMqtt } from './mqtt-support.ts';

describe('mqtt 5 features', () => {
  let t: TestEngine;
  let rest: Rest;
  const clients: TestMqtt[] = [];
  const raws: RawMqtt[] = [];
  const url = () => `mqtt://127.0.0.1:${t.mqttPort}`;
  const token = (sub: string) => signHs256({ sub, subscribe: ['city:*'], publish: ['city:*'] });
  const connect = async (clientId: string, extra: Parameters<typeof mqttConnect>[1] = {}) => {
    const c = await mqttConnect(url(), { protocolVersion: 5, clientId, username: clientId, password: await token(clientId), ...extra });
    clients.push(c);
    return c;
  };
  const raw = async (clientId: string, extra: Record<string, unknown> = {}, version: 4 | 5 = 5) => {
    const r = await RawMqtt.open(t.mqttPort, version);
    raws.push(r);
    r.send({ cmd: 'connect', protocolVersion: version, clientId, username: clientId, password: Buffer.from(await token(clientId)), clean: true, keepalive: 30, ...extra }, version);
    expect((await r.waitPacket('connack', isCmd('connack'))).reasonCode ?? 0).toBe(0);
    return r;
  };

  beforeAll(async () => {
    t = await startTestEngine(['--auth-hs-secret', TEST_HS_SECRET, '--max-payload-bytes', '4096']);
    rest = await Rest.of(t.base, true);
  });
  afterAll(async () => {
    for (const c of clients) await c.end(true).catch(() => undefined);
    for (const r of raws) r.destroy();
    await t?.stop();
  });

  it('No Local: a subscriber with nl never gets its own publishes, other subscribers do [MQTT-3.8.3-3]', async () => {
    const me = await connect('car-nl');
    const other = await connect('car-nl-other');
    await me.client.subscribeAsync('areas/city:nl', { qos: 1, nl: true });
    await other.client.subscribeAsync('areas/city:nl', { qos: 1 });
    await me.client.publishAsync('areas/city:nl', JSON.stringify({ n: 1 }), { qos: 1 });
    await other.client.publishAsync('areas/city:nl', JSON.stringify({ n: 2 }), { qos: 1 });
    await me.client.publishAsync('areas/city:nl', JSON.stringify({ n: 3 }), { qos: 1 });
    await rest.publish('city:nl', { n: 4 });
    await other.waitCount('areas/city:nl', 4);
    await me.waitCount('areas/city:nl', 2);
    await sleep(100);
    expect(me.ns('areas/city:nl')).toEqual([2, 4]);
    expect(other.ns('areas/city:nl')).toEqual([1, 2, 3, 4]);
  });

  it('request/response: User Properties (repeated, in order), Response Topic and Correlation Data reach the receiver unaltered [MQTT-3.3.2-15..18]', async () => {
    const vehicle = await raw('car-rr-vehicle');
    vehicle.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'areas/city:rr-requests', qos: 1 }] }, 5);
    await vehicle.waitPacket('suback', isCmd('suback'));
    const cloud = await connect('car-rr-cloud');
    await cloud.client.subscribeAsync('areas/city:rr-replies', { qos: 1 });
    const correlationData = Buffer.from([0, 1, 254, 255]);
    await cloud.client.publishAsync('areas/city:rr-requests', JSON.stringify({ n: 1 }), {
      qos: 1,
      properties: { responseTopic: 'areas/city:rr-replies', correlationData, userProperties: { a: ['1', '2'], b: 'x', offset: 'mine' }, contentType: 'application/json; v=2' },
    });
    const req = await vehicle.waitPacket('request', (p): p is Extract<typeof p, { cmd: 'publish' }> => p.cmd === 'publish');
    expect(req.properties?.responseTopic).toBe('areas/city:rr-replies');
    expect(Buffer.from(req.properties!.correlationData!).equals(correlationData)).toBe(true);
    expect(req.properties?.contentType).toBe('application/json; v=2');
    // The publisher's own `offset` property comes first; the engine's is added after it.
    expect(req.properties?.userProperties).toMatchObject({ a: ['1', '2'], b: 'x', offset: ['mine', expect.stringMatching(/^\d+$/)] });
    vehicle.send({ cmd: 'puback', messageId: req.messageId! }, 5);
    // The vehicle answers on the response topic with the correlation data.
    vehicle.send({ cmd: 'publish', topic: req.properties!.responseTopic!, payload: Buffer.from('{"n":2}'), qos: 1, messageId: 9, dup: false, retain: false, properties: { correlationData: req.properties!.correlationData } }, 5);
    await cloud.waitCount('areas/city:rr-replies', 1);
    expect(Buffer.from(cloud.received[0].packet.properties!.correlationData!).equals(correlationData)).toBe(true);
  });

  it('Retain As Published: live forwards carry RETAIN=1 only for rap subscriptions [MQTT-3.3.1-12, -13]', async () => {
    const rap = await connect('car-rap');
    const plain = await connect('car-rap-plain');
    await rap.client.subscribeAsync('areas/city:rap', { qos: 1, rap: true, rh: 2 });
    await plain.client.subscribeAsync('areas/city:rap', { qos: 1, rh: 2 });
    const pub = await connect('car-rap-pub');
    await pub.client.publishAsync('areas/city:rap', JSON.stringify({ n: 1 }), { qos: 1, retain: true });
    await pub.client.publishAsync('areas/city:rap', JSON.stringify({ n: 2 }), { qos: 1 });
    await until('both got 2', () => rap.received.length >= 2 && plain.received.length >= 2);
    expect(rap.received.map((r) => r.packet.retain)).toEqual([true, false]);
    expect(plain.received.map((r) => r.packet.retain)).toEqual([false, false]);
  });

  it('a small Maximum Packet Size gets lean PUBLISHes (no engine-added properties) instead of losing small messages [MQTT-3.1.2-24, -25]', async () => {
    const small = await raw('car-small', { properties: { maximumPacketSize: 64 } });
    small.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'areas/city:mps', qos: 0 }] }, 5);
    await small.waitPacket('suback', isCmd('suback'));
    // 47 bytes lean; the engine's offset, time and content type would add over 50 more.
    await rest.publish('city:mps', { s: 'x'.repeat(20) });
    await rest.publish('city:mps', { s: 'y'.repeat(80) }); // over 64 bytes whatever we leave out: discarded
    await rest.publish('city:mps', { s: 'z' });
    await until('two publishes', () => small.publishes().length >= 2);
    await sleep(100);
    const got = small.publishes();
    expect(got.map((p) => (JSON.parse(p.payload.toString()) as { s: string }).s)).toEqual(['x'.repeat(20), 'z']);
    expect(got[0].properties?.userProperties).toBeUndefined();
    expect(got[0].properties?.contentType).toBeUndefined();
  });

  it('a SUBSCRIBE with a Subscription Identifier gets 0xA1 for each filter (not supported, announced in CONNACK)', async () => {
    const r = await raw('car-subid');
    r.send({ cmd: 'subscribe', messageId: 3, properties: { subscriptionIdentifier: 7 }, subscriptions: [{ topic: 'areas/city:a', qos: 1 }, { topic: 'areas/city:b', qos: 0 }] }, 5);
    expect((await r.waitPacket('suback', isCmd('suback'))).granted).toEqual([0xa1, 0xa1]);
    expect(r.closed).toBe(false);
  });

  it('keepalive 2 s: closed with 0x8D 3 s after the last packet, not at the next sweep [MQTT-3.1.2-22]', async () => {
    const r = await RawMqtt.open(t.mqttPort, 5);
    raws.push(r);
    const password = Buffer.from(await token('car-ka'));
    const last = Date.now(); // the CONNECT is the last packet the engine gets
    r.send({ cmd: 'connect', protocolVersion: 5, clientId: 'car-ka', username: 'car-ka', password, clean: true, keepalive: 2 }, 5);
    const d = await r.waitPacket('disconnect', isCmd('disconnect'), 6000);
    const after = Date.now() - last;
    expect(d.reasonCode).toBe(0x8d);
    // Never early; the old once-a-second sweep closed anywhere up to 4.0 s.
    expect(after).toBeGreaterThanOrEqual(2995);
    expect(after).toBeLessThan(3800);
  });

  it('QoS 2 publish is exactly once: a resend before PUBREL appends nothing; PUBREL gets PUBCOMP [MQTT-4.3.3-10, -11]', async () => {
    const r = await raw('car-q2-pub');
    const pub = { cmd: 'publish' as const, topic: 'areas/city:q2-in', payload: Buffer.from('{"n":1}'), qos: 2 as const, messageId: 42, retain: false };
    r.send({ ...pub, dup: false }, 5);
    r.send({ ...pub, dup: true }, 5);
    await until('two PUBRECs', () => r.packets.filter(isCmd('pubrec')).length >= 2);
    expect(r.packets.filter(isCmd('pubrec')).map((p) => [p.messageId, p.reasonCode ?? 0])).toEqual([[42, 0], [42, 0]]);
    r.send({ cmd: 'pubrel', messageId: 42 }, 5);
    expect((await r.waitPacket('pubcomp', isCmd('pubcomp'))).reasonCode ?? 0).toBe(0);
    // After the release the id is free: the same id is a new message.
    r.send({ ...pub, payload: Buffer.from('{"n":2}'), dup: false }, 5);
    await until('third PUBREC', () => r.packets.filter(isCmd('pubrec')).length >= 3);
    expect(await rest.history('city:q2-in')).toEqual([1, 2]);
  });

  it('QoS 2 delivery: PUBLISH, PUBREC, PUBREL, PUBCOMP; a PUBREL not completed is resent on session resume [MQTT-4.4.0-1]', async () => {
    const id = 'car-q2-sub';
    const r = await raw(id, { clean: false, properties: { sessionExpiryInterval: 600 } });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'areas/city:q2-out', qos: 2 }] }, 5);
    expect((await r.waitPacket('suback', isCmd('suback'))).granted).toEqual([2]);
    await rest.seq('city:q2-out', 2);
    await until('two QoS 2 publishes', () => r.publishes().length >= 2);
    const [p1, p2] = r.publishes();
    expect([p1.qos, p2.qos]).toEqual([2, 2]);
    r.send({ cmd: 'pubrec', messageId: p1.messageId! }, 5);
    r.send({ cmd: 'pubrec', messageId: p2.messageId! }, 5);
    await until('two PUBRELs', () => r.packets.filter(isCmd('pubrel')).length >= 2);
    r.send({ cmd: 'pubcomp', messageId: p1.messageId! }, 5);
    await sleep(100);
    r.destroy(); // p2's PUBCOMP never sent
    await sleep(200);
    const again = await RawMqtt.open(t.mqttPort, 5);
    raws.push(again);
    again.send({ cmd: 'connect', protocolVersion: 5, clientId: id, username: id, password: Buffer.from(await token(id)), clean: false, keepalive: 30, properties: { sessionExpiryInterval: 600 } }, 5);
    expect((await again.waitPacket('connack', isCmd('connack'))).sessionPresent).toBe(true);
    const rel = await again.waitPacket('pubrel', isCmd('pubrel'));
    expect(rel.messageId).toBe(p2.messageId);
    await sleep(150);
    expect(again.publishes()).toEqual([]); // both were PUBREC'd: not resent
    again.send({ cmd: 'pubcomp', messageId: p2.messageId! }, 5);
    await rest.seq('city:q2-out', 1, 3);
    const p3 = await again.waitPacket('third', (p): p is Extract<typeof p, { cmd: 'publish' }> => p.cmd === 'publish');
    expect(JSON.parse(p3.payload.toString())).toEqual({ n: 3 });
  });

  it('MQTT.js at QoS 2 both ways: every message exactly once, in order', async () => {
    const sub = await connect('car-q2-js-sub');
    await sub.client.subscribeAsync('areas/city:q2-js', { qos: 2 });
    const pub = await connect('car-q2-js-pub');
    for (let n = 1; n <= 30; n++) await pub.client.publishAsync('areas/city:q2-js', JSON.stringify({ n }), { qos: 2 });
    await sub.waitCount('areas/city:q2-js', 30);
    await sleep(100);
    expect(sub.ns('areas/city:q2-js')).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(sub.received.every((r) => r.packet.qos === 2)).toBe(true);
  });

  it.skipIf(!hasMosquittoClients())('mosquitto_pub -q 2 -> mosquitto_sub -q 2 (MQTT 5)', async () => {
    const s = spawnClient('mosquitto_sub', ['-V', '5', '-h', '127.0.0.1', '-p', String(t.mqttPort), '-i', 'car-mq-sub', '-u', 'car-mq-sub', '-P', await token('car-mq-sub'), '-t', 'areas/city:mq2', '-q', '2', '-C', '3']);
    await until('mosquitto_sub subscribed', () => [...t.engine.mqtt.connections].some((c) => c.clientId === 'car-mq-sub' && c.subs.get('city:mq2')?.started === true));
    for (let n = 1; n <= 3; n++) {
      const p = spawnClient('mosquitto_pub', ['-V', '5', '-h', '127.0.0.1', '-p', String(t.mqttPort), '-i', 'car-mq-pub', '-u', 'car-mq-pub', '-P', await token('car-mq-pub'), '-t', 'areas/city:mq2', '-q', '2', '-m', JSON.stringify({ n })]);
      expect(await p.exited).toBe(0);
    }
    expect(await s.exited).toBe(0);
    expect(s.lines.map((l) => (JSON.parse(l) as { n: number }).n)).toEqual([1, 2, 3]);
  });

  it('Will Delay: a reconnect within the delay cancels the will; otherwise it goes out after the delay [MQTT-3.1.3-9]', async () => {
    const watcher = await connect('car-will-watch');
    await watcher.client.subscribeAsync('areas/city:wills', { qos: 1 });
    const will = { topic: 'areas/city:wills', payload: Buffer.from('{"n":1}'), qos: 1 as const, retain: false, properties: { willDelayInterval: 2 } };
    const extra = { will, properties: { sessionExpiryInterval: 60 } };
    const a = await raw('car-will', extra);
    a.destroy(); // abnormal end
    await sleep(300);
    await raw('car-will', extra); // back within the delay: no will
    const b = await raw('car-will-2', { ...extra, will: { ...will, payload: Buffer.from('{"n":2}') } });
    b.destroy();
    await sleep(1000);
    expect(watcher.ns('areas/city:wills')).toEqual([]); // not before the delay
    await watcher.waitCount('areas/city:wills', 1, 5000);
    await sleep(2500);
    expect(watcher.ns('areas/city:wills')).toEqual([2]);
  });

  it('retained messages go out at min(publish QoS, granted QoS) with RETAIN=1 [MQTT-3.8.4-8]', async () => {
    const pub = await connect('car-ret-pub');
    await pub.client.publishAsync('areas/city:ret-q1', JSON.stringify({ n: 1 }), { qos: 1, retain: true });
    await pub.client.publishAsync('areas/city:ret-q0', JSON.stringify({ n: 2 }), { qos: 0, retain: true });
    await sleep(200);
    const s = await connect('car-ret-sub');
    await s.client.subscribeAsync('areas/city:ret-q1', { qos: 1 });
    await s.client.subscribeAsync('areas/city:ret-q0', { qos: 1 });
    const s0 = await connect('car-ret-sub0');
    await s0.client.subscribeAsync('areas/city:ret-q1', { qos: 0 });
    await until('retained', () => s.received.length >= 2 && s0.received.length >= 1);
    const q = (c: TestMqtt, topic: string) => c.received.find((r) => r.topic === topic)!.packet;
    expect([q(s, 'areas/city:ret-q1').qos, q(s, 'areas/city:ret-q1').retain]).toEqual([1, true]);
    expect([q(s, 'areas/city:ret-q0').qos, q(s, 'areas/city:ret-q0').retain]).toEqual([0, true]);
    expect(q(s0, 'areas/city:ret-q1').qos).toBe(0);
    // The retained QoS 1 PUBACK moves no ack point: a live message after it still arrives.
    await rest.publish('city:ret-q1', { n: 3 });
    await until('live after retained', () => s.received.filter((r) => r.topic === 'areas/city:ret-q1').length >= 2);
  });

  it('message expiry counts down: a message replayed 2 s later carries the seconds left [MQTT-3.3.2-6]', async () => {
    const id = 'car-exp';
    const opts = { clean: false, properties: { sessionExpiryInterval: 600 } };
    const c = await connect(id, opts);
    await c.client.subscribeAsync('areas/city:exp', { qos: 1 });
    await c.end(true);
    await rest.publish('city:exp', { n: 1 }, { ttlSeconds: 60 });
    await sleep(2100);
    const back = await connect(id, opts);
    await back.waitCount('areas/city:exp', 1);
    const left = back.received[0].packet.properties?.messageExpiryInterval ?? 0;
    expect(left).toBeGreaterThan(50);
    expect(left).toBeLessThanOrEqual(58);
  });

  it('wildcards: one delivery per area with an exact overlap; UNSUBSCRIBE stops it; a resumed session meets areas created while it was away from their start', async () => {
    const id = 'car-wild';
    const opts = { clean: false, properties: { sessionExpiryInterval: 600 } };
    await rest.publish('city:wa', { n: 0 });
    const c = await connect(id, opts);
    await c.client.subscribeAsync('areas/city:wa', { qos: 1 });
    await c.client.subscribeAsync('areas/#', { qos: 1, rh: 2 });
    await until('expanded', () => [...t.engine.mqtt.connections].some((x) => x.clientId === id && x.wildcards?.has('areas/#') === true));
    await rest.publish('city:wa', { n: 1 });
    await c.waitCount('areas/city:wa', 1);
    await c.end(true); // away
    await rest.publish('city:wb', { n: 2 }); // created while away
    await rest.publish('city:wb', { n: 3 });
    const back = await connect(id, opts);
    await back.waitCount('areas/city:wb', 2, 10_000);
    expect(back.ns('areas/city:wb')).toEqual([2, 3]);
    await back.client.unsubscribeAsync('areas/#');
    await rest.publish('city:wb', { n: 4 });
    await rest.publish('city:wa', { n: 5 }); // the exact subscription stays
    await back.waitCount('areas/city:wa', 1);
    await sleep(200);
    expect(back.ns('areas/city:wb')).toEqual([2, 3]);
    expect(back.ns('areas/city:wa')).toEqual([5]);
    expect(c.ns('areas/city:wa')).toEqual([1]); // once, though two filters match
  });

  it('shared subscriptions: each message to exactly one member; a member that leaves gives its unacknowledged messages to the others (at least once)', async () => {
    const a = await connect('car-share-a');
    const b = await connect('car-share-b');
    const plain = await connect('car-share-plain');
    expect(await a.client.subscribeAsync('$share/backend/areas/city:sh', { qos: 1 })).toMatchObject([{ qos: 1 }]);
    expect(await b.client.subscribeAsync('$share/backend/areas/city:sh', { qos: 2 })).toMatchObject([{ qos: 1 }]); // at most 1
    await plain.client.subscribeAsync('areas/city:sh', { qos: 1 });
    await rest.seq('city:sh', 40);
    await plain.waitCount('areas/city:sh', 40);
    await until('the group got 40', () => a.ns('areas/city:sh').length + b.ns('areas/city:sh').length >= 40);
    await sleep(100);
    const got = [...a.ns('areas/city:sh'), ...b.ns('areas/city:sh')].sort((x, y) => x - y);
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i + 1)); // each exactly once
    expect(a.ns('areas/city:sh').length).toBeGreaterThan(0);
    expect(b.ns('areas/city:sh').length).toBeGreaterThan(0);
    // A raw member that never acknowledges, then vanishes: its messages reach the others.
    const r = await raw('car-share-raw');
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/backend/areas/city:sh', qos: 1 }] }, 5);
    await r.waitPacket('suback', isCmd('suback'));
    await rest.seq('city:sh', 30, 41);
    await until('the raw member got some', () => r.publishes().length > 0);
    await until('the others got the rest', () => a.ns('areas/city:sh').length + b.ns('areas/city:sh').length + r.publishes().length >= 70);
    const owed = r.publishes().map((p) => (JSON.parse(p.payload.toString()) as { n: number }).n);
    r.destroy();
    await until('what the raw member owed went to the others', () => {
      const all = new Set([...a.ns('areas/city:sh'), ...b.ns('areas/city:sh')]);
      return owed.every((n) => all.has(n));
    });
    const all = new Set([...a.ns('areas/city:sh'), ...b.ns('areas/city:sh')]);
    for (let n = 1; n <= 70; n++) expect(all.has(n)).toBe(true);
  });

  it('shared subscriptions: No Local on one is a Protocol Error [MQTT-3.8.3-4]', async () => {
    const r = await raw('car-share-nl');
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/areas/city:x', qos: 1, nl: true }] }, 5);
    expect((await r.waitPacket('disconnect', isCmd('disconnect'))).reasonCode).toBe(0x82);
  });
});
