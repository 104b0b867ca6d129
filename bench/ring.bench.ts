/**
 * ring: FrameRing append (what the cursor does per record read) and lookup by offset (what
 * catch-up does per message it replays). One iteration = 1,000 operations.
 */
import { Bench } from 'tinybench';
import { FrameRing, type RingEntry } from '../engine/areas/ring.ts';
import { rowsFromBench, type Suite } from './support.ts';

const OPS = 1000;
const CAPACITY = 4096;

export const ringSuite: Suite = {
  name: 'ring',
  description: `FrameRing (capacity ${CAPACITY}) push and get; one iteration = ${OPS} operations`,
  async run({ time }) {
    const bench = new Bench({ time, warmupTime: Math.min(200, time / 4) });
    const frames = [new Uint8Array(10 * 1024), new Uint8Array(10 * 1024)];
    const ring = new FrameRing(CAPACITY);
    let next = 1;
    for (; next <= CAPACITY; next++) ring.push({ offset: next, time: next, expiresAt: 0, origin: '', frames });
    // pseudo-random lookups inside the held window, precomputed as distances from the newest
    const back = Uint16Array.from({ length: OPS }, (_, i) => (i * 2654435761) % CAPACITY);
    let hits = 0;
    bench
      .add(`push x${OPS} (full ring, evicting)`, () => {
        for (let i = 0; i < OPS; i++) {
          const e: RingEntry = { offset: next, time: next, expiresAt: 0, origin: '', frames };
          ring.push(e);
          next++;
        }
      })
      .add(`get x${OPS} (hit, random within window)`, () => {
        const last = ring.last;
        for (let i = 0; i < OPS; i++) if (ring.get(last - back[i]) !== undefined) hits++;
      })
      .add(`get x${OPS} (miss, evicted)`, () => {
        const first = ring.first;
        for (let i = 0; i < OPS; i++) if (ring.get(first - 1 - back[i]) !== undefined) hits++;
      })
      .add(`push+get x${OPS} (append, then read it back)`, () => {
        for (let i = 0; i < OPS; i++) {
          ring.push({ offset: next, time: next, expiresAt: 0, origin: '', frames });
          if (ring.get(next) !== undefined) hits++;
          next++;
        }
      });
    await bench.run();
    const perOp = Object.fromEntries(bench.tasks.map((t) => [t.name, OPS]));
    return { rows: rowsFromBench('ring', bench, perOp), notes: hits < 0 ? ['unreachable'] : [] };
  },
};
