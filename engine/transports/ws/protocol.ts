/**
 * WebSocket protocol v1: client frame decoding/validation and server control frames.
 * Subprotocols: `v1.json` (text frames) and `v1.msgpack` (binary frames, same fields), and their
 * compressed variants `v1.json+deflate` and `v1.msgpack+deflate` [issue 16]: every server frame
 * is binary; one whose first byte is COMPRESSED_MARKER (0xC1) is that byte followed by the v1
 * frame compressed with raw DEFLATE (RFC 1951, what `DecompressionStream('deflate-raw')` takes);
 * any other first byte starts the v1 frame itself (control frames, and messages too small to
 * gain). 0xC1 can start neither: it is never the first byte of UTF-8 JSON text (an overlong
 * lead byte, RFC 3629 §4) nor of MessagePack (the one "never used" byte of the spec). Client
 * frames are those of the base subprotocol, uncompressed.
 * Anything that does not decode to one of the four client frames is EngineError('bad_frame').
 */
import { pack, unpack } from 'msgpackr';
import { EngineError, type ErrorCode } from '../../errors.ts';

export const SUBPROTOCOL_JSON = 'v1.json';
export const SUBPROTOCOL_MSGPACK = 'v1.msgpack';
export const SUBPROTOCOL_JSON_DEFLATE = 'v1.json+deflate';
export const SUBPROTOCOL_MSGPACK_DEFLATE = 'v1.msgpack+deflate';
export type WireFormat = 'json' | 'msgpack';

/** What a connection speaks: one shared object per subprotocol (a connection holds a pointer). */
export interface Subprotocol {
  readonly name: string;
  /** The base format of every frame (client frames, and server frames once inflated). */
  readonly format: WireFormat;
  /** Server message frames may be compressed (COMPRESSED_MARKER). */
  readonly deflate: boolean;
  /** Server frames go out as binary WebSocket frames. */
  readonly binary: boolean;
}

const subprotocol = (name: string, format: WireFormat, deflate: boolean): Subprotocol => Object.freeze({ name, format, deflate, binary: format === 'msgpack' || deflate });

export const SUBPROTOCOLS: Readonly<Record<string, Subprotocol>> = Object.freeze({
  [SUBPROTOCOL_JSON]: subprotocol(SUBPROTOCOL_JSON, 'json', false),
  [SUBPROTOCOL_MSGPACK]: subprotocol(SUBPROTOCOL_MSGPACK, 'msgpack', false),
  [SUBPROTOCOL_JSON_DEFLATE]: subprotocol(SUBPROTOCOL_JSON_DEFLATE, 'json', true),
  [SUBPROTOCOL_MSGPACK_DEFLATE]: subprotocol(SUBPROTOCOL_MSGPACK_DEFLATE, 'msgpack', true),
});

export type ClientFrame =
  | { readonly type: 'subscribe'; readonly area: string; readonly since?: { readonly offset: number; readonly epoch: string } }
  | { readonly type: 'ack'; readonly area: string; readonly offset: number }
  | { readonly type: 'unsubscribe'; readonly area: string }
  | { readonly type: 'ping' };

const MAX_EPOCH_LENGTH = 64;
const MAX_AREA_LENGTH = 128;

/**
 * Picks the subprotocol from the client's offer, in the client's order (RFC 6455 §4.2.2: the
 * server selects one of the offered values). No offer at all means v1.json. Undefined: none
 * offered we speak.
 */
export function chooseSubprotocol(header: string): Subprotocol | undefined {
  if (header.trim() === '') return SUBPROTOCOLS[SUBPROTOCOL_JSON];
  for (const p of header.split(',')) {
    const found = Object.hasOwn(SUBPROTOCOLS, p.trim()) ? SUBPROTOCOLS[p.trim()] : undefined;
    if (found !== undefined) return found;
  }
  return undefined;
}

export function decodeClientFrame(data: ArrayBuffer | Uint8Array, isBinary: boolean, format: WireFormat): ClientFrame {
  let raw: unknown;
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (format === 'json') {
    if (isBinary) throw new EngineError('bad_frame', 'v1.json takes text frames');
    try {
      raw = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    } catch {
      throw new EngineError('bad_frame', 'frame is not valid JSON');
    }
  } else {
    if (!isBinary) throw new EngineError('bad_frame', 'v1.msgpack takes binary frames');
    try {
      raw = unpack(bytes);
    } catch {
      throw new EngineError('bad_frame', 'frame is not valid msgpack');
    }
  }
  return validate(raw);
}

function validate(raw: unknown): ClientFrame {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new EngineError('bad_frame', 'frame must be an object');
  const f = raw as Record<string, unknown>;
  switch (f.type) {
    case 'subscribe': {
      const area = areaField(f.area);
      if (f.since === undefined || f.since === null) return { type: 'subscribe', area };
      if (typeof f.since !== 'object' || Array.isArray(f.since)) throw new EngineError('bad_frame', 'since must be {offset, epoch}');
      const s = f.since as Record<string, unknown>;
      const offset = offsetField(s.offset, 'since.offset');
      if (typeof s.epoch !== 'string' || s.epoch.length === 0 || s.epoch.length > MAX_EPOCH_LENGTH) {
        throw new EngineError('bad_frame', 'since.epoch must be a non-empty string');
      }
      return { type: 'subscribe', area, since: { offset, epoch: s.epoch } };
    }
    case 'ack':
      return { type: 'ack', area: areaField(f.area), offset: offsetField(f.offset, 'offset') };
    case 'unsubscribe':
      return { type: 'unsubscribe', area: areaField(f.area) };
    case 'ping':
      return { type: 'ping' };
    default:
      throw new EngineError('bad_frame', typeof f.type === 'string' ? `unknown frame type "${f.type.slice(0, 32)}"` : 'frame has no type');
  }
}

/** Shape only; the id pattern itself is checked by the handler (invalid_area is not a protocol error). */
function areaField(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_AREA_LENGTH * 2) throw new EngineError('bad_frame', 'area must be a non-empty string');
  return v;
}

function offsetField(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new EngineError('bad_frame', `${name} must be a non-negative integer`);
  return v;
}

/** Server control frames (not the hot path: message frames are encoded once in ./message-encoders.ts). */
export type ServerControl =
  | { type: 'subscribed'; area: string; epoch: string; offset: number; recovered: boolean }
  | { type: 'unsubscribed'; area: string }
  | { type: 'error'; code: ErrorCode; message: string; area?: string }
  | { type: 'pong' };

export function encodeControl(frame: ServerControl, format: WireFormat): Uint8Array {
  return format === 'json' ? Buffer.from(JSON.stringify(frame)) : pack(frame);
}
