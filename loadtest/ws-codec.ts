/**
 * A minimal RFC 6455 client codec for the vehicle swarm: just enough WebSocket to be cheap.
 *   - the upgrade request and the check of the server's 101 answer (Sec-WebSocket-Accept);
 *   - a frame scanner over server frames (unmasked; 7/16/64-bit lengths), zero-copy: it hands
 *     out (opcode, fin, start, end) into the caller's buffer and says how far it got;
 *   - masked client frames (clients MUST mask, RFC 6455 section 5.3).
 * No extensions (no permessage-deflate: we never offer it).
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';

export const OP_CONT = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function newWebSocketKey(): string {
  return randomBytes(16).toString('base64');
}

export function expectedAccept(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export function upgradeRequest(opts: { host: string; path: string; key: string; protocol?: string; headers?: Readonly<Record<string, string>> }): Buffer {
  let req =
    `GET ${opts.path} HTTP/1.1\r\nHost: ${opts.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${opts.key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (opts.protocol !== undefined) req += `Sec-WebSocket-Protocol: ${opts.protocol}\r\n`;
  for (const [k, v] of Object.entries(opts.headers ?? {})) req += `${k}: ${v}\r\n`;
  return Buffer.from(req + '\r\n', 'latin1');
}

export interface UpgradeAnswer {
  readonly status: number;
  /** Bytes of `buf` taken by the HTTP head (frames may follow). */
  readonly headLength: number;
  readonly headers: ReadonlyMap<string, string>;
  /** The status line and, for a refusal, the start of the body (for error reports). */
  readonly summary: string;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** Parses the server's answer to the upgrade; undefined while the head is incomplete. */
export function parseUpgradeAnswer(buf: Buffer): UpgradeAnswer | undefined {
  const end = buf.indexOf(HEAD_END);
  if (end < 0) return undefined;
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const c = lines[i].indexOf(':');
    if (c > 0) headers.set(lines[i].slice(0, c).trim().toLowerCase(), lines[i].slice(c + 1).trim());
  }
  const body = buf.toString('utf8', end + 4, Math.min(buf.length, end + 4 + 200));
  return { status: m ? Number(m[1]) : 0, headLength: end + 4, headers, summary: body === '' ? lines[0] : `${lines[0]}: ${body}` };
}

const STATUS_101 = /^HTTP\/1\.[01] 101[ \r]/;
const ACCEPT_HEADER = /\r\nsec-websocket-accept:[ \t]*([^\r]*?)[ \t]*\r\n/i;
const PROTOCOL_HEADER = /\r\nsec-websocket-protocol:[ \t]*([^\r]*?)[ \t]*\r\n/i;

/**
 * The per-connection check of the server's answer, cheap: `accept` is expectedAccept(key)
 * computed once for the key. Looks at buf[start, end): -1 while the head is incomplete, 0 when it
 * is not a good 101 (call parseUpgradeAnswer + checkUpgrade for the reason), else the head's
 * length (frames may follow it). Same rules as checkUpgrade: status 101, Sec-WebSocket-Accept
 * equal to `accept`, Sec-WebSocket-Protocol equal to `protocol` when one was asked for.
 */
export function verifyUpgrade(buf: Buffer, start: number, end: number, accept: string, protocol?: string | readonly string[]): number {
  const rel = buf.subarray(start, end).indexOf(HEAD_END);
  if (rel < 0) return -1;
  const at = start + rel;
  // Up to and including the first \r\n of the terminator, so every header line ends in \r\n.
  const head = buf.toString('latin1', start, at + 2);
  if (!STATUS_101.test(head)) return 0;
  if (ACCEPT_HEADER.exec(head)?.[1] !== accept) return 0;
  if (protocol !== undefined && !acceptable(PROTOCOL_HEADER.exec(head)?.[1], protocol)) return 0;
  return at + 4 - start;
}

/** Checks a 101 answer; returns an error text, or undefined when the upgrade is good. */
/** The server's chosen subprotocol is the one asked for, or one of those offered. */
function acceptable(chosen: string | undefined, protocol: string | readonly string[]): boolean {
  return chosen !== undefined && (typeof protocol === 'string' ? chosen === protocol : protocol.includes(chosen));
}

export function checkUpgrade(a: UpgradeAnswer, key: string, protocol?: string | readonly string[]): string | undefined {
  if (a.status !== 101) return `upgrade refused: ${a.summary}`;
  if (a.headers.get('sec-websocket-accept') !== expectedAccept(key)) return 'bad Sec-WebSocket-Accept';
  if (protocol !== undefined && !acceptable(a.headers.get('sec-websocket-protocol'), protocol)) {
    return `server chose subprotocol "${a.headers.get('sec-websocket-protocol') ?? ''}", asked for ${typeof protocol === 'string' ? protocol : protocol.join(' or ')}`;
  }
  return undefined;
}

// Mask keys come from a pool of random bytes, refilled when used up (RFC 6455 asks for unpredictable keys).
const maskPool = Buffer.alloc(64 * 1024);
let maskPos = maskPool.length;

const NO_BYTES = Buffer.alloc(0);

/** One masked client frame (FIN set). */
export function encodeClientFrame(opcode: number, payload: Uint8Array): Buffer {
  return maskedFrame(opcode, NO_BYTES, payload, 0, payload.length, NO_BYTES);
}

