/**
 * Reads only what the swarm needs from a server message frame, without decoding the payload:
 * the offset, the engine's accept time, and from the publisher's payload `sentAtUs` and `warm`.
 *
 *   JSON     {"type":"message","area":"A","offset":N,"time":MS,"data":{"sentAtUs":US,"warm":0|1,...}}
 *   msgpack  the same map (message-encoders.ts), data re-packed from the JSON payload
 *
 * Anything that is not a message frame (subscribed, error, pong...) is reported as CONTROL and
 * decoded fully by the caller: those are rare.
 */

export const NOT_MESSAGE = 0;
export const MESSAGE = 1;

export interface ParsedMessage {
  offset: number;
  /** Engine accept time, ms since the epoch (NaN if absent). */
  time: number;
  /** Publisher send time, µs since the epoch (NaN if the payload has none). */
  sentAtUs: number;
  /** 1 = warm-up message (not in the latency stats). */
  warm: number;
}

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

// ---- JSON ----
const J_PREFIX = ascii('{"type":"message"');
const J_OFFSET = ascii('"offset":');
const J_TIME = ascii('"time":');
const J_DATA = ascii('"data":');
const J_SENT = ascii('"sentAtUs":');
const J_WARM = ascii('"warm":');

function startsWith(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}

/**
 * Position just after `key` in buf[from, end), or -1. A plain byte loop bounded by `end`, not
 * Buffer#indexOf: the keys sit a few bytes after `from`, and indexOf's native call (argument
 * checks, search set-up, no bound at `end`) cost the vehicle workers a quarter of their CPU at
 * 19K vehicles (cpu-prof: indexOfBuffer 25% self), i.e. the load generator measured itself.
 */
function after(buf: Buffer, key: Buffer, from: number, end: number): number {
  const k0 = key[0];
  const kl = key.length;
  const last = end - kl;
  outer: for (let i = from; i <= last; i++) {
    if (buf[i] !== k0) continue;
    for (let j = 1; j < kl; j++) if (buf[i + j] !== key[j]) continue outer;
    return i + kl;
  }
  return -1;
}

/** Where the last readDecimal stopped: the next key is searched from there, not over the digits. */
let decimalEnd = 0;

