/**
 * The swarm's hand-rolled WebSocket codec and message reader, checked against RFC 6455 framing
 * and against the engine's own message encoders (so a change of the frame shape fails here, not
 * silently in a load test).
 */
import { describe, expect, it } from 'vitest';
import { PayloadView } from '../engine/areas/encoding.ts';
import type { LogRecord } from '../engine/log/types.ts';
import { wsJsonEncoder, wsMsgpackEncoder } from '../engine/transports/ws/message-encoders.ts';
import { makePayload, MESSAGE, NOT_MESSAGE, parseJsonMessage, parseMsgpackMessage, readMsgpackNumber, type ParsedMessage } from './message-parse.ts';
import { checkUpgrade, encodeClientFrame, expectedAccept, frameLength, OP_BINARY, OP_TEXT, parseUpgradeAnswer, scanFrames, WsProtocolError } from './ws-codec.ts';

function serverFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff]) : Buffer.alloc(10);
  if (n >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    head.writeUInt32BE(n >>> 0, 6);
  }
  return Buffer.concat([head, payload]);
}

function unmask(frame: Buffer): { opcode: number; payload: Buffer } {
  expect(frame[0] & 0x80).toBe(0x80);
  expect(frame[1] & 0x80).toBe(0x80);
  let len = frame[1] & 0x7f;
  let p = 2;
  if (len === 126) {
    len = frame.readUInt16BE(2);
    p = 4;
  } else if (len === 127) {
    len = frame.readUInt32BE(2) * 2 ** 32 + frame.readUInt32BE(6);
    p = 10;
  }
  const mask = frame.subarray(p, p + 4);
  const payload = Buffer.from(frame.subarray(p + 4, p + 4 + len));
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
  expect(frame.length).toBe(p + 4 + len);
  return { opcode: frame[0] & 0x0f, payload };
}

