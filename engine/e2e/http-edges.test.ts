/**
 * The HTTP layer's edges [issue 13 item 6], over raw node:net sockets (no client library sends
 * these): HEAD answers like GET without a body; a WebSocket handshake in a version other than 13
 * gets 426 with `Sec-WebSocket-Version: 13` (RFC 6455 §4.2.2) on /v1/ws and /mqtt; a Content-Length
 * uWS cannot frame gets 400/413 before uWS closes the socket. Last, what uWS 20.30's native parser
 * still does on its own (no JS runs for those requests), pinned so a change of build is noticed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORK_BUFFER_BYTES } from '../transports/shared/http-reply.ts';
import { captureLogs, metric, startTestEngine, type TestEngine } from '../testing/harness.ts';
import { parseResponse, rawExchange, responsesComplete, wsHandshake } from '../testing/raw-http.ts';

let t: TestEngine;
const { logger, lines: logLines } = captureLogs('debug');

beforeAll(async () => {
  t = await startTestEngine([], { logger });
});
afterAll(async () => {
  await t?.stop();
});

const logged = (msg: string, code: string) => logLines.some((l) => l.msg === msg && l.code === code);

describe('HEAD', () => {
  it('/healthz and /readyz: 200 with the GET headers and no body; the kept-alive socket carries on', async () => {
    const req = 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const x = await rawExchange(t.port, req, { done: responsesComplete([true, true, false]) });
    const healthz = parseResponse(x.bytes, true)!;
    expect(healthz.status).toBe(200);
    expect(healthz.headers.get('content-type')).toBe('application/json');
    expect(healthz.headers.get('content-length')).toBe('15'); // the length GET's {"status":"ok"} has
    const readyz = parseResponse(healthz.rest, true)!;
    expect(readyz.status).toBe(200);
    // Had either HEAD answer carried a body, this would not parse as the GET's answer.
    const get = parseResponse(readyz.rest)!;
    expect(get.status).toBe(200);
    expect(JSON.parse(get.body.toString())).toEqual({ status: 'ok' });
    expect(get.rest.length).toBe(0);
  });

  it('other GET routes answer HEAD; errors (404, an area with no messages) come without their body', async () => {
    for (const [path, status] of [
      ['/metrics', 200],
      ['/dashboard', 200],
      ['/dashboard/data', 200],
      ['/v1/areas/head:none', 404],
      ['/v1/areas/head:none/messages', 404],
      ['/no-such-route', 404],
    ] as const) {
      const x = await rawExchange(t.port, `HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`, { done: responsesComplete([true, false]) });
      const head = parseResponse(x.bytes, true)!;
      expect(head.status, path).toBe(status);
      expect(Number(head.headers.get('content-length')), path).toBeGreaterThan(0);
      expect(parseResponse(head.rest)?.status, `${path}: bytes after the HEAD answer`).toBe(200);
    }
  });
});

describe('WebSocket version (RFC 6455 §4.2.2)', () => {
  it.each([
    ['/v1/ws', '8'],
    ['/v1/ws', undefined],
    ['/mqtt', '8'],
  ])('%s with Sec-WebSocket-Version %s: 426 upgrade_required, Sec-WebSocket-Version: 13', async (path, version) => {
    const before = (await metric(t.base, 'abe_http_errors_total', { code: 'upgrade_required' })) ?? 0;
    const extra: Record<string, string> = path === '/mqtt' ? { 'Sec-WebSocket-Protocol': 'mqtt' } : {};
    const x = await rawExchange(t.port, wsHandshake(path, version, extra), { done: responsesComplete([false]) });
    const r = parseResponse(x.bytes)!;
    expect(r.status).toBe(426);
    expect(x.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
    expect(r.headers.get('sec-websocket-version')).toBe('13');
    expect(r.headers.has('sec-websocket-accept')).toBe(false);
    expect(JSON.parse(r.body.toString())).toMatchObject({ code: 'upgrade_required' });
    expect(await metric(t.base, 'abe_http_errors_total', { code: 'upgrade_required' })).toBe(before + 1);
    expect(logged('websocket upgrade refused', 'upgrade_required')).toBe(true);
  });

  it('version 13 still upgrades (101) on both paths', async () => {
    for (const [path, extra] of [['/v1/ws', {}], ['/mqtt', { 'Sec-WebSocket-Protocol': 'mqtt' }]] as const) {
      const x = await rawExchange(t.port, wsHandshake(path, '13', extra), { done: (b) => b.includes('\r\n\r\n') });
      expect(x.bytes.toString('latin1'), path).toMatch(/^HTTP\/1\.1 101 /);
    }
  });
});

describe('Content-Length uWS cannot frame', () => {
  const publishWith = (contentLength: string) =>
    `POST /v1/areas/edge:cl/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n`;

  it.each([
    ['-1', 400, 'bad_request'],
    ['12abc', 400, 'bad_request'],
    ['1000000000000', 413, 'payload_too_large'], // 10^12
    ['1000000000', 413, 'payload_too_large'], // 10 digits: over uWS 20.30's 9
  ])('publish with Content-Length %s: %i %s, then the socket closes', async (cl, status, code) => {
    const before = (await metric(t.base, 'abe_http_errors_total', { code })) ?? 0;
    const x = await rawExchange(t.port, publishWith(cl));
    const r = parseResponse(x.bytes)!;
    expect(r.status).toBe(status);
    expect(r.headers.get('connection')).toBe('close');
    // Padded past uWS's cork buffer so it leaves before uWS closes (shared/http-reply.ts); still JSON.
    expect(r.body.length).toBeGreaterThan(CORK_BUFFER_BYTES);
    expect(JSON.parse(r.body.toString())).toMatchObject({ code });
    expect(x.closedAfterMs).toBeLessThan(1000);
    expect(await metric(t.base, 'abe_http_errors_total', { code })).toBe(before + 1);
    expect(logged('request refused: unframeable body', code)).toBe(true);
  });

  it('on any route: GET /healthz with Content-Length -5 is 400 too', async () => {
    const x = await rawExchange(t.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n');
    expect(parseResponse(x.bytes)).toMatchObject({ status: 400 });
  });

  it('a valid Content-Length over --max-payload-bytes is still 413 without padding, and a good one publishes', async () => {
    const big = await rawExchange(t.port, publishWith(String(2 * 1024 * 1024)));
    const r = parseResponse(big.bytes)!;
    expect(r.status).toBe(413);
    expect(r.body.length).toBeLessThan(1000);
    const body = '{"a":1}';
    const ok = await rawExchange(t.port, publishWith(String(body.length)) + body, { done: responsesComplete([false]) });
    expect(parseResponse(ok.bytes)).toMatchObject({ status: 201 });
  });
});

/**
 * What uWS 20.30 (uWebSockets ~v20.42, src/HttpParser.h) does before any JS runs; nothing in the
 * engine sees these requests, so nothing in it can answer them (README, "Limits"). Newer uWS builds
 * answer 431/505 themselves: then this block is skipped.
 */
describe('uWS 20.30 native parser (evidence, not engine behaviour)', () => {
  it('1,000 headers: closed at once without an answer; a garbage request line: no answer, closed only by the 10 s idle timeout', async (ctx) => {
    if (!t.engine.uwsBuild.startsWith('uWebSockets.js@20.30.')) ctx.skip();
    const headers = Array.from({ length: 1000 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const [many, garbage] = await Promise.all([
      rawExchange(t.port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${headers}\r\n`),
      rawExchange(t.port, 'GARBAGE\r\n\r\n', { waitMs: 15_000 }),
    ]);
    expect(many.bytes.length).toBe(0);
    expect(many.closedAfterMs).toBeLessThan(1000);
    expect(garbage.bytes.length).toBe(0);
    expect(garbage.closedAfterMs).toBeGreaterThan(8000);
  }, 20_000);
});
