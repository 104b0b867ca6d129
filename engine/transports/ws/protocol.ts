/**
 * WebSocket protocol v1: client frame decoding/validation and server control frames.
 * Subprotocols: `v1.json` (text frames) and `v1.msgpack` (binary frames, same fields).
 * Anything that does not decode to one of the four client frames is EngineError('bad_frame').
 */
import { pack, unpack } from 'msgpackr';
import { EngineError, type ErrorCode } from '../../errors.ts';

export const SUBPROTOCOL_JSON = 'v1.json';
export const SUBPROTOCOL_MSGPACK = 'v1.msgpack';
export type WireFormat = 'json' | 'msgpack';

export type ClientFrame =
  | { readonly type: 'subscribe'; readonly area: string; readonly since?: { readonly offset: number; readonly epoch: string } }
  | { readonly type: 'ack'; readonly area: string; readonly offset: number }
  | { readonly type: 'unsubscribe'; readonly area: string }
  | { readonly type: 'ping' };

const MAX_EPOCH_LENGTH = 64;
const MAX_AREA_LENGTH = 128;

/** Picks the subprotocol from the client's offer, in the client's order. Undefined: none offered we speak. */
export function chooseSubprotocol(header: string): WireFormat | undefined {
  if (header.trim() === '') return 'json';
  for (const p of header.split(',')) {
    const name = p.trim();
    if (name === SUBPROTOCOL_JSON) return 'json';
    if (name === SUBPROTOCOL_MSGPACK) return 'msgpack';
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
