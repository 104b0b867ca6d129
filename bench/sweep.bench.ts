/**
 * sweep: AreaCursor.sweep over 100,000 subscribers that are all LIVE and caught up (the steady
 * state the sweep must be cheap in: it runs every sweep-interval-ms, 250 ms by default).
 */
import { Bench } from 'tinybench';
import { AreaCursor } from '../engine/areas/area-cursor.ts';
import { FormatTable } from '../engine/areas/encoding.ts';
import { NO_AREA_METRICS } from '../engine/areas/metrics.ts';
import { LIVE, VirtualCursors } from '../engine/areas/virtual-cursors.ts';
import { wsJsonEncoder } from '../engine/transports/ws/message-encoders.ts';
import { rowsFromBench, SinkSubscriber, StaticLog, type Suite } from './support.ts';

const N = 100_000;
const HEAD = 1000;

async function cursorWith(n: number, acking: boolean): Promise<AreaCursor> {
  const formats = new FormatTable();
  formats.add(wsJsonEncoder);
  const cursors = new VirtualCursors(n);
  const cursor = new AreaCursor('bench', {
    log: new StaticLog(HEAD),
    formats,
    cursors,
    metrics: NO_AREA_METRICS,
    settings: { ringSize: 4096, resendAfterMs: 5000, maxResends: 5, replayBatch: 256 },
    now: () => 0,
    onError: (_a, what, err) => {
      throw new Error(`${what}: ${String(err)}`);
    },
  });
  await cursor.open();
  for (let i = 0; i < n; i++) {
    const sub = new SinkSubscriber();
    const slot = cursor.attach(sub, HEAD);
    cursor.start(slot, sub);
    if (cursors.state[slot] !== LIVE) throw new Error('sweep bench: subscriber not LIVE');
    if (acking) cursors.ack(slot, HEAD, 0);
  }
  return cursor;
}

export const sweepSuite: Suite = {
  name: 'sweep',
  description: `AreaCursor.sweep over ${N.toLocaleString('en')} LIVE, caught-up subscribers`,
  async run({ time }) {
    const bench = new Bench({ time, warmupTime: Math.min(200, time / 4) });
    const quiet = await cursorWith(N, false);
    const acking = await cursorWith(N, true);
    let now = 1;
    let sink = 0;
    bench
      .add(`sweep ${N / 1000}K (no acks)`, () => {
        sink += quiet.sweep(now++);
      })
      .add(`sweep ${N / 1000}K (ack mode, all acked)`, () => {
        sink += acking.sweep(now++);
      });
    await bench.run();
    quiet.close();
    acking.close();
    const perOp = Object.fromEntries(bench.tasks.map((t) => [t.name, N]));
    return { rows: rowsFromBench('sweep', bench, perOp), notes: sink < 0 ? ['unreachable'] : [] };
  },
};
