/**
 * Compression [issue 16], end to end on real sockets with clients nobody here wrote: `ws` with
 * Node's zlib for the WebSocket `+deflate` subprotocols (engine/testing/vehicle.ts), MQTT.js for
 * MQTT 5 payload compression. Checks: negotiation (old clients unchanged), one compression per
 * message however many subscribers, realistic alerts shrink, small / incompressible / level-0
 * areas go plain, resume from the ring and from the log, acks, retained messages.
 */
import { randomBytes } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAlert } from '../../loadtest/alerts.ts';
import { metric, publishOk, range, startTestEngine, until, type TestEngine, type Vehicle } from '../testing/harness.ts';
import { hasMosquittoClients, mqttConnect, spawnClient, type TestMqtt } from './mqtt-support.ts';

let t: TestEngine;

beforeAll(async () => {
  // A small ring, so a resume further back than 8 messages reads the log (FormatTable.encodeOne).
  t = await startTestEngine(['--ring-size', '8', '--compression-areas', 'raw:*=0']);
});
afterAll(async () => {
  await t?.stop();
});

/** Realistic alerts (loadtest/alerts.ts) of about `size` bytes, as JSON values. */
const alerts = (count: number, size: number, from = 1): unknown[] => range(from, from + count - 1).map((i) => JSON.parse(makeAlert(1_765_000_000_000_000 + i, false, i, size).toString()) as unknown);

async function publishAll(area: string, values: readonly unknown[]): Promise<void> {
  for (const v of values) await publishOk(t.base, area, v);
}

/** Wire size of each message frame of `area`, in arrival order. */
function messageSizes(v: Vehicle, area: string): { size: number; compressed: boolean }[] {
  const out: { size: number; compressed: boolean }[] = [];
  v.frames.forEach((f, i) => {
    if (f.type === 'message' && f.area === area) out.push({ size: v.sizes[i], compressed: v.compressed[i] });
  });
  return out;
}

const compressedCount = (encoder: string): Promise<number> => metric(t.base, 'abe_compression_frames_total', { encoder, result: 'compressed' }).then((n) => n ?? 0);