/** Non-negative decimal integer at buf[pos]; NaN if there is none. Sets decimalEnd. */
function readDecimal(buf: Buffer, pos: number, end: number): number {
  let n = 0;
  let i = pos;
  for (; i < end; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  decimalEnd = i;
  return i === pos ? NaN : n;
}

export function parseJsonMessage(buf: Buffer, start: number, end: number, out: ParsedMessage): number {
  if (!startsWith(buf, start, end, J_PREFIX)) return NOT_MESSAGE;
  let p = after(buf, J_OFFSET, start + J_PREFIX.length, end);
  if (p < 0) return NOT_MESSAGE;
  out.offset = readDecimal(buf, p, end);
  if (Number.isNaN(out.offset)) return NOT_MESSAGE;
  p = decimalEnd;
  const t = after(buf, J_TIME, p, end);
  if (t < 0) out.time = NaN;
  else {
    out.time = readDecimal(buf, t, end);
    p = decimalEnd;
  }
  out.sentAtUs = NaN;
  out.warm = 0;
  p = after(buf, J_DATA, p, end);
  if (p < 0) return MESSAGE;
  const s = after(buf, J_SENT, p, end);
  if (s < 0) return MESSAGE;
  out.sentAtUs = readDecimal(buf, s, end);
  const w = after(buf, J_WARM, decimalEnd, end);
  if (w >= 0) out.warm = buf[w] === 49 ? 1 : 0;
  return MESSAGE;
}

const J_SEQ = ascii('"seq":');

/**
 * The publisher's stamp read straight from a payload (an MQTT PUBLISH carries the payload bare):
 * sets sentAtUs and warm in `out`; returns `seq` (NaN when the payload has none).
 */
export function parsePayloadStamp(buf: Buffer, start: number, end: number, out: ParsedMessage): number {
  out.sentAtUs = NaN;
  out.warm = 0;
  const s = after(buf, J_SENT, start, Math.min(end, start + 64));
  if (s < 0) return NaN;
  out.sentAtUs = readDecimal(buf, s, end);
  const w = after(buf, J_WARM, s, Math.min(end, s + 40));
  if (w >= 0) out.warm = buf[w] === 49 ? 1 : 0;
  const q = after(buf, J_SEQ, w >= 0 ? w : s, Math.min(end, s + 80));
  return q < 0 ? NaN : readDecimal(buf, q, end);
}

// ---- msgpack ----
const M_TYPE_MESSAGE = Buffer.concat([ascii('\xa4type'), ascii('\xa7message')]);
const M_OFFSET = ascii('\xa6offset');
const M_TIME = ascii('\xa4time');
const M_DATA = ascii('\xa4data');
const M_SENT = ascii('\xa8sentAtUs');
const M_WARM = ascii('\xa4warm');

/** A msgpack number (any int or float family) at buf[pos]; NaN if it is not a number. */
export function readMsgpackNumber(buf: Buffer, pos: number, end: number): number {
  if (pos >= end) return NaN;
  const b = buf[pos];
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 256;
  const need = (n: number): boolean => pos + 1 + n <= end;
  switch (b) {
    case 0xcc:
      return need(1) ? buf[pos + 1] : NaN;
    case 0xcd:
      return need(2) ? buf.readUInt16BE(pos + 1) : NaN;
    case 0xce:
      return need(4) ? buf.readUInt32BE(pos + 1) : NaN;
    case 0xcf:
      return need(8) ? buf.readUInt32BE(pos + 1) * 2 ** 32 + buf.readUInt32BE(pos + 5) : NaN;
    case 0xd0:
      return need(1) ? buf.readInt8(pos + 1) : NaN;
    case 0xd1:
      return need(2) ? buf.readInt16BE(pos + 1) : NaN;
    case 0xd2:
      return need(4) ? buf.readInt32BE(pos + 1) : NaN;
    case 0xd3:
      return need(8) ? buf.readInt32BE(pos + 1) * 2 ** 32 + buf.readUInt32BE(pos + 5) : NaN;
    case 0xca:
      return need(4) ? buf.readFloatBE(pos + 1) : NaN;
    case 0xcb:
      return need(8) ? buf.readDoubleBE(pos + 1) : NaN;
    default:
      return NaN;
  }
}

export function parseMsgpackMessage(buf: Buffer, start: number, end: number, out: ParsedMessage): number {
  if (end - start < 1) return NOT_MESSAGE;
  const b = buf[start];
  // fixmap, map16 or map32 header, then "type":"message" first (message-encoders.ts key order).
  const keysAt = (b & 0xf0) === 0x80 ? start + 1 : b === 0xde ? start + 3 : b === 0xdf ? start + 5 : -1;
  if (keysAt < 0 || !startsWith(buf, keysAt, end, M_TYPE_MESSAGE)) return NOT_MESSAGE;
  let p = after(buf, M_OFFSET, keysAt + M_TYPE_MESSAGE.length, end);
  if (p < 0) return NOT_MESSAGE;
  out.offset = readMsgpackNumber(buf, p, end);
  if (Number.isNaN(out.offset)) return NOT_MESSAGE;
  const t = after(buf, M_TIME, p, end);
  out.time = t < 0 ? NaN : readMsgpackNumber(buf, t, end);
  out.sentAtUs = NaN;
  out.warm = 0;
  p = after(buf, M_DATA, t < 0 ? p : t, end);
  if (p < 0) return MESSAGE;
  const s = after(buf, M_SENT, p, end);
  if (s < 0) return MESSAGE;
  out.sentAtUs = readMsgpackNumber(buf, s, end);
  const w = after(buf, M_WARM, s, end);
  if (w >= 0) out.warm = readMsgpackNumber(buf, w, end) === 1 ? 1 : 0;
  return MESSAGE;
}

// ---- the publisher's side of the contract ----

/** µs since the Unix epoch, comparable across processes on one machine. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

let padCache = '';

/**
 * The publisher's payload: exactly `size` bytes of JSON (when size allows), `sentAtUs` first so
 * the vehicles find it at once. `{"sentAtUs":1712345678901234,"warm":0,"seq":7,"pad":"xxx..."}`
 */
export function makePayload(sentAtUs: number, warm: boolean, seq: number, size: number): Buffer {
  const head = `{"sentAtUs":${sentAtUs},"warm":${warm ? 1 : 0},"seq":${seq},"pad":"`;
  const padLength = Math.max(0, size - head.length - 2);
  if (padCache.length < padLength) padCache = 'x'.repeat(Math.max(padLength, 2 * padCache.length));
  return Buffer.from(`${head}${padCache.slice(0, padLength)}"}`, 'latin1');
}