/**
 * Masked client frames `<prefix><number><suffix>` (an ack, whose offset is the only part that
 * changes), built without JSON, msgpack or intermediate buffers: the fixed bytes are made once,
 * the number is written in place (decimal digits for JSON; for msgpack the bytes msgpackr's pack
 * would give: the shortest uint below 2^32, float64 above)
 * and everything is masked on the way into the frame. `prefix`/`suffix` are unmasked payload.
 */
export class NumberFrameEncoder {
  private readonly prefix: Buffer;
  private readonly suffix: Buffer;
  private readonly num = Buffer.allocUnsafe(24);
  constructor(
    private readonly opcode: number,
    private readonly format: 'decimal' | 'msgpack',
    prefix: Uint8Array,
    suffix: Uint8Array,
  ) {
    this.prefix = Buffer.from(prefix);
    this.suffix = Buffer.from(suffix);
  }

  /** The frame for integer n (0 <= n <= 2^53); a new Buffer (a write may hold on to it). */
  encode(n: number): Buffer {
    const d = this.num;
    if (this.format === 'msgpack') {
      let len: number;
      if (n < 128) {
        d[0] = n;
        len = 1;
      } else if (n < 256) {
        d[0] = 0xcc;
        d[1] = n;
        len = 2;
      } else if (n < 65536) {
        d[0] = 0xcd;
        d.writeUInt16BE(n, 1);
        len = 3;
      } else if (n < 2 ** 32) {
        d[0] = 0xce;
        d.writeUInt32BE(n, 1);
        len = 5;
      } else {
        // As msgpackr packs it (a uint64 would decode as a BigInt there): float64.
        d[0] = 0xcb;
        d.writeDoubleBE(n, 1);
        len = 9;
      }
      return maskedFrame(this.opcode, this.prefix, d, 0, len, this.suffix);
    }
    let nd = 0;
    do {
      const q = Math.floor(n / 10);
      d[d.length - 1 - nd++] = 0x30 + (n - q * 10);
      n = q;
    } while (n > 0);
    return maskedFrame(this.opcode, this.prefix, d, d.length - nd, d.length, this.suffix);
  }
}

/** A masked frame whose payload is a + b[bStart, bEnd) + c. */
export function maskedFrame(opcode: number, a: Uint8Array, b: Uint8Array, bStart: number, bEnd: number, c: Uint8Array): Buffer {
  const n = a.length + (bEnd - bStart) + c.length;
  const h = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(h + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  if (maskPos + 4 > maskPool.length) {
    randomFillSync(maskPool);
    maskPos = 0;
  }
  const m = h;
  out[m] = maskPool[maskPos];
  out[m + 1] = maskPool[maskPos + 1];
  out[m + 2] = maskPool[maskPos + 2];
  out[m + 3] = maskPool[maskPos + 3];
  maskPos += 4;
  let p = h + 4;
  let k = 0;
  for (let i = 0; i < a.length; i++) out[p++] = a[i] ^ out[m + (k++ & 3)];
  for (let i = bStart; i < bEnd; i++) out[p++] = b[i] ^ out[m + (k++ & 3)];
  for (let i = 0; i < c.length; i++) out[p++] = c[i] ^ out[m + (k++ & 3)];
  return out;
}

/** Receives each complete server frame found by scanFrames; payload is buf[start, end). */
export type FrameSink<C> = (ctx: C, fin: boolean, opcode: number, buf: Buffer, start: number, end: number) => void;

/** Thrown for frames a server must never send (masked, reserved bits, oversize). */
export class WsProtocolError extends Error {}

/**
 * Scans whole server frames in buf[start, end) and hands each to `sink`. Returns the index of the
 * first byte of the first incomplete frame (== end when everything was consumed).
 */
export function scanFrames<C>(ctx: C, buf: Buffer, start: number, end: number, sink: FrameSink<C>, maxFrame: number): number {
  let p = start;
  while (end - p >= 2) {
    const b0 = buf[p];
    const b1 = buf[p + 1];
    if ((b0 & 0x70) !== 0) throw new WsProtocolError('reserved bits set (no extension was negotiated)');
    if ((b1 & 0x80) !== 0) throw new WsProtocolError('server frame is masked');
    let len = b1 & 0x7f;
    let h = 2;
    if (len === 126) {
      if (end - p < 4) break;
      len = buf.readUInt16BE(p + 2);
      h = 4;
    } else if (len === 127) {
      if (end - p < 10) break;
      len = buf.readUInt32BE(p + 2) * 2 ** 32 + buf.readUInt32BE(p + 6);
      h = 10;
    }
    if (len > maxFrame) throw new WsProtocolError(`frame of ${len} bytes is over the ${maxFrame}-byte limit`);
    if (end - p < h + len) break;
    sink(ctx, (b0 & 0x80) !== 0, b0 & 0x0f, buf, p + h, p + h + len);
    p += h + len;
  }
  return p;
}

/**
 * How many bytes the frame starting at buf[start] needs in total, or 0 if its header is not
 * complete yet (lets the caller size a reassembly buffer once, instead of growing it).
 */
export function frameLength(buf: Buffer, start: number, end: number): number {
  if (end - start < 2) return 0;
  const len = buf[start + 1] & 0x7f;
  if (len < 126) return 2 + len;
  if (len === 126) return end - start < 4 ? 0 : 4 + buf.readUInt16BE(start + 2);
  return end - start < 10 ? 0 : 10 + buf.readUInt32BE(start + 2) * 2 ** 32 + buf.readUInt32BE(start + 6);
}
