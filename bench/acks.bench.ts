/**
 * acks: the ack path [DESIGN "an ack is a number written into a typed-array slot"]. One
 * iteration = 100,000 cumulative acks into VirtualCursors, one per subscription, in a shuffled
 * connection order (acks arrive from sockets, not in slot order).
 */
import { Bench } from 'tinybench';
import { LIVE, VirtualCursors } from '../engine/areas/virtual-cursors.ts';
import { rowsFromBench, type Suite } from './support.ts';

const N = 100_000;

export const acksSuite: Suite = {
  name: 'acks',
  description: `${N.toLocaleString('en')} acks into VirtualCursors per iteration`,
  async run({ time }) {
    const bench = new Bench({ time, warmupTime: Math.min(200, time / 4) });
    const vc = new VirtualCursors(N);
    const slots = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      slots[i] = vc.alloc(0, 0);
      vc.state[slots[i]] = LIVE;
      vc.sent[slots[i]] = Number.MAX_SAFE_INTEGER; // every ack is for something sent
    }
    const shuffled = Int32Array.from(slots);
    for (let i = N - 1; i > 0; i--) {
      const j = (i * 2654435761) % (i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    let offset = 0;
    let rejected = 0;
    bench
      .add(`${N / 1000}K acks, advancing, slot order`, () => {
        offset++;
        const now = offset;
        for (let i = 0; i < N; i++) if (!vc.ack(slots[i], offset, now)) rejected++;
      })
      .add(`${N / 1000}K acks, advancing, shuffled order`, () => {
        offset++;
        const now = offset;
        for (let i = 0; i < N; i++) if (!vc.ack(shuffled[i], offset, now)) rejected++;
      })
      .add(`${N / 1000}K acks, repeated (no advance)`, () => {
        const now = offset;
        for (let i = 0; i < N; i++) if (!vc.ack(shuffled[i], offset, now)) rejected++;
      });
    await bench.run();
    if (rejected > 0) throw new Error(`acks bench: ${rejected} acks rejected`);
    const perOp = Object.fromEntries(bench.tasks.map((t) => [t.name, N]));
    return { rows: rowsFromBench('acks', bench, perOp), notes: [] };
  },
};