describe('websocket +deflate subprotocols', () => {
  it.each([
    ['v1.json+deflate', 'v1.json', 'ws-json-deflate'],
    ['v1.msgpack+deflate', 'v1.msgpack', 'ws-msgpack-deflate'],
  ] as const)('%s: same messages as %s, compressed once for every subscriber', async (deflate, plain, encoder) => {
    const area = `city:alerts-${plain}`;
    const before = await compressedCount(encoder);
    const zs = await Promise.all([t.connect({ protocol: deflate }), t.connect({ protocol: deflate }), t.connect({ protocol: deflate })]);
    const p = await t.connect({ protocol: plain });
    for (const v of [...zs, p]) await v.subscribe(area);
    expect(zs[0].ws.protocol).toBe(deflate);
    const values = alerts(12, 4096);
    await publishAll(area, values);
    const plainGot = await p.waitMessages(area, 12);
    for (const z of zs) {
      const got = await z.waitMessages(area, 12);
      expect(got.map((m) => m.offset)).toEqual(range(1, 12));
      expect(got.map((m) => m.data)).toEqual(values);
      expect(got).toEqual(plainGot);
      // Every server frame is binary; the `subscribed` control frame is not compressed.
      expect(new Set(z.binary)).toEqual(new Set([true]));
      expect(z.compressed[z.frames.findIndex((f) => f.type === 'subscribed')]).toBe(false);
    }
    const zSizes = messageSizes(zs[0], area);
    const pSizes = messageSizes(p, area);
    expect(zSizes.every((s) => s.compressed)).toBe(true);
    const ratio = zSizes.reduce((a, s) => a + s.size, 0) / pSizes.reduce((a, s) => a + s.size, 0);
    expect(ratio).toBeLessThan(0.5);
    // Once per message, not per subscriber: 12 compressions for 3 subscribers.
    expect((await compressedCount(encoder)) - before).toBe(12);
  });

  it('an old client (v1.json, or no subprotocol) is unchanged next to compressed ones', async () => {
    const area = 'city:mixed';
    const z = await t.connect({ protocol: 'v1.json+deflate' });
    const old = await t.connect({ protocol: 'v1.json' });
    const none = await t.connect({ protocol: null });
    for (const v of [z, old, none]) await v.subscribe(area);
    await publishAll(area, alerts(3, 2048));
    for (const v of [old, none]) {
      const got = await v.waitMessages(area, 3);
      expect(got.map((m) => m.offset)).toEqual([1, 2, 3]);
      expect(new Set(v.binary)).toEqual(new Set([false]));
      expect(v.compressed.some(Boolean)).toBe(false);
    }
    expect((await z.waitMessages(area, 3)).map((m) => m.offset)).toEqual([1, 2, 3]);
    // A client offering the compressed variant first and plain second gets what it put first.
    const both = await t.connect({ protocol: ['v1.msgpack+deflate', 'v1.msgpack'] });
    expect(both.ws.protocol).toBe('v1.msgpack+deflate');
  });

  it('small frames, incompressible payloads and level-0 areas go uncompressed (binary, no marker)', async () => {
    const z = await t.connect({ protocol: 'v1.msgpack+deflate' });
    await z.subscribe('city:small');
    await z.subscribe('city:noise');
    await z.subscribe('raw:feed');
    await publishOk(t.base, 'city:small', { n: 1 }); // a ~60-byte frame: under --compression-min-bytes
    const noise = randomBytes(2048);
    await publishOk(t.base, 'city:noise', noise, { contentType: 'application/octet-stream' });
    await publishAll('raw:feed', alerts(2, 4096));
    const small = await z.waitMessages('city:small', 1);
    const binary = await z.waitMessages('city:noise', 1);
    const raw = await z.waitMessages('raw:feed', 2);
    expect(small[0].data).toEqual({ n: 1 });
    expect(Buffer.from(binary[0].data as Uint8Array).equals(noise)).toBe(true);
    expect(raw.map((m) => m.offset)).toEqual([1, 2]);
    for (const area of ['city:small', 'city:noise', 'raw:feed']) expect(messageSizes(z, area).some((s) => s.compressed)).toBe(false);
    expect(await metric(t.base, 'abe_compression_frames_total', { encoder: 'ws-msgpack-deflate', result: 'too_small' })).toBeGreaterThanOrEqual(1);
    expect(await metric(t.base, 'abe_compression_frames_total', { encoder: 'ws-msgpack-deflate', result: 'no_gain' })).toBeGreaterThanOrEqual(1);
    expect(await metric(t.base, 'abe_compression_frames_total', { encoder: 'ws-msgpack-deflate', result: 'off' })).toBeGreaterThanOrEqual(2);
  });

  it('resume replays compressed frames from the log, compressed once per offset for all resuming vehicles, then live; acks count', async () => {
    const area = 'city:resume-z';
    const a = await t.connect({ protocol: 'v1.json+deflate' });
    const sub = await a.subscribe(area);
    await publishAll(area, alerts(3, 3000));
    await a.waitMessages(area, 3);
    a.send({ type: 'ack', area, offset: 3 });
    await until('the ack', async () => ((await metric(t.base, 'abe_acks_total')) ?? 0) >= 1);
    a.close();
    // 20 more while away: more than the ring (8) holds, so the replay reads the log.
    await publishAll(area, alerts(20, 3000, 4));
    const before = await compressedCount('ws-json-deflate');
    const back = await Promise.all([1, 2, 3].map(() => t.connect({ protocol: 'v1.json+deflate' })));
    for (const b of back) expect(await b.subscribe(area, { epoch: String(sub.epoch), offset: 3 })).toMatchObject({ recovered: true });
    await publishAll(area, alerts(2, 3000, 24));
    for (const b of back) {
      const got = await b.waitMessages(area, 22);
      expect(got.map((m) => m.offset)).toEqual(range(4, 25));
      expect(got.map((m) => m.data)).toEqual(alerts(22, 3000, 4));
      expect(messageSizes(b, area).every((s) => s.compressed)).toBe(true);
    }
    // 20 replayed offsets and 2 live ones, each compressed at most once (areas/replay-cache.ts);
    // per vehicle it would be 3 x 20 + 2.
    expect((await compressedCount('ws-json-deflate')) - before).toBeLessThanOrEqual(22);
  });
});

