/**
 * The connector's per-read ack coalescing and the cheap per-connection pieces (prebuilt ack
 * frames, the in-place upgrade check, raw sockets), without the rest of the harness: reads are
 * fed straight into Connector.read() with the engine's own message encoders.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { unpack } from 'msgpackr';
import { PayloadView } from '../engine/areas/encoding.ts';
import type { LogRecord } from '../engine/log/types.ts';
import { wsJsonEncoder, wsMsgpackEncoder } from '../engine/transports/ws/message-encoders.ts';
import { Connector, READ_BUF } from './connector.ts';
import { makePayload } from './message-parse.ts';
import { openSocket, SOCKET_KIND, type LoadSocket } from './raw-socket.ts';
import { SUBSCRIBED, Vehicle } from './vehicles.ts';
import { expectedAccept, NumberFrameEncoder, OP_BINARY, OP_TEXT, verifyUpgrade } from './ws-codec.ts';
import { WsVehicleCodec } from './ws-vehicle.ts';

const AREA = 'loadtest:t-0';

function serverFrame(opcode: number, payload: Uint8Array): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff]);
  return Buffer.concat([head, payload]);
}

function unmask(frame: Buffer): { opcode: number; payload: Buffer } {
  let len = frame[1] & 0x7f;
  let p = 2;
  if (len === 126) {
    len = frame.readUInt16BE(2);
    p = 4;
  }
  expect(frame[1] & 0x80).toBe(0x80);
  const mask = frame.subarray(p, p + 4);
  const payload = Buffer.from(frame.subarray(p + 4, p + 4 + len));
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
  expect(frame.length).toBe(p + 4 + len);
  return { opcode: frame[0] & 0x0f, payload };
}

class FakeSocket implements LoadSocket {
  readonly writes: Buffer[] = [];
  destroyed = false;
  write(buf: Buffer): void {
    this.writes.push(Buffer.from(buf));
  }
  destroy(): void {
    this.destroyed = true;
  }
  pause(): void {}
  resume(): void {}
  isPaused(): boolean {
    return false;
  }
}

function setup(transport: 'ws-json' | 'ws-msgpack', acks = true): { conn: Connector; v: Vehicle; sock: FakeSocket; feed: (...chunks: Buffer[]) => void; acked: () => number[] } {
  const codec = new WsVehicleCodec(transport);
  const v = new Vehicle(0, 0, '127.0.0.1', 0, false);
  const conn = new Connector([v], [codec], {
    port: 1,
    areaNames: [AREA],
    token: undefined,
    acks,
    maxFrameBytes: 1 << 20,
    connectConcurrency: 1,
    attemptTimeoutMs: 1000,
    connectRetries: 0,
    reconnectRetries: 0,
    reconnectOnClose: false,
  }, () => {});
  const sock = new FakeSocket();
  v.sock = sock;
  v.state = SUBSCRIBED;
  conn.tally.onSubscribed(v, 10, 'e1', false, 1);
  /** One socket read per chunk. */
  const feed = (...chunks: Buffer[]): void => {
    for (const c of chunks) {
      c.copy(READ_BUF, 0);
      conn.read(v, sock, c.length);
    }
  };
  const acked = (): number[] =>
    sock.writes.map((w) => {
      const { opcode, payload } = unmask(w);
      expect(opcode).toBe(transport === 'ws-json' ? OP_TEXT : OP_BINARY);
      const f = (transport === 'ws-json' ? JSON.parse(payload.toString()) : unpack(payload)) as { type: string; area: string; offset: number };
      expect(f.type).toBe('ack');
      expect(f.area).toBe(AREA);
      expect(Object.keys(f)).toEqual(['type', 'area', 'offset']);
      return f.offset;
    });
  return { conn, v, sock, feed, acked };
}

function messages(transport: 'ws-json' | 'ws-msgpack', ...offsets: number[]): Buffer {
  const enc = transport === 'ws-json' ? wsJsonEncoder : wsMsgpackEncoder;
  return Buffer.concat(
    offsets.map((offset) => {
      const r: LogRecord = { offset, time: Date.now(), expiresAt: 0, contentType: 'json', payload: makePayload(Date.now() * 1000, false, offset, 64) };
      return serverFrame(transport === 'ws-json' ? OP_TEXT : OP_BINARY, enc.encode(AREA, r, new PayloadView(r)));
    }),
  );
}

