/**
 * End to end: MQTT over WebSocket as a byte stream (a packet split across frames, several
 * packets in one frame), a slow TCP reader (over its backpressure budget it stops getting sends,
 * catches up from the ring when it drains: gap-free), the will message, and the lazy formats
 * (the first MQTT subscriber of a format replays what the ring holds without that format).
 */
import { generate } from 'mqtt-packet';
import { parser as createParser, type Packet } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { range, sleep, startTestEngine, until, type TestEngine } from '../testing/harness.ts';
import { isCmd, mqttConnect, RawMqtt, Rest } from './mqtt-support.ts';

describe('mqtt flow (dev mode: no auth key, loopback)', () => {
  let t: TestEngine;
  let rest: Rest;
  beforeAll(async () => {
    t = await startTestEngine(['--max-backpressure-bytes', '65536']);
    rest = await Rest.of(t.base, false);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('WebSocket /mqtt carries a byte stream: packets split across frames and batched in one frame', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/mqtt`, 'mqtt');
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
    expect(ws.protocol).toBe('mqtt');
    const packets: Packet[] = [];
    const p = createParser({ protocolVersion: 5 });
    p.on('packet', (x: Packet) => packets.push(x));
    ws.on('message', (d: Buffer) => p.parse(d));
    const connect = generate({ cmd: 'connect', protocolVersion: 5, clientId: 'ws-stream', clean: true, keepalive: 30 }, { protocolVersion: 5 });
    ws.send(connect.subarray(0, 5));
    await sleep(20);
    ws.send(connect.subarray(5));
    await until('connack', () => packets.find(isCmd('connack')));
    const sub = generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'areas/ws:stream', qos: 1 }] }, { protocolVersion: 5 });
    ws.send(Buffer.concat([sub, generate({ cmd: 'pingreq' }, { protocolVersion: 5 })]));
    await until('suback and pingresp', () => packets.find(isCmd('suback')) && packets.find(isCmd('pingresp')));
    await rest.seq('ws:stream', 3);
    await until('3 publishes', () => packets.filter(isCmd('publish')).length === 3);
    ws.close();
    const refused = new WebSocket(`ws://127.0.0.1:${t.port}/mqtt`, 'v1.json');
    const status = await new Promise<number>((r) => refused.once('unexpected-response', (_req, res) => r(res.statusCode ?? 0)));
    expect(status).toBe(400);
  });

  it('a subscriber that stops reading is paused at its budget and catches up gap-free when it drains', async () => {
    const raw = await RawMqtt.open(t.mqttPort, 4);
    raw.send({ cmd: 'connect', protocolVersion: 4, clientId: 'slow', clean: true, keepalive: 60 });
    await raw.waitPacket('connack', isCmd('connack'));
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'areas/slow:a', qos: 0 }] });
    await raw.waitPacket('suback', isCmd('suback'));
    raw.socket.pause(); // stop reading: the kernel buffers fill, then the engine's budget
    const big = 'x'.repeat(200_000);
    for (let n = 1; n <= 100; n++) await rest.publish('slow:a', { n, big });
    await until('paused', () => [...t.engine.mqtt.connections].some((c) => c.paused), 5000);
    raw.socket.resume();
    await until('100 messages', () => raw.publishes().length >= 100, 15_000);
    expect(raw.publishes().map((p) => JSON.parse(p.payload.toString()).n)).toEqual(range(1, 100));
    raw.destroy();
  });

  it('the will is published when a client vanishes, not after DISCONNECT', async () => {
    const watcher = await mqttConnect(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 5, clientId: 'watcher' });
    await watcher.client.subscribeAsync('areas/will:a', { qos: 1 });
    const will = { topic: 'areas/will:a', payload: Buffer.from('{"n":1}'), qos: 1 as const, retain: false };
    const polite = await RawMqtt.open(t.mqttPort, 4);
    polite.send({ cmd: 'connect', protocolVersion: 4, clientId: 'polite', clean: true, keepalive: 60, will: { ...will, payload: Buffer.from('{"n":99}') } });
    await polite.waitPacket('connack', isCmd('connack'));
    polite.send({ cmd: 'disconnect' });
    const rude = await RawMqtt.open(t.mqttPort, 4);
    rude.send({ cmd: 'connect', protocolVersion: 4, clientId: 'rude', clean: true, keepalive: 60, will });
    await rude.waitPacket('connack', isCmd('connack'));
    rude.destroy();
    await watcher.waitCount('areas/will:a', 1);
    await sleep(200);
    expect(watcher.ns('areas/will:a')).toEqual([1]);
    await watcher.end(true);
  });
});

describe('mqtt lazy formats', () => {
  it('a resumed session in a format no one used yet replays from the log what the ring holds without it', async () => {
    const t = await startTestEngine();
    const rest = await Rest.of(t.base, false);
    try {
      // 5.0 QoS 1 makes the session (activating only that format), then leaves.
      const a = await mqttConnect(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 5, clientId: 'lazy', clean: false, properties: { sessionExpiryInterval: 600 } });
      await a.client.subscribeAsync('areas/lazy:a', { qos: 1 });
      await a.end();
      await rest.seq('lazy:a', 20); // ring entries: no 3.1.1 QoS 1 frames
      const ring = t.engine.areas.find('lazy:a')!.ring;
      expect(ring.size).toBe(20);
      // The same client comes back speaking 3.1.1: its format is activated now.
      const b = await mqttConnect(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 4, clientId: 'lazy', clean: false });
      await b.waitCount('areas/lazy:a', 20);
      await rest.seq('lazy:a', 5, 21);
      await b.waitCount('areas/lazy:a', 25);
      expect(b.ns('areas/lazy:a')).toEqual(range(1, 25));
      await b.end(true);
    } finally {
      await t.stop();
    }
  });
});
