/**
 * Never store bytes other than the ones published [issue 13 item 4]: a payload that does not match
 * its declared format is refused (REST 400 bad_request, MQTT 5 PUBACK 0x99 Payload format invalid)
 * instead of being stored and changed on the way out. And what is accepted comes back byte for
 * byte: in the history, to a msgpack vehicle and to an MQTT subscriber.
 */
import mqtt from 'mqtt';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { areaInfo, http, metric, publish, startTestEngine, type TestEngine } from '../testing/harness.ts';

let t: TestEngine;
beforeAll(async () => {
  t = await startTestEngine();
});
afterAll(async () => {
  await t?.stop();
});

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('REST: a payload that is not what its Content-Type says is refused, nothing stored', () => {
  it.each([
    ['msgpack C1 (never valid)', 'application/msgpack', 'c1'],
    ['msgpack with trailing bytes', 'application/msgpack', '01 02'],
    ['msgpack str in invalid UTF-8', 'application/msgpack', 'a2 ff fe'],
    ['JSON with invalid UTF-8 (22 FF FE 22)', 'application/json', '22 ff fe 22'],
    ['JSON after a BOM', 'application/json', 'ef bb bf 7b 7d'],
  ])('%s: 400 bad_request', async (_name, contentType, bytes) => {
    const area = `integrity:${contentType.split('/')[1]}`;
    const before = (await metric(t.base, 'abe_http_errors_total', { code: 'bad_request' })) ?? 0;
    const r = await publish(t.base, area, hex(bytes), { contentType });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'bad_request' });
    expect(await metric(t.base, 'abe_http_errors_total', { code: 'bad_request' })).toBe(before + 1);
    expect((await http(t.base, `/v1/areas/${area}`)).status).toBe(404);
  });

  it('what is accepted comes back unchanged (history decodes the stored msgpack to the same value)', async () => {
    const value = { lane: 3, closed: true, note: 'Baustelle – A9', at: [48.1, 11.5] };
    const r = await publish(t.base, 'integrity:ok', pack(value), { contentType: 'application/msgpack' });
    expect(r.status).toBe(201);
    const page = await http(t.base, '/v1/areas/integrity:ok/messages?from=1');
    expect(page.status).toBe(200);
    expect((page.body as { messages: { data: unknown }[] }).messages.map((m) => m.data)).toEqual([value]);
  });
});

describe('MQTT 5: PUBACK 0x99 for a payload that contradicts its Content Type', () => {
  it.each([
    ['application/msgpack', 'c1'],
    ['application/msgpack', '92 01'],
    ['application/json', '22 ff fe 22'],
  ])('%s %s: 0x99, the connection stays, nothing stored', async (contentType, bytes) => {
    const area = `integrity:mqtt-${bytes.replace(/\s+/g, '')}`;
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${t.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: `integrity-${bytes.replace(/\s+/g, '')}` });
    try {
      const err = await c.publishAsync(`areas/${area}`, hex(bytes), { qos: 1, properties: { contentType } }).then(
        () => undefined,
        (e: { code?: number }) => e,
      );
      expect(err?.code).toBe(0x99);
      // Still connected: a valid publish on the same connection is stored.
      await c.publishAsync(`areas/${area}`, Buffer.from('{"ok":1}'), { qos: 1, properties: { contentType: 'application/json' } });
      expect((await areaInfo(t.base, area)).head).toBe(1);
    } finally {
      await c.endAsync(true);
    }
  });
});
