/**
 * Is a publish payload what its content type says? One check for REST and MQTT publishes, so a
 * payload is refused at the door (400 bad_request / PUBACK 0x99) instead of being stored and then
 * turned into something else on the way to vehicles [issue 13 item 4: msgpack `C1` came out as
 * `{"name":"MessagePack 0xC1"}`, JSON with bytes `FF FE` as `"��"`]. The log keeps the bytes as
 * published; these checks make sure every vehicle format can carry exactly those bytes.
 *
 * Runs once per publish (never per delivery), so it may walk the whole payload.
 */
import { isUtf8 } from 'node:buffer';
import { unpackValue } from '../../areas/msgpack-value.ts';

/** Fatal: ill-formed UTF-8 throws instead of becoming U+FFFD. ignoreBOM: a BOM stays in the text, and JSON.parse refuses it (RFC 8259 §8.1: no BOM in JSON texts sent on the network). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Well-formed UTF-8: node:buffer's validator (no allocation), re-exported so callers have one place. */
export { isUtf8 };

/** One JSON text (RFC 8259) in well-formed UTF-8. */
export function isJson(bytes: Uint8Array): boolean {
  if (bytes.byteLength === 0) return false;
  try {
    JSON.parse(utf8.decode(bytes));
    return true;
  } catch {
    return false;
  }
}

/**
 * Exactly one MessagePack object, every byte of `bytes` used, by the spec's formats only: never
 * `C1`, strings in well-formed UTF-8, no length past the end, nothing after the object; and
 * msgpackr (what vehicle formats decode with) must read it too (e.g. no unknown extension type).
 * msgpackr alone is lenient: it reads `C1` as a value and ignores trailing bytes.
 */
export function isMsgpack(bytes: Uint8Array): boolean {
  if (bytes.byteLength === 0 || !walkMsgpack(bytes)) return false;
  try {
    unpackValue(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Iterative walk (no recursion, so no depth limit to hit): `expected` counts the values still to
 * read; an array of n adds n, a map of n adds 2n. Every value takes at least one byte, so more
 * expected values than bytes left is already a truncation.
 */
function walkMsgpack(b: Uint8Array): boolean {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = b.byteLength;
  let pos = 0;
  let expected = 1;
  while (expected > 0) {
    if (pos >= end || expected > end - pos) return false;
    expected--;
    const t = b[pos++]!;
    let skip = 0; // payload bytes after the header
    let items = 0; // values this one contains
    let str = false;
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xc0 && t <= 0xc3 && t !== 0xc1)) {
      // fixint, negative fixint, nil, false, true
    } else if (t <= 0x8f) items = 2 * (t & 0x0f);
    else if (t <= 0x9f) items = t & 0x0f;
    else if (t <= 0xbf) {
      skip = t & 0x1f;
      str = true;
    } else {
      const h = header(t, view, pos);
      if (h === undefined) return false; // 0xC1 (never used) or a header past the end
      pos += h.headerBytes;
      skip = h.skip;
      items = h.items;
      str = h.str;
    }
    if (skip > end - pos) return false;
    if (str && !isUtf8(b.subarray(pos, pos + skip))) return false;
    pos += skip;
    expected += items;
  }
  return pos === end;
}

interface Header {
  readonly headerBytes: number;
  readonly skip: number;
  readonly items: number;
  readonly str: boolean;
}

/** Formats 0xC4-0xDF: the length/size fields after the type byte. undefined: invalid or truncated. */
function header(t: number, v: DataView, pos: number): Header | undefined {
  const left = v.byteLength - pos;
  const u8 = (): number => v.getUint8(pos);
  const u16 = (): number => v.getUint16(pos);
  const u32 = (): number => v.getUint32(pos);
  const need = (n: number): boolean => left >= n;
  switch (t) {
    case 0xc4: return need(1) ? { headerBytes: 1, skip: u8(), items: 0, str: false } : undefined; // bin 8
    case 0xc5: return need(2) ? { headerBytes: 2, skip: u16(), items: 0, str: false } : undefined; // bin 16
    case 0xc6: return need(4) ? { headerBytes: 4, skip: u32(), items: 0, str: false } : undefined; // bin 32
    case 0xc7: return need(2) ? { headerBytes: 2, skip: u8(), items: 0, str: false } : undefined; // ext 8: size, type
    case 0xc8: return need(3) ? { headerBytes: 3, skip: u16(), items: 0, str: false } : undefined; // ext 16
    case 0xc9: return need(5) ? { headerBytes: 5, skip: u32(), items: 0, str: false } : undefined; // ext 32
    case 0xca: return { headerBytes: 0, skip: 4, items: 0, str: false }; // float 32
    case 0xcb: return { headerBytes: 0, skip: 8, items: 0, str: false }; // float 64
    case 0xcc: return { headerBytes: 0, skip: 1, items: 0, str: false }; // uint 8
    case 0xcd: return { headerBytes: 0, skip: 2, items: 0, str: false };
    case 0xce: return { headerBytes: 0, skip: 4, items: 0, str: false };
    case 0xcf: return { headerBytes: 0, skip: 8, items: 0, str: false };
    case 0xd0: return { headerBytes: 0, skip: 1, items: 0, str: false }; // int 8
    case 0xd1: return { headerBytes: 0, skip: 2, items: 0, str: false };
    case 0xd2: return { headerBytes: 0, skip: 4, items: 0, str: false };
    case 0xd3: return { headerBytes: 0, skip: 8, items: 0, str: false };
    case 0xd4: return { headerBytes: 0, skip: 2, items: 0, str: false }; // fixext 1: type + 1
    case 0xd5: return { headerBytes: 0, skip: 3, items: 0, str: false };
    case 0xd6: return { headerBytes: 0, skip: 5, items: 0, str: false };
    case 0xd7: return { headerBytes: 0, skip: 9, items: 0, str: false };
    case 0xd8: return { headerBytes: 0, skip: 17, items: 0, str: false };
    case 0xd9: return need(1) ? { headerBytes: 1, skip: u8(), items: 0, str: true } : undefined; // str 8
    case 0xda: return need(2) ? { headerBytes: 2, skip: u16(), items: 0, str: true } : undefined;
    case 0xdb: return need(4) ? { headerBytes: 4, skip: u32(), items: 0, str: true } : undefined;
    case 0xdc: return need(2) ? { headerBytes: 2, skip: 0, items: u16(), str: false } : undefined; // array 16
    case 0xdd: return need(4) ? { headerBytes: 4, skip: 0, items: u32(), str: false } : undefined;
    case 0xde: return need(2) ? { headerBytes: 2, skip: 0, items: 2 * u16(), str: false } : undefined; // map 16
    case 0xdf: return need(4) ? { headerBytes: 4, skip: 0, items: 2 * u32(), str: false } : undefined;
    default: return undefined; // 0xC1: "never used" (MessagePack spec, Formats)
  }
}
