/**
 * The machine-readable protocol v1 (client/schema/*.json, JSON Schema 2020-12) against what the
 * engine actually sends: every frame kind in both formats, close frames, REST bodies, and the
 * frames the SDK itself sends. Raw `ws` sockets, not the SDK, so the SDK cannot hide a mismatch.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import { Unpackr } from 'msgpackr';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE, ERRORS } from '../../engine/errors.ts';
import { signToken, TEST_HS_SECRET } from '../../engine/auth/testing.ts';
import { until } from '../../engine/testing/harness.ts';
import { SDK_WAIT_MS, TestEngine } from '../testing/engine.ts';
import { jsonCodec } from './codec.ts';
import { msgpackCodec } from './msgpack.ts';

const SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema');
const ajv = new Ajv2020.default({ strict: true, allErrors: true });
ajv.addVocabulary(['x-source', 'x-reconnect', 'x-emitted-on-ws']);
for (const f of readdirSync(SCHEMA_DIR)) {
  if (!f.endsWith('.json') || f === 'close-codes.json') continue;
  ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')) as object, f);
}

function check(schema: string, value: unknown): void {
  const validate = ajv.getSchema(schema);
  if (validate === undefined) throw new Error(`no schema ${schema}`);
  const ok = validate(value);
  expect(ok, `${schema}: ${JSON.stringify(value).slice(0, 300)}\n${ajv.errorsText(validate.errors)}`).toBe(true);
}

let e: TestEngine;
let admin: string;
beforeAll(async () => {
  e = await TestEngine.start(['--auth-hs-secret', TEST_HS_SECRET, '--max-subscriptions', '3']);
  admin = await signToken({ sub: 'schema', subscribe: ['sc:*'], publish: ['*'] });
});
afterAll(async () => {
  await e.close();
});

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** A raw socket recording decoded frames and its close. */
async function socket(subprotocol: 'v1.json' | 'v1.msgpack', token = admin) {
  const frames: Record<string, unknown>[] = [];
  let closed: { code: number; reason: string } | undefined;
  const ws = new WebSocket(`${e.wsUrl}?access_token=${token}`, subprotocol);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    frames.push((isBinary ? unpackr.unpack(data) : JSON.parse(data.toString())) as Record<string, unknown>);
  });
  ws.on('close', (code, reason) => (closed = { code, reason: reason.toString() }));
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const codec = subprotocol === 'v1.json' ? jsonCodec : msgpackCodec;
  return {
    frames,
    closed: () => closed,
    send: (f: Parameters<typeof codec.encode>[0]) => {
      // the SDK's own encoding of every client frame it sends is valid v1
      check('client-frame.json', f);
      ws.send(codec.encode(f));
    },
    raw: (d: string | Buffer) => ws.send(d),
    ws,
  };
}

