/**
 * Message frames for protocol v1, encoded ONCE per message per format by the area cursor.
 * JSON: the payload's JSON text is spliced in as-is (no parse/stringify round trip); a binary
 * payload travels as base64 with `"encoding":"base64"`. Msgpack: the same fields, binary as bin.
 */
import { Packr } from 'msgpackr';
import type { MessageEncoder, PayloadView } from '../../areas/encoding.ts';
import type { LogRecord } from '../../log/types.ts';

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