describe('ws-codec', () => {
  it('masks client frames of every length class', () => {
    for (const n of [0, 1, 125, 126, 1000, 65535, 65536, 70000]) {
      const payload = Buffer.alloc(n, 0x61 + (n % 26));
      const { opcode, payload: back } = unmask(encodeClientFrame(OP_TEXT, payload));
      expect(opcode).toBe(OP_TEXT);
      expect(back.equals(payload)).toBe(true);
    }
  });

  it('scans 7-, 16- and 64-bit server frames, wherever the reads split them', () => {
    const payloads = [Buffer.from('a'), Buffer.alloc(200, 1), Buffer.alloc(70_000, 2), Buffer.alloc(0)];
    const stream = Buffer.concat(payloads.map((p, i) => serverFrame(i % 2 === 0 ? OP_TEXT : OP_BINARY, p)));
    for (const cut of [1, 2, 3, 5, 9, 11, 150, 204, 70_000, stream.length - 1]) {
      const got: number[] = [];
      const sink = (_: null, fin: boolean, _op: number, _b: Buffer, s: number, e: number): void => {
        expect(fin).toBe(true);
        got.push(e - s);
      };
      // First read up to `cut`; the caller keeps the rest and retries with more bytes (as the worker does).
      const used = scanFrames(null, stream, 0, cut, sink, 1 << 20);
      const need = frameLength(stream, used, cut);
      if (need !== 0) expect(need).toBeGreaterThan(cut - used);
      const used2 = scanFrames(null, stream, used, stream.length, sink, 1 << 20);
      expect(used2).toBe(stream.length);
      expect(got).toEqual(payloads.map((p) => p.length));
    }
  });

  it('refuses masked server frames and frames over the limit', () => {
    const masked = Buffer.from([0x81, 0x81, 1, 2, 3, 4, 5]);
    expect(() => scanFrames(null, masked, 0, masked.length, () => undefined, 100)).toThrow(WsProtocolError);
    const big = serverFrame(OP_TEXT, Buffer.alloc(300));
    expect(() => scanFrames(null, big, 0, big.length, () => undefined, 100)).toThrow(/over the 100-byte limit/);
  });

  it('checks the upgrade answer', () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    expect(expectedAccept(key)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo='); // RFC 6455 section 1.3
    const ok = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: v1.json\r\n\r\n\x81\x00`, 'latin1');
    const a = parseUpgradeAnswer(ok);
    expect(a?.headLength).toBe(ok.length - 2);
    expect(checkUpgrade(a!, key, 'v1.json')).toBeUndefined();
    expect(checkUpgrade(a!, key, 'v1.msgpack')).toMatch(/subprotocol/);
    expect(parseUpgradeAnswer(ok.subarray(0, 20))).toBeUndefined();
    const refused = parseUpgradeAnswer(Buffer.from('HTTP/1.1 401 Unauthorized\r\nContent-Length: 10\r\n\r\n{"code":1}'))!;
    expect(checkUpgrade(refused, key)).toMatch(/^upgrade refused: HTTP\/1.1 401 Unauthorized: \{"code":1\}/);
  });
});

describe('message-parse, against the engine encoders', () => {
  const record = (offset: number, payload: Buffer): LogRecord => ({ offset, time: 1_712_345_678_901, expiresAt: 0, contentType: 'json', payload });

  for (const size of [64, 256, 10_240]) {
    it(`reads offset, time, sentAtUs and warm from ${size}-byte payloads`, () => {
      const sentAtUs = 1_712_345_678_901_234;
      const body = makePayload(sentAtUs, true, 42, size);
      expect(body.length).toBe(size);
      expect(JSON.parse(body.toString())).toMatchObject({ sentAtUs, warm: 1, seq: 42 });
      for (const offset of [1, 127, 128, 65_536, 4_294_967_296]) {
        const r = record(offset, body);
        const out: ParsedMessage = { offset: 0, time: 0, sentAtUs: 0, warm: 0 };
        const j = Buffer.from(wsJsonEncoder.encode('tenant:area-1', r, new PayloadView(r)));
        expect(parseJsonMessage(j, 0, j.length, out)).toBe(MESSAGE);
        expect(out).toEqual({ offset, time: r.time, sentAtUs, warm: 1 });
        const m = Buffer.from(wsMsgpackEncoder.encode('tenant:area-1', r, new PayloadView(r)));
        const out2: ParsedMessage = { offset: 0, time: 0, sentAtUs: 0, warm: 0 };
        expect(parseMsgpackMessage(m, 0, m.length, out2)).toBe(MESSAGE);
        expect(out2).toEqual({ offset, time: r.time, sentAtUs, warm: 1 });
      }
    });
  }

  it('tells control frames from messages', () => {
    const out: ParsedMessage = { offset: 0, time: 0, sentAtUs: 0, warm: 0 };
    const sub = Buffer.from('{"type":"subscribed","area":"a","epoch":"e","offset":3,"recovered":true}');
    expect(parseJsonMessage(sub, 0, sub.length, out)).toBe(NOT_MESSAGE);
    expect(parseMsgpackMessage(Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa4, 0x70, 0x6f, 0x6e, 0x67]), 0, 11, out)).toBe(NOT_MESSAGE);
  });

  it('reads every msgpack number family', () => {
    const cases: Array<[number[], number]> = [
      [[0x05], 5],
      [[0xcc, 0xff], 255],
      [[0xcd, 0x01, 0x00], 256],
      [[0xce, 0x00, 0x01, 0x00, 0x00], 65_536],
      [[0xcf, 0, 0, 0, 1, 0, 0, 0, 0], 2 ** 32],
      [[0xd0, 0xff], -1],
      [[0xcb, ...Buffer.from(new Float64Array([1_712_345_678_901_234]).buffer).reverse()], 1_712_345_678_901_234],
    ];
    for (const [bytes, want] of cases) expect(readMsgpackNumber(Buffer.from(bytes), 0, bytes.length)).toBe(want);
    expect(readMsgpackNumber(Buffer.from([0xcd, 0x01]), 0, 2)).toBeNaN();
  });
});
