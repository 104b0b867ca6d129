/**
 * metrics: what issue 5's instrumentation costs on the hot paths.
 *   - one message through AreaCursor's tail listener (encode, ring, fan-out to 1 sink) with no
 *     metrics vs the engine's metrics (stage timings, fan-out histogram, delivered counter);
 *   - StageTimings.message() (3 observes, once per message per area), ackReceived() (ring lookup
 *     + 1 observe, per advancing ack), FastHistogram vs prom-client Histogram observe;
 *   - the sweep over 100K subscriptions without and with the lag snapshot (1 observe per slot).
 *
 *   npm run bench -- metrics          (once registered in bench/run.ts)
 *   node --import tsx bench/metrics.bench.ts
 */
import { Histogram, Registry } from 'prom-client';
import { Bench } from 'tinybench';
import { AreaCursor } from '../engine/areas/area-cursor.ts';
import { FormatTable } from '../engine/areas/encoding.ts';
import { NO_AREA_METRICS, type AreaMetrics } from '../engine/areas/metrics.ts';
import { VirtualCursors } from '../engine/areas/virtual-cursors.ts';
import type { LogRecord, TailListener } from '../engine/log/types.ts';
import { FastHistogram } from '../engine/metrics/fast-histogram.ts';
import { createMetrics } from '../engine/metrics/metrics.ts';
import { STAGE_BUCKETS, StageTimings } from '../engine/metrics/stages.ts';
import { wsJsonEncoder } from '../engine/transports/ws/message-encoders.ts';
import { alertPayload, rowsFromBench, SinkSubscriber, StaticLog, type Suite } from './support.ts';

const SWEEP_N = 100_000;

/** A log whose tail hands its listener to the bench, which then feeds records one at a time. */
class FeedLog extends StaticLog {
  listener: TailListener | undefined;
  override tail(_area: string, _after: number, listener: TailListener): { close(): void } {
    this.listener = listener;
    return { close() {} };
  }
}

async function cursor(metrics: AreaMetrics, subscribers: number): Promise<{ c: AreaCursor; feed: (r: LogRecord) => void }> {
  const formats = new FormatTable();
  formats.add(wsJsonEncoder);
  const log = new FeedLog(0);
  const c = new AreaCursor('bench', {
    log,
    formats,
    cursors: new VirtualCursors(subscribers),
    metrics,
    settings: { ringSize: 4096, resendAfterMs: 5000, maxResends: 5, replayBatch: 256 },
    now: Date.now,
    onError: (_a, what, err) => {
      throw new Error(`${what}: ${String(err)}`);
    },
  });
  await c.open();
  for (let i = 0; i < subscribers; i++) {
    const sub = new SinkSubscriber();
    c.start(c.attach(sub, 0), sub);
  }
  const batch: LogRecord[] = [];
  return {
    c,
    feed: (r) => {
      batch[0] = r;
      log.listener!(batch);
    },
  };
}

export const metricsSuite: Suite = {
  name: 'metrics',
  description: 'cost of stage timings, lag snapshot and fast histograms on the hot paths',
  async run({ time }) {
    const bench = new Bench({ time, warmupTime: Math.min(200, time / 4) });
    const payload = alertPayload(1024);
    const now = Date.now();
    const rec = (offset: number): LogRecord => ({ offset, time: now, expiresAt: 0, contentType: 'json', payload });

    const bare = await cursor(NO_AREA_METRICS, 1);
    const full = await cursor(createMetrics().areas, 1);
    let offBare = 0;
    let offFull = 0;
    bench.add('message via tail, 1 sink, no metrics', () => bare.feed(rec(++offBare)));
    bench.add('message via tail, 1 sink, engine metrics', () => full.feed(rec(++offFull)));

    const stages = new StageTimings([new Registry()]);
    let t = 0;
    bench.add('StageTimings.message (3 observes)', () => {
      t++;
      stages.message(now - 3, now, t, t + 0.01, t + 0.2);
    });
    const acked = await cursor({ ...NO_AREA_METRICS, stages }, 1);
    for (let i = 1; i <= 4096; i++) acked.feed(rec(i));
    let a = 0;
    bench.add('ackReceived (ring lookup + observe)', () => {
      acked.c.ackReceived(1 + (a++ & 4095), now + 5);
    });
    const fast = new FastHistogram({ name: 'f', help: 'f', buckets: STAGE_BUCKETS });
    const slow = new Histogram({ name: 's', help: 's', buckets: [...STAGE_BUCKETS], registers: [] });
    let v = 0;
    bench.add('FastHistogram.observe', () => fast.observe((v = (v + 0.0007) % 2)));
    bench.add('prom-client Histogram.observe', () => slow.observe((v = (v + 0.0007) % 2)));

    const m = createMetrics();
    const sweepBare = await cursor(NO_AREA_METRICS, SWEEP_N);
    const sweepLag = await cursor({ ...NO_AREA_METRICS, ackLag: m.lag }, SWEEP_N);
    let sn = 1;
    bench.add(`sweep ${SWEEP_N / 1000}K, no lag snapshot`, () => void sweepBare.c.sweep(sn++));
    bench.add(`sweep ${SWEEP_N / 1000}K, lag snapshot`, () => {
      sweepLag.c.sweep(sn++);
      m.lag.endSweep();
    });

    await bench.run();
    const perOp: Record<string, number> = { [`sweep ${SWEEP_N / 1000}K, no lag snapshot`]: SWEEP_N, [`sweep ${SWEEP_N / 1000}K, lag snapshot`]: SWEEP_N };
    const rows = rowsFromBench('metrics', bench, perOp);
    const ns = (name: string): number => {
      const r = rows.find((x) => x.task === name);
      return r === undefined ? NaN : (r.meanMs * 1e6) / r.opsPerIteration;
    };
    const notes = [
      `metrics: engine metrics add ${(ns('message via tail, 1 sink, engine metrics') - ns('message via tail, 1 sink, no metrics')).toFixed(0)} ns per message per area (stage timings + fan-out histogram + delivered counter)`,
      `metrics: lag snapshot adds ${(ns(`sweep ${SWEEP_N / 1000}K, lag snapshot`) - ns(`sweep ${SWEEP_N / 1000}K, no lag snapshot`)).toFixed(1)} ns per subscription per sweep`,
    ];
    for (const c of [bare, full, acked, sweepBare, sweepLag]) c.c.close();
    return { rows, notes };
  },
};

if (process.argv[1]?.endsWith('metrics.bench.ts')) {
  const out = await metricsSuite.run({ time: Number(process.env.BENCH_TIME ?? 1000), log: console.log });
  console.table(out.rows.map((r) => ({ task: r.task, 'mean ns': +(r.meanMs * 1e6).toFixed(1), 'per op ns': +((r.meanMs * 1e6) / r.opsPerIteration).toFixed(1), samples: r.samples })));
  for (const n of out.notes) console.log(n);
}
