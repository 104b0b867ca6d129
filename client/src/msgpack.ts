/**
 * The `v1.msgpack` wire format ('abe-client/msgpack'): same frames as v1.json, msgpack maps;
 * binary payloads arrive as bytes (msgpack bin). Needs the optional peer dependency msgpackr.
 */
import { Packr, Unpackr } from 'msgpackr';
import { checkServerFrame, FrameError, frameBytes } from './codec.ts';
import type { ClientFrame, Codec, ServerFrame } from './types.ts';

// useRecords:false: plain maps, which the engine's ack fast path matches byte for byte.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export const msgpackCodec: Codec = Object.freeze({
  subprotocol: 'v1.msgpack',
  binary: true,
  encode: (frame: ClientFrame) => packr.pack(frame),
  decode(data: unknown): ServerFrame {
    const bytes = frameBytes(data);
    if (bytes === undefined) throw new FrameError('v1.msgpack frame is not binary');
    let parsed: unknown;
    try {
      parsed = unpackr.unpack(bytes);
    } catch {
      throw new FrameError('frame is not msgpack');
    }
    return checkServerFrame(parsed);
  },
});
