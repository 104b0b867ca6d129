/**
 * compression [issue 16]: what compressing a message once costs, per deflate level, on realistic
 * alerts (loadtest/alerts.ts), through FormatTable.encodeAll with the v1.json+deflate encoder
 * exactly as the area cursor encodes a record it reads. "per op" is per KB of the plain frame.
 *
 * Notes (computed over 30 different alerts per size): the compressed/plain ratio per level, the
 * inflate cost a vehicle pays per frame (Node's zlib), and what a preset dictionary would give
 * (zlib's `dictionary`, built from other alerts): measured, not shipped, because the browsers'
 * DecompressionStream takes no dictionary.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Bench } from 'tinybench';
import { makeAlert } from '../loadtest/alerts.ts';
import { Compressor } from '../engine/areas/compression.ts';
import { FormatTable, PayloadView } from '../engine/areas/encoding.ts';
import { deflated, wsJsonEncoder } from '../engine/transports/ws/message-encoders.ts';
import { formatBytes, jsonRecord, rowsFromBench, type Suite } from './support.ts';

const AREA = 'city:district-7';
const SIZES = [256, 1024, 4096, 10 * 1024];
const LEVELS = [1, 6, 9];
const SAMPLES = 30;

function tableAt(level: number): FormatTable {
  const t = new FormatTable();
  t.add(deflated(wsJsonEncoder, new Compressor({ level, minBytes: 0, areas: [] })));
  return t;
}

const plainFrame = (payload: Uint8Array, offset: number): Buffer => {
  const r = jsonRecord(offset, payload);
  return Buffer.from(wsJsonEncoder.encode(AREA, r, new PayloadView(r)));
};

function microsPer(fn: () => void, rounds: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) fn();
  return Number(process.hrtime.bigint() - start) / 1000 / rounds;
}

export const compressionSuite: Suite = {
  name: 'compression',
  description: 'compress one message once (v1.json+deflate through FormatTable.encodeAll) per level and size; ratios, inflate cost, dictionary',
  async run({ time }) {
    const bench = new Bench({ time, warmupTime: Math.min(200, time / 4) });
    const perKb: Record<string, number> = {};
    const notes: string[] = [];
    for (const size of SIZES) {
      const payloads = Array.from({ length: SAMPLES }, (_, i) => makeAlert(1_765_000_000_000_000, false, 1000 + i, size));
      const frames = payloads.map((p, i) => plainFrame(p, i + 1));
      const plainBytes = frames.reduce((a, f) => a + f.byteLength, 0);
      const kb = plainBytes / SAMPLES / 1024;
      const ratios: string[] = [];
      for (const level of LEVELS) {
        const t = tableAt(level);
        let off = 0;
        let sink = 0;
        const name = `L${level} ${formatBytes(size)}`;
        bench.add(name, () => {
          const i = off++ % SAMPLES;
          sink += t.encodeAll(AREA, jsonRecord(off, payloads[i]))[0].byteLength;
        });
        perKb[name] = kb;
        const packed = frames.reduce((a, f) => a + deflateRawSync(f, { level }).byteLength + 1, 0);
        ratios.push(`L${level} ${(packed / plainBytes).toFixed(3)}`);
        if (sink < 0) notes.push('unreachable');
      }
      const packed6 = frames.map((f) => deflateRawSync(f, { level: 6 }));
      const inflateAll = (): void => {
        for (const p of packed6) inflateRawSync(p);
      };
      microsPer(inflateAll, 20); // warm-up
      const inflateUs = microsPer(inflateAll, 100) / SAMPLES;
      // A preset dictionary from 30 OTHER alerts of the same size (what a per-area dictionary would hold).
      const dictionary = Buffer.concat(Array.from({ length: SAMPLES }, (_, i) => makeAlert(1_765_000_000_000_000, false, 5000 + i, size))).subarray(-32 * 1024);
      const withDict = frames.reduce((a, f) => a + deflateRawSync(f, { level: 6, dictionary }).byteLength + 1, 0);
      notes.push(
        `compression: ${formatBytes(size)} alerts (plain v1.json frame ${Math.round(plainBytes / SAMPLES)} B avg): compressed/plain ${ratios.join(', ')}; ` +
          `with a preset dictionary (L6) ${(withDict / plainBytes).toFixed(3)}; inflate (L6 frame, zlib) ${inflateUs.toFixed(1)} µs per frame`,
      );
    }
    await bench.run();
    const rows = rowsFromBench('compression', bench, perKb);
    const cost = rows.map((r) => `${r.task} ${((r.meanMs * 1000) / perKb[r.task]).toFixed(1)}`);
    notes.push(`compression: encode + deflate once per message, µs per KB of plain frame: ${cost.join(', ')}`);
    return { rows, notes };
  },
};
