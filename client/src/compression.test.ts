/**
 * Compressed frames [issue 16] with the SDK against a real engine, inflated by the runtime's own
 * DecompressionStream: the +deflate subprotocol is offered by default and chosen; compressed and
 * plain frames interleaved (big and small messages) reach the handler in log order with their
 * data; a resume after a restart replays compressed frames; an older server that only speaks
 * v1.json still works (the plain subprotocol is offered second); compression: false asks for none;
 * a corrupt compressed frame is a bad frame, not a crash.
 */
import { deflateRawSync } from 'node:zlib';
import { WebSocket, WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { makeAlert } from '../../loadtest/alerts.ts';
import { metric, range, until } from '../../engine/testing/harness.ts';
import { Publisher, Recorder, SDK_WAIT_MS, TestEngine } from '../testing/engine.ts';
import { Client } from './client.ts';
import { canInflate, inflateRaw } from './inflate.ts';
import { msgpackCodec } from './msgpack.ts';
import { MemoryPositionStore } from './stores.ts';
import type { ClientOptions } from './types.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function client(url: string, opts: Partial<ClientOptions> = {}): Client {
  const c = new Client({ url, WebSocket: WebSocket as never, minReconnectDelay: 100, maxReconnectDelay: 500, ...opts });
  cleanup.push(() => c.disconnect());
  return c;
}

/** A v1 server of our own on 127.0.0.1 (closed after the test): it picks a subprotocol and answers each subscribe. Returns its port. */
async function fakeServer(handleProtocols: (offered: Set<string>) => string | false, onSubscribe: (ws: WebSocket, area: string) => void): Promise<number> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols });
  cleanup.push(() => new Promise((r) => wss.close(() => r())));
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as { type: string; area: string };
      if (f.type === 'subscribe') onSubscribe(ws, f.area);
    });
  });
  return (wss.address() as { port: number }).port;
}

/** Message i: a realistic ~3 KB alert (compressed) for odd i, a tiny one (sent plain) for even i. */
const body = (i: number): unknown => (i % 2 === 1 ? (JSON.parse(makeAlert(1, false, i, 3000).toString()) as unknown) : { i });

describe('compression in the SDK', () => {
  it('this runtime inflates raw DEFLATE with DecompressionStream', async () => {
    expect(canInflate()).toBe(true);
    const text = makeAlert(1, false, 3, 4096);
    expect(Buffer.from(await inflateRaw(deflateRawSync(text))).equals(text)).toBe(true);
  });

  it.each([
    ['json', undefined, 'v1.json+deflate', 'ws-json-deflate'],
    ['msgpack', msgpackCodec, 'v1.msgpack+deflate', 'ws-msgpack-deflate'],
  ] as const)('%s: offered by default, chosen, compressed and plain frames in order; resume after a kill -9 replays compressed', async (_name, codec, subprotocol, encoder) => {
    const e = await TestEngine.start();
    cleanup.push(() => e.close());
    const pub = new Publisher(() => e);
    const rec = new Recorder();
    const chosen: string[] = [];
    const store = new MemoryPositionStore();
    const c = client(e.wsUrl, { store, ...(codec !== undefined && { codec }) });
    c.on('connected', (x) => chosen.push(x.subprotocol));
    c.subscribe('z:a', rec.handler);
    c.connect();
    await c.getSubscription('z:a')!.ready();
    for (let i = 1; i <= 30; i++) await pub.publish('z:a', body(i));
    await until('30 messages', () => rec.offsets('z:a').length >= 30, SDK_WAIT_MS);
    expect(rec.offsets('z:a')).toEqual(range(1, 30));
    expect(rec.got.get('z:a')!.map((m) => m.data)).toEqual(range(1, 30).map(body));
    expect(await metric(e.base, 'abe_compression_frames_total', { encoder, result: 'compressed' })).toBe(15);
    expect(c.stats().inflated).toBe(15);
    // Away while 10 more are published, and the engine restarts (kill -9): an empty ring, so the
    // resume replays them from the log, and they still come compressed (5 of them big enough).
    await c.disconnect();
    for (let i = 31; i <= 40; i++) await pub.publish('z:a', body(i));
    await e.stop('SIGKILL');
    await e.restart();
    c.connect();
    await until('40 messages', () => rec.offsets('z:a').length >= 40, SDK_WAIT_MS);
    expect(rec.offsets('z:a')).toEqual(range(1, 40));
    expect(rec.got.get('z:a')!.map((m) => m.data)).toEqual(range(1, 40).map(body));
    expect(c.stats().inflated).toBe(20);
    expect(chosen.every((p) => p === subprotocol) && chosen.length >= 2).toBe(true);
    expect(c.stats().duplicatesDropped).toBe(0);
  }, 60_000);

  it('compression: false offers the plain subprotocol only', async () => {
    const e = await TestEngine.start();
    cleanup.push(() => e.close());
    const chosen: string[] = [];
    const c = client(e.wsUrl, { compression: false });
    c.on('connected', (x) => chosen.push(x.subprotocol));
    c.connect();
    await until('connected', () => chosen.length > 0, SDK_WAIT_MS);
    expect(chosen).toEqual(['v1.json']);
  });

  it('an older server that speaks v1.json only: the SDK reads its plain frames; a corrupt compressed frame is a bad frame', async () => {
    const offered: string[] = [];
    const oldPort = await fakeServer(
      (protocols) => {
        offered.push([...protocols].join(', '));
        return protocols.has('v1.json') ? 'v1.json' : false;
      },
      (ws, area) => {
        ws.send(JSON.stringify({ type: 'subscribed', area, epoch: 'old', offset: 0, recovered: false }));
        ws.send(JSON.stringify({ type: 'message', area, offset: 1, time: 1, data: { old: true } }));
      },
    );
    const rec = new Recorder();
    const c = client(`ws://127.0.0.1:${oldPort}/v1/ws`);
    c.subscribe('o:a', rec.handler);
    c.connect();
    await until('the old server message', () => rec.offsets('o:a').length === 1, SDK_WAIT_MS);
    expect(offered).toEqual(['v1.json+deflate, v1.json']);
    expect(rec.got.get('o:a')![0].data).toEqual({ old: true });

    // A server that chose +deflate and sends a corrupt stream after the marker: reported, the client carries on.
    const badPort = await fakeServer(
      () => 'v1.json+deflate',
      (ws, area) => {
        ws.send(Buffer.from(JSON.stringify({ type: 'subscribed', area, epoch: 'z', offset: 0, recovered: false })), { binary: true });
        ws.send(Buffer.from([0xc1, 0xff, 0xff, 0xff]), { binary: true });
        const good = deflateRawSync(JSON.stringify({ type: 'message', area, offset: 1, time: 1, data: { ok: 1 } }));
        ws.send(Buffer.concat([Buffer.from([0xc1]), good]), { binary: true });
      },
    );
    const errors: string[] = [];
    const rec2 = new Recorder();
    const c2 = client(`ws://127.0.0.1:${badPort}/v1/ws`);
    c2.on('error', (x) => errors.push(x.type));
    c2.subscribe('b:a', rec2.handler);
    c2.connect();
    await until('the good message after the corrupt one', () => rec2.offsets('b:a').length === 1, SDK_WAIT_MS);
    expect(rec2.got.get('b:a')![0].data).toEqual({ ok: 1 });
    expect(errors).toContain('transport');
  });
});