describe('history pages', () => {
  it('are gzipped for a client that sends Accept-Encoding: gzip (and only then), the same JSON once gunzipped', async () => {
    const area = 'city:history-z';
    await publishAll(area, alerts(20, 2048, 500));
    const get = (acceptEncoding?: string): Promise<{ encoding: string | undefined; vary: string | undefined; body: Buffer }> =>
      new Promise((resolve, reject) => {
        const req = httpGet(`${t.base}/v1/areas/${area}/messages?from=0`, { headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ encoding: res.headers['content-encoding'], vary: res.headers.vary, body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
      });
    const plain = await get();
    const zipped = await get('gzip, deflate, br');
    const refused = await get('gzip;q=0, deflate');
    expect(plain.encoding).toBeUndefined();
    expect(refused.encoding).toBeUndefined();
    expect(zipped.encoding).toBe('gzip');
    expect(zipped.vary).toBe('accept-encoding');
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
    expect(zipped.body.byteLength).toBeLessThan(plain.body.byteLength / 2);
    expect((JSON.parse(plain.body.toString()) as { messages: { data: unknown }[] }).messages.map((m) => m.data)).toEqual(alerts(20, 2048, 500));
  });
});

describe('mqtt 5 payload compression', () => {
  const clients: TestMqtt[] = [];
  const url = (): string => `mqtt://127.0.0.1:${t.mqttPort}`;
  afterAll(async () => {
    for (const c of clients) await c.end(true).catch(() => undefined);
  });
  const connect = async (clientId: string, version: 4 | 5 = 5): Promise<TestMqtt> => {
    const c = await mqttConnect(url(), { protocolVersion: version, clientId });
    clients.push(c);
    return c;
  };

  it('accept-encoding: deflate on SUBSCRIBE gets deflated payloads marked content-encoding; others get them as published', async () => {
    const area = 'city:mqtt-z';
    const topic = `areas/${area}`;
    const z = await connect('z5');
    const plain = await connect('p5');
    const v4 = await connect('p4', 4);
    // A retained message (offset 1), built outside the ring when a subscription starts.
    const retained = alerts(1, 3000, 100)[0];
    await plain.client.publishAsync(topic, JSON.stringify(retained), { qos: 1, retain: true });
    await z.client.subscribeAsync(topic, { qos: 1, properties: { userProperties: { 'accept-encoding': 'gzip, Deflate' } } });
    await plain.client.subscribeAsync(topic, { qos: 1 });
    await v4.client.subscribeAsync(topic, { qos: 1 });
    const values = [...alerts(5, 4096, 1), { n: 6 }];
    await publishAll(area, values);
    const live = (c: TestMqtt): TestMqtt['received'] => c.received.filter((r) => r.topic === topic && !r.packet.retain);
    await until('6 messages each', () => [z, plain, v4].every((c) => live(c).length >= 6));
    const zGot = live(z);
    for (let i = 0; i < 6; i++) {
      const r = zGot[i];
      const user = r.packet.properties?.userProperties ?? {};
      const small = i === 5; // {n:6} is under --compression-min-bytes: as published, unmarked
      expect(user['content-encoding']).toBe(small ? undefined : 'deflate');
      expect(user.offset).toBe(String(i + 2));
      expect(r.packet.properties?.contentType).toBe('application/json');
      // Deflate output is not UTF-8: no Payload Format Indicator 1 on it [MQTT-3.3.2-4].
      expect(r.packet.properties?.payloadFormatIndicator).toBe(small ? true : undefined);
      expect(JSON.parse((small ? r.payload : inflateRawSync(r.payload)).toString())).toEqual(values[i]);
      if (!small) expect(r.payload.byteLength).toBeLessThan(live(plain)[i].payload.byteLength / 2);
    }
    const kept = z.received.find((r) => r.topic === topic && r.packet.retain);
    expect(kept?.packet.properties?.userProperties?.['content-encoding']).toBe('deflate');
    expect(JSON.parse(inflateRawSync(kept!.payload).toString())).toEqual(retained);
    for (const c of [plain, v4]) {
      const got = live(c);
      expect(got.map((r) => JSON.parse(r.payload.toString()) as unknown)).toEqual(values);
      expect(got.some((r) => r.packet.properties?.userProperties?.['content-encoding'] !== undefined)).toBe(false);
    }
  });

  it('a persistent session keeps the choice: messages missed while away come compressed; a payload the publisher encoded itself goes as it is', async () => {
    const area = 'city:mqtt-session-z';
    const topic = `areas/${area}`;
    const opts = { clean: false, properties: { sessionExpiryInterval: 300 } };
    let z = await mqttConnect(url(), { protocolVersion: 5, clientId: 'zs', ...opts });
    await z.client.subscribeAsync(topic, { qos: 1, properties: { userProperties: { 'accept-encoding': 'deflate' } } });
    await z.end();
    const values = alerts(3, 4096, 300);
    await publishAll(area, values);
    // A publisher's own encoding: never compressed again, its property kept as the only one.
    const pub = await connect('gz-pub');
    const gz = gzipSync(JSON.stringify(values[0]));
    await pub.client.publishAsync(topic, gz, { qos: 1, properties: { userProperties: { 'content-encoding': 'gzip' } } });
    z = await mqttConnect(url(), { protocolVersion: 5, clientId: 'zs', ...opts });
    clients.push(z);
    await until('4 messages after the resume', () => z.received.filter((r) => r.topic === topic).length >= 4);
    const got = z.received.filter((r) => r.topic === topic);
    for (let i = 0; i < 3; i++) {
      expect(got[i].packet.properties?.userProperties?.['content-encoding']).toBe('deflate');
      expect(JSON.parse(inflateRawSync(got[i].payload).toString())).toEqual(values[i]);
    }
    expect(got[3].packet.properties?.userProperties?.['content-encoding']).toBe('gzip');
    expect(got[3].payload.equals(gz)).toBe(true);
  });

  it.skipIf(!hasMosquittoClients())('mosquitto_sub asks with -D subscribe user-property accept-encoding deflate and gets what inflates to the alert', async () => {
    const area = 'city:mosq-z';
    const sub = spawnClient('mosquitto_sub', ['-V', '5', '-h', '127.0.0.1', '-p', String(t.mqttPort), '-t', `areas/${area}`, '-q', '1', '-C', '2', '-D', 'subscribe', 'user-property', 'accept-encoding', 'deflate', '-F', '%P|%x']);
    try {
      // mosquitto_sub prints nothing once subscribed: publish until its two lines come (an early publish before the SUBSCRIBE is simply not seen).
      const values = alerts(40, 2048, 200);
      for (let i = 0; sub.lines.length < 2 && i < values.length; i++) {
        await publishOk(t.base, area, values[i]);
        await new Promise((r) => setTimeout(r, 100));
      }
      await until('two lines from mosquitto_sub', () => sub.lines.length >= 2);
      for (const line of sub.lines.slice(0, 2)) {
        const [props, hex] = line.split('|');
        expect(props).toContain('content-encoding:deflate');
        const offset = Number(/offset:(\d+)/.exec(props)?.[1]);
        expect(JSON.parse(inflateRawSync(Buffer.from(hex, 'hex')).toString())).toEqual(values[offset - 1]);
      }
    } finally {
      sub.proc.kill();
    }
  });
});
