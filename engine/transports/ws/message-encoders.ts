/**
 * Message frames for protocol v1, encoded ONCE per message per format by the area cursor.
 * JSON: the payload's JSON text is spliced in as-is (no parse/stringify round trip); a binary
 * payload travels as base64 with `"encoding":"base64"`. Msgpack: the same fields, binary as bin.
 * The `+deflate` subprotocols compress these frames, once too (deflated()).
 */
import { Packr } from 'msgpackr';
import { COMPRESSED_MARKER, type Compressor } from '../../areas/compression.ts';
import type { FormatTable, MessageEncoder, PayloadView } from '../../areas/encoding.ts';
import type { LogRecord } from '../../log/types.ts';
import type { Subprotocol } from './protocol.ts';

// Area ids match ^[A-Za-z0-9][A-Za-z0-9._:-]*$, so they need no JSON escaping.
export const wsJsonEncoder: MessageEncoder = {
  name: 'ws-json',
  encode(area: string, r: LogRecord, payload: PayloadView): Uint8Array {
    const enc = r.contentType === 'binary' ? ',"encoding":"base64"' : '';
    return Buffer.from(
      `{"type":"message","area":"${area}","offset":${r.offset},"time":${r.time}${enc},"data":${payload.jsonText()}}`,
    );
  },
};

const packr = new Packr({ useRecords: false });

export const wsMsgpackEncoder: MessageEncoder = {
  name: 'ws-msgpack',
  encode(area: string, r: LogRecord, payload: PayloadView): Uint8Array {
    return packr.pack({ type: 'message', area, offset: r.offset, time: r.time, data: payload.value() });
  },
};

/**
 * The `+deflate` variant of a v1 encoder (protocol.ts): the same frame compressed whole behind
 * COMPRESSED_MARKER, or the plain frame when compression does not pay for it (Compressor).
 */
export function deflated(base: MessageEncoder, compressor: Compressor): MessageEncoder {
  const name = `${base.name}-deflate`;
  return {
    name,
    encode(area: string, r: LogRecord, payload: PayloadView): Uint8Array {
      const frame = payload.frame(base, area);
      return compressor.deflate(name, area, frame, COMPRESSED_MARKER) ?? frame;
    },
  };
}

/**
 * Registers the four v1 formats. v1.json and v1.msgpack are always encoded (nearly every
 * connection uses one of them); the `+deflate` ones are lazy: an engine none of whose clients
 * asked for compression never deflates anything. Returns the format of a subprotocol,
 * activating it (call before its first subscriber attaches: at upgrade).
 */
export function registerWsFormats(table: FormatTable, compressor: Compressor): (wire: Subprotocol) => number {
  const json = table.add(wsJsonEncoder);
  const msgpack = table.add(wsMsgpackEncoder);
  const jsonDeflate = table.add(deflated(wsJsonEncoder, compressor), { lazy: true });
  const msgpackDeflate = table.add(deflated(wsMsgpackEncoder, compressor), { lazy: true });
  return (wire) => {
    if (!wire.deflate) return wire.format === 'json' ? json : msgpack;
    const f = wire.format === 'json' ? jsonDeflate : msgpackDeflate;
    table.activate(f);
    return f;
  };
}