describe('acks: one cumulative ack per socket read', () => {
  for (const transport of ['ws-json', 'ws-msgpack'] as const) {
    it(`${transport}: several messages in one read get ONE ack, for the last contiguous offset`, () => {
      const { conn, feed, acked } = setup(transport);
      feed(messages(transport, 11, 12, 13));
      expect(acked()).toEqual([13]);
      expect(conn.tally.acksSent).toBe(1);
      expect(conn.tally.unique).toBe(3);
      // a frame split across reads: nothing until it is complete, then one ack with the next ones
      const two = messages(transport, 14, 15);
      feed(two.subarray(0, 20), two.subarray(20));
      expect(acked()).toEqual([13, 15]);
      // one read, one message: one ack
      feed(messages(transport, 16));
      expect(acked()).toEqual([13, 15, 16]);
      expect(conn.tally.acksSent).toBe(3);
    });

    it(`${transport}: after a hole the ack stops below it; the late offset moves it up; duplicates ack nothing`, () => {
      const { conn, feed, acked } = setup(transport);
      feed(messages(transport, 11, 13, 14)); // 12 missing
      expect(acked()).toEqual([11]);
      feed(messages(transport, 15));
      expect(acked()).toEqual([11]); // still 11: 12 is missing
      feed(messages(transport, 12)); // out of order: now everything up to 15
      expect(acked()).toEqual([11, 15]);
      feed(messages(transport, 14, 15)); // duplicates only
      expect(acked()).toEqual([11, 15]);
      expect([conn.tally.acksSent, conn.tally.outOfOrder, conn.tally.duplicated]).toEqual([2, 1, 2]);
    });
  }

  it('acks off: nothing is written', () => {
    const { conn, feed, sock } = setup('ws-json', false);
    feed(messages('ws-json', 11, 12));
    expect(sock.writes).toEqual([]);
    expect(conn.tally.acksSent).toBe(0);
  });
});

describe('prebuilt frames and the in-place upgrade check', () => {
  it('ack frames: decimal and msgpack numbers of every size, masked', () => {
    const prefixJ = Buffer.from(`{"type":"ack","area":"a","offset":`);
    const j = new NumberFrameEncoder(OP_TEXT, 'decimal', prefixJ, Buffer.from('}'));
    const m = new NumberFrameEncoder(OP_BINARY, 'msgpack', Buffer.from([0x83, 0xa4, ...Buffer.from('type'), 0xa3, ...Buffer.from('ack'), 0xa4, ...Buffer.from('area'), 0xa1, 0x61, 0xa6, ...Buffer.from('offset')]), Buffer.alloc(0));
    for (const n of [0, 1, 9, 10, 99, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER]) {
      expect(JSON.parse(unmask(j.encode(n)).payload.toString())).toEqual({ type: 'ack', area: 'a', offset: n });
      expect(unpack(unmask(m.encode(n)).payload)).toEqual({ type: 'ack', area: 'a', offset: n });
    }
    const long = new NumberFrameEncoder(OP_TEXT, 'decimal', Buffer.alloc(200, 0x20), Buffer.from('1')); // 16-bit length
    expect(unmask(long.encode(5)).payload.toString()).toBe(' '.repeat(200) + '51');
  });

  it('verifyUpgrade: status, Sec-WebSocket-Accept and subprotocol checked in place', () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const accept = expectedAccept(key);
    const head = (status: string, acc: string, proto: string): Buffer =>
      Buffer.from(`xx${status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nsec-websocket-accept:  ${acc} \r\nSec-WebSocket-Protocol: ${proto}\r\n\r\n\x81\x00`, 'latin1');
    const ok = head('HTTP/1.1 101 Switching Protocols', accept, 'v1.json');
    expect(verifyUpgrade(ok, 2, ok.length, accept, 'v1.json')).toBe(ok.length - 4);
    expect(verifyUpgrade(ok, 2, ok.length - 5, accept, 'v1.json')).toBe(-1); // head incomplete
    expect(verifyUpgrade(head('HTTP/1.1 401 Unauthorized', accept, 'v1.json'), 2, ok.length, accept, 'v1.json')).toBe(0);
    const bad = head('HTTP/1.1 101 Switching Protocols', accept.replace(/^./, 'A'), 'v1.json');
    expect(verifyUpgrade(bad, 2, bad.length, accept, 'v1.json')).toBe(0);
    expect(verifyUpgrade(ok, 2, ok.length, accept, 'v1.msgpack')).toBe(0);
  });
});

describe('raw sockets', () => {
  let server: net.Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it(`connect, write, read into the shared buffer, pause, close (${SOCKET_KIND})`, async () => {
    server = net.createServer((c) => c.on('data', (d) => c.write(Buffer.concat([Buffer.from('echo:'), d]))));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const buf = Buffer.alloc(1024);
    const events: string[] = [];
    const done = new Promise<void>((resolve) => {
      openSocket('127.0.0.1', port, buf, 'me', {
        connected: (o, s) => {
          events.push(`connected ${o}`);
          s.write(Buffer.from('hi'));
        },
        read: (o, s, n) => {
          events.push(`read ${buf.toString('latin1', 0, n)}`);
          s.pause();
          expect(s.isPaused()).toBe(true);
          s.destroy();
          s.write(Buffer.from('ignored after destroy'));
        },
        error: (_o, _s, code) => events.push(`error ${code}`),
        closed: (o) => {
          events.push(`closed ${o}`);
          resolve();
        },
      });
    });
    await done;
    expect(events).toEqual(['connected me', 'read echo:hi', 'closed me']);
  });

  it('a refused connect reports the error, then closes', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const events: string[] = [];
    await new Promise<void>((resolve) => {
      openSocket('127.0.0.1', port, Buffer.alloc(16), null, {
        connected: () => events.push('connected'),
        read: () => events.push('read'),
        error: (_o, _s, code) => events.push(code),
        closed: () => resolve(),
      });
    });
    expect(events).toEqual(['ECONNREFUSED']);
  });
});
