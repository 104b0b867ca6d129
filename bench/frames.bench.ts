/**
 * frames: encoding one message per wire format [DESIGN "Encode once"], through
 * FormatTable.encodeAll exactly as the area cursor does for every record it reads.
 */
import { Bench } from 'tinybench';
import { FormatTable } from '../engine/areas/encoding.ts';
import { wsJsonEncoder, wsMsgpackEncoder } from '../engine/transports/ws/message-encoders.ts';
import { alertPayload, formatBytes, jsonRecord, rowsFromBench, type Suite } from './support.ts';

const AREA = 'keytop:district-7';

function table(...encoders: (typeof wsJsonEncoder)[]): FormatTable {
  const t = new FormatTable();
  for (const e of encoders) t.add(e);
  return t;
}

export const framesSuite: Suite = {
  name: 'frames',
  description: 'encode a JSON-payload message once per format (wsJsonEncoder, wsMsgpackEncoder via FormatTable.encodeAll)',
  async run({ time }) {
    const bench = new Bench({ time, warmupTime: Math.min(200, time / 4) });
    const json = table(wsJsonEncoder);
    const msgpack = table(wsMsgpackEncoder);
    const both = table(wsJsonEncoder, wsMsgpackEncoder);
    const notes: string[] = [];
    for (const size of [256, 10 * 1024]) {
      const payload = alertPayload(size);
      // A fresh record per call: PayloadView caches per record, and the cursor sees each record once.
      let off = 0;
      const sizes = both.encodeAll(AREA, jsonRecord(1, payload)).map((f) => f.byteLength);
      notes.push(`frames: ${formatBytes(payload.byteLength)} payload -> json frame ${sizes[0]} B, msgpack frame ${sizes[1]} B`);
      let sink = 0;
      bench
        .add(`json ${formatBytes(size)}`, () => {
          sink += json.encodeAll(AREA, jsonRecord(++off, payload))[0].byteLength;
        })
        .add(`msgpack ${formatBytes(size)}`, () => {
          sink += msgpack.encodeAll(AREA, jsonRecord(++off, payload))[0].byteLength;
        })
        .add(`json+msgpack ${formatBytes(size)}`, () => {
          sink += both.encodeAll(AREA, jsonRecord(++off, payload))[1].byteLength;
        });
      if (sink < 0) notes.push('unreachable');
    }
    await bench.run();
    return { rows: rowsFromBench('frames', bench), notes };
  },
};