async function post(area: string, body: string | Buffer, type: string) {
  const res = await fetch(`${e.base}/v1/areas/${area}/messages`, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${admin}` }, body });
  return { status: res.status, body: (await res.json()) as unknown };
}

describe('protocol v1 schemas against the engine', () => {
  for (const format of ['v1.json', 'v1.msgpack'] as const) {
    it(`${format}: subscribed, message (json, msgpack, binary payloads), pong, unsubscribed and every per-area error frame`, async () => {
      const area = `sc:${format === 'v1.json' ? 'j' : 'm'}`;
      for (const [body, type] of [['{"kind":"lane","n":1}', 'application/json'], [Buffer.from([0x82, 0xa1, 0x6e, 0x01, 0xa1, 0x74, 0xa2, 0x6f, 0x6b]), 'application/msgpack'], [Buffer.from([0, 1, 2, 255]), 'application/octet-stream']] as const) {
        const r = await post(area, body, type);
        expect(r.status).toBe(201);
        check('rest.publish-response.json', r.body);
      }
      const s = await socket(format);
      s.send({ type: 'subscribe', area, since: { offset: 0, epoch: 'another-epoch' } }); // recovered:false at the head
      s.send({ type: 'subscribe', area }); // already_subscribed
      s.send({ type: 'unsubscribe', area });
      const sub = { type: 'subscribe' as const, area, since: undefined as undefined | { offset: number; epoch: string } };
      await until('unsubscribed', () => s.frames.some((f) => f.type === 'unsubscribed'), SDK_WAIT_MS);
      const epoch = (s.frames.find((f) => f.type === 'subscribed') as { epoch: string }).epoch;
      sub.since = { offset: 0, epoch };
      s.send(sub); // replays 1..3
      s.send({ type: 'subscribe', area: 'sc:far', since: { offset: 99, epoch } }); // bad_offset
      s.send({ type: 'subscribe', area: 'Not Valid!' }); // invalid_area
      s.send({ type: 'unsubscribe', area: 'sc:never' }); // not_subscribed
      s.send({ type: 'ping' });
      await until('replay and pong', () => s.frames.filter((f) => f.type === 'message').length >= 3 && s.frames.some((f) => f.type === 'pong'), SDK_WAIT_MS);
      s.send({ type: 'ack', area, offset: 50 }); // bad_ack
      await until('errors', () => s.frames.filter((f) => f.type === 'error').length >= 5, SDK_WAIT_MS);
      const kinds = new Set(s.frames.map((f) => f.type));
      expect([...kinds].sort()).toEqual(['error', 'message', 'pong', 'subscribed', 'unsubscribed']);
      const codes = s.frames.filter((f) => f.type === 'error').map((f) => f.code);
      expect(new Set(codes), JSON.stringify(s.frames)).toEqual(new Set(['already_subscribed', 'bad_offset', 'invalid_area', 'not_subscribed', 'bad_ack']));
      for (const f of s.frames) check(format === 'v1.json' ? 'server-frame.json' : 'server-frame.msgpack.json', f);
      const binary = s.frames.find((f) => f.type === 'message' && f.offset === 3)!;
      if (format === 'v1.json') expect(binary).toMatchObject({ encoding: 'base64', data: 'AAEC/w==' });
      else expect([...(binary.data as Uint8Array)]).toEqual([0, 1, 2, 255]); // msgpack bin
      s.ws.close();
    });
  }

  it('close frames: forbidden 4501, too_many_subscriptions 4503, bad_frame 4502, going_away 1001 on shutdown', async () => {
    const seen: { code: number; reason: string }[] = [];
    const narrow = await socket('v1.json', await signToken({ sub: 'n', subscribe: ['sc:only'], publish: [] }));
    narrow.raw(JSON.stringify({ type: 'subscribe', area: 'sc:other' }));
    const many = await socket('v1.json');
    for (let i = 0; i < 4; i++) many.raw(JSON.stringify({ type: 'subscribe', area: `sc:n${i}` }));
    const garbled = await socket('v1.json');
    garbled.raw('{"type":"subscribe"');
    const last = await socket('v1.json');
    await until('three closes', () => [narrow, many, garbled].every((s) => s.closed() !== undefined), SDK_WAIT_MS);
    await e.stop('SIGTERM');
    await until('going_away', () => last.closed() !== undefined, SDK_WAIT_MS);
    for (const s of [narrow, many, garbled, last]) seen.push(s.closed()!);
    expect(seen.map((c) => c.code)).toEqual([CLOSE.forbidden.code, CLOSE.too_many_subscriptions.code, CLOSE.bad_frame.code, CLOSE.going_away.code]);
    for (const c of seen) check('ws-close.json', c);
    await e.restart();
  });

  it('REST bodies: history page, area info, error body', async () => {
    await post('sc:h', '{"a":1}', 'application/json');
    const auth = { authorization: `Bearer ${admin}` };
    const hist = await fetch(`${e.base}/v1/areas/sc:h/messages?from=0&limit=10`, { headers: auth });
    expect(hist.status).toBe(200);
    check('rest.history-response.json', await hist.json());
    const info = await fetch(`${e.base}/v1/areas/sc:h`, { headers: auth });
    expect(info.status).toBe(200);
    check('rest.area-info.json', await info.json());
    const missing = await fetch(`${e.base}/v1/areas/sc:none/messages`, { headers: auth });
    expect(missing.status).toBe(ERRORS.area_not_found.status);
    check('rest.error-body.json', await missing.json());
  });

  it('close-codes.json (data) is the engine registry', () => {
    const data = JSON.parse(readFileSync(join(SCHEMA_DIR, 'close-codes.json'), 'utf8')) as { codes: { code: number; reason: string; reconnect: boolean }[] };
    const fromFile = data.codes.filter((c) => c.code >= 1000).map((c) => [c.code, c.reason, c.reconnect]);
    for (const [key, v] of Object.entries(CLOSE)) expect(fromFile).toContainEqual([v.code, key, v.reconnect]);
  });
});
