/**
 * fanout: fanOut() of one pre-encoded 10 KB frame to 1 / 1K / 10K / 100K in-process sinks whose
 * write() returns WRITE_OK: the cost of the engine's own loop (typed-array reads/writes and one
 * call per subscriber), without any socket. uws-fanout.bench.ts measures it against real sockets.
 */
import { Bench } from 'tinybench';
import { fanOut, fanOutBatch } from '../engine/areas/fan-out.ts';
import type { RingEntry } from '../engine/areas/ring.ts';
import { LIVE, VirtualCursors } from '../engine/areas/virtual-cursors.ts';
import { FormatTable } from '../engine/areas/encoding.ts';
import { wsJsonEncoder } from '../engine/transports/ws/message-encoders.ts';
import { alertPayload, jsonRecord, rowsFromBench, SinkSubscriber, type Suite } from './support.ts';

const SIZES = [1, 1000, 10_000, 100_000];
/** fanOutBatch: a tail batch of this many 256 B messages (what max-deliveries-19k sees: ~16-30). */
const BATCH = 16;
const BATCH_SIZES = [1000, 10_000];

/** A sink with writeMany, like WsConnection: one call per subscriber per batch. */
class BatchSinkSubscriber extends SinkSubscriber {
  writeMany(frames: readonly Uint8Array[], from: number, to: number): number {
    for (let i = from; i < to; i++) this.bytes += frames[i].byteLength;
    return to - from;
  }
}

interface Group {
  readonly slots: number[];
  readonly subs: SinkSubscriber[];
  readonly vc: VirtualCursors;
  offset: number;
}

function group(n: number, batch = false): Group {
  const vc = new VirtualCursors(n);
  const slots: number[] = [];
  const subs: SinkSubscriber[] = [];
  for (let i = 0; i < n; i++) {
    const slot = vc.alloc(0, 0);
    vc.state[slot] = LIVE;
    vc.index[slot] = i;
    slots.push(slot);
    subs.push(batch ? new BatchSinkSubscriber(0) : new SinkSubscriber(0));
  }
  return { slots, subs, vc, offset: 0 };
}

export const fanoutSuite: Suite = {
  name: 'fanout',
  description: 'fanOut() of one pre-encoded 10 KB frame to N in-process sinks (write returns WRITE_OK); fanOutBatch() of 16 256 B frames (writeMany)',
  async run({ time }) {
    const bench = new Bench({ time, warmupTime: Math.min(200, time / 4) });
    const formats = new FormatTable();
    formats.add(wsJsonEncoder);
    const frames = formats.encodeAll('bench', jsonRecord(1, alertPayload(10 * 1024)));
    const perOp: Record<string, number> = {};
    const groups: Group[] = [];
    for (const n of SIZES) {
      const g = group(n);
      groups.push(g);
      const name = `fanOut 10 KB -> ${n >= 1000 ? `${n / 1000}K` : n} sink${n === 1 ? '' : 's'}`;
      perOp[name] = n;
      bench.add(name, () => {
        const entry: RingEntry = { offset: ++g.offset, time: 0, expiresAt: 0, origin: '', frames };
        const r = fanOut(entry, g.slots, g.subs, g.vc, g.offset);
        if (r.delivered !== n) throw new Error(`fanout bench: delivered ${r.delivered} of ${n}`);
      });
    }
    const batchFrames = Array.from({ length: BATCH }, (_, k) => formats.encodeAll('bench', jsonRecord(k + 1, alertPayload(256)))[0]);
    const framesByFormat = [batchFrames];
    const NO_ORIGINS = new Array<string>(BATCH).fill('');
    for (const n of BATCH_SIZES) {
      const g = group(n, true);
      const name = `fanOutBatch ${BATCH} x 256 B -> ${n / 1000}K sinks`;
      perOp[name] = n * BATCH;
      bench.add(name, () => {
        const first = g.offset + 1;
        g.offset += BATCH;
        const r = fanOutBatch(first, BATCH, framesByFormat, NO_ORIGINS, g.slots, g.subs, g.vc, g.offset);
        if (r.delivered !== n * BATCH) throw new Error(`fanout bench: batch delivered ${r.delivered} of ${n * BATCH}`);
      });
    }
    await bench.run();
    const rows = rowsFromBench('fanout', bench, perOp);
    const notes = rows.map((r) => `fanout: ${r.task}: ${((r.meanMs * 1e6) / r.opsPerIteration).toFixed(1)} ns per ${r.task.startsWith('fanOutBatch') ? 'delivery' : 'subscriber'}`);
    return { rows, notes };
  },
};
