/**
 * Wire formats (protocol v1): `v1.json` text frames; `v1.msgpack` binary frames come from
 * ./msgpack.ts (optional msgpackr). Frames are checked here so a malformed one is a transport
 * error, never a crash in the state machine.
 */
import type { ClientFrame, Codec, ServerFrame } from './types.ts';

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Checks a decoded frame's shape (protocol v1, client/PROTOCOL.md). */
export function checkServerFrame(f: unknown): ServerFrame {
  if (typeof f !== 'object' || f === null) throw new FrameError('frame is not an object');
  const o = f as Record<string, unknown>;
  const str = (k: string) => {
    if (typeof o[k] !== 'string') throw new FrameError(`${String(o.type)}: ${k} is not a string`);
  };
  const int = (k: string) => {
    if (typeof o[k] !== 'number' || !Number.isSafeInteger(o[k]) || (o[k] as number) < 0) throw new FrameError(`${String(o.type)}: ${k} is not an offset`);
  };
  switch (o.type) {
    case 'message':
      str('area');
      int('offset');
      if (typeof o.time !== 'number') throw new FrameError('message: time is not a number');
      if (!('data' in o)) throw new FrameError('message: no data');
      break;
    case 'subscribed':
      str('area');
      str('epoch');
      int('offset');
      if (typeof o.recovered !== 'boolean') throw new FrameError('subscribed: recovered is not a boolean');
      break;
    case 'unsubscribed':
      str('area');
      break;
    case 'error':
      str('code');
      if (typeof o.message !== 'string') o.message = '';
      break;
    case 'pong':
      break;
    default:
      throw new FrameError(`unknown frame type ${JSON.stringify(o.type)}`);
  }
  return o as unknown as ServerFrame;
}

/** Standard base64 to bytes (atob: browsers and Node alike). */
export function base64ToBytes(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** `data` as the app sees it: binary payloads (encoding base64) become bytes. */
export function payloadOf(frame: { encoding?: string; data: unknown }): unknown {
  return frame.encoding === 'base64' && typeof frame.data === 'string' ? base64ToBytes(frame.data) : frame.data;
}

const textDecoder = new TextDecoder();

/** The bytes of a binary frame (an ArrayBuffer or a view of one, copy-free); undefined for text. */
export function frameBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

export const jsonCodec: Codec = Object.freeze({
  subprotocol: 'v1.json',
  binary: false,
  // Key order type, area, offset: the engine's ack fast path matches exactly these bytes.
  encode: (frame: ClientFrame) => JSON.stringify(frame),
  decode(data: unknown): ServerFrame {
    let text: string;
    if (typeof data === 'string') text = data;
    else {
      const bytes = frameBytes(data);
      if (bytes === undefined) throw new FrameError('frame is neither text nor bytes');
      text = textDecoder.decode(bytes);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new FrameError('frame is not JSON');
    }
    return checkServerFrame(parsed);
  },
});
