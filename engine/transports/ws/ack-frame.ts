/**
 * The ack fast path [issue 6: an ack storm — every vehicle acking every message — may raise P99 by
 * at most 10%]. Acks are most of what vehicles send, so the usual frame for a connection's only
 * area is recognised byte by byte, with no string, JSON.parse or msgpack decode:
 *
 *   v1.json     {"type":"ack","area":"<area>","offset":<digits>}   (exactly; no spaces)
 *   v1.msgpack  {type:'ack', area, offset} as msgpackr and most encoders write it: a map of 3
 *               (fixmap, or map16 as msgpackr writes it), keys in that order, offset a
 *               non-negative int (fixint, uint8/16/32) or integral float64. Not uint64: msgpackr
 *               decodes it to a BigInt, which the general decoder refuses (bad_frame).
 *
 * Anything else (other key order, whitespace, escapes, another area, a malformed number) answers
 * NOT_AN_ACK and goes through decodeClientFrame, which gives the same result for valid frames and
 * the bad_frame close for invalid ones. So the fast path never accepts what the slow path refuses.
 */

/** Not recognised here: decode the frame the general way. */
export const NOT_AN_ACK = -1;

const JSON_HEAD = Buffer.from('{"type":"ack","area":"');
const JSON_MID = Buffer.from('","offset":');
const QUOTE = 0x22;
const CLOSE_BRACE = 0x7d;
const ZERO = 0x30;
const NINE = 0x39;

/** The offset of a v1.json ack for `area`, or NOT_AN_ACK. */
export function matchJsonAck(b: Uint8Array, area: string): number {
  const n = b.length;
  const head = JSON_HEAD.length;
  const mid = JSON_MID.length;
  const areaEnd = head + area.length;
  // Shortest: head + area + mid + 1 digit + '}'.
  if (n < areaEnd + mid + 2 || n > areaEnd + mid + 17) return NOT_AN_ACK;
  for (let i = 0; i < head; i++) if (b[i] !== JSON_HEAD[i]) return NOT_AN_ACK;
  // Area ids are ASCII ([A-Za-z0-9._:-]), so one byte per char; a '"' or '\' can never match one.
  for (let i = 0; i < area.length; i++) if (b[head + i] !== area.charCodeAt(i)) return NOT_AN_ACK;
  for (let i = 0; i < mid; i++) if (b[areaEnd + i] !== JSON_MID[i]) return NOT_AN_ACK;
  const digits = areaEnd + mid;
  if (b[n - 1] !== CLOSE_BRACE) return NOT_AN_ACK;
  const last = n - 1;
  if (last - digits > 1 && b[digits] === ZERO) return NOT_AN_ACK; // leading zero: not JSON
  let v = 0;
  for (let i = digits; i < last; i++) {
    const c = b[i];
    if (c < ZERO || c > NINE) return NOT_AN_ACK;
    v = v * 10 + (c - ZERO);
  }
  return Number.isSafeInteger(v) ? v : NOT_AN_ACK;
}

const MP_FIXMAP3 = 0x83;
const MP_MAP16 = 0xde;
const MP_TYPE_ACK = Buffer.from([0xa4, 0x74, 0x79, 0x70, 0x65, 0xa3, 0x61, 0x63, 0x6b, 0xa4, 0x61, 0x72, 0x65, 0x61]); // "type" "ack" "area"
const MP_OFFSET = Buffer.from([0xa6, 0x6f, 0x66, 0x66, 0x73, 0x65, 0x74]); // "offset"

/** The offset of a v1.msgpack ack for `area`, or NOT_AN_ACK. */
export function matchMsgpackAck(b: Uint8Array, area: string): number {
  const n = b.length;
  let p: number;
  if (b[0] === MP_FIXMAP3) p = 1;
  else if (b[0] === MP_MAP16 && b[1] === 0 && b[2] === 3) p = 3;
  else return NOT_AN_ACK;
  if (n < p + MP_TYPE_ACK.length + 1 + area.length + MP_OFFSET.length + 1) return NOT_AN_ACK;
  for (let i = 0; i < MP_TYPE_ACK.length; i++) if (b[p + i] !== MP_TYPE_ACK[i]) return NOT_AN_ACK;
  p += MP_TYPE_ACK.length;
  // The area string: fixstr (< 32 bytes) or str8.
  const len = area.length;
  if (len < 32) {
    if (b[p] !== (0xa0 | len)) return NOT_AN_ACK;
    p += 1;
  } else {
    if (b[p] !== 0xd9 || b[p + 1] !== len) return NOT_AN_ACK;
    p += 2;
  }
  if (p + len + MP_OFFSET.length + 1 > n) return NOT_AN_ACK;
  for (let i = 0; i < len; i++) if (b[p + i] !== area.charCodeAt(i)) return NOT_AN_ACK;
  p += len;
  for (let i = 0; i < MP_OFFSET.length; i++) if (b[p + i] !== MP_OFFSET[i]) return NOT_AN_ACK;
  p += MP_OFFSET.length;
  return readMsgpackUint(b, p);
}

/** A non-negative safe integer that ends the frame exactly, else NOT_AN_ACK. */
function readMsgpackUint(b: Uint8Array, p: number): number {
  const n = b.length;
  const t = b[p];
  if (t <= 0x7f) return p + 1 === n ? t : NOT_AN_ACK;
  let v: number;
  switch (t) {
    case 0xcc:
      if (p + 2 !== n) return NOT_AN_ACK;
      return b[p + 1];
    case 0xcd:
      if (p + 3 !== n) return NOT_AN_ACK;
      return b[p + 1] * 0x100 + b[p + 2];
    case 0xce:
      if (p + 5 !== n) return NOT_AN_ACK;
      return ((b[p + 1] << 24) >>> 0) + b[p + 2] * 0x10000 + b[p + 3] * 0x100 + b[p + 4];
    case 0xcb: {
      if (p + 9 !== n) return NOT_AN_ACK;
      v = new DataView(b.buffer, b.byteOffset + p + 1, 8).getFloat64(0);
      return Number.isSafeInteger(v) && v >= 0 ? v : NOT_AN_ACK;
    }
    default:
      return NOT_AN_ACK;
  }
}
