/**
 * The metrics building blocks [issue 5]: FastHistogram renders exactly like prom-client's
 * Histogram and merges across processes with AggregatorRegistry; scrape parsing and
 * histogram_quantile; the stage breakdown; the sweep's lag snapshot; top-N area gauges.
 */
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { breakdownMarkdown, stageBreakdown } from './breakdown.ts';
import { histogramDelta, parseExposition, quantile, Samples } from './exposition.ts';
import { FastHistogram } from './fast-histogram.ts';
import { AreaTop, SubscriberLag } from './lag.ts';
import { LiveSampler } from './live.ts';
import { authReason, createMetrics } from './metrics.ts';
import { StageTimings } from './stages.ts';

const VALUES = [0, 0.0004, 0.003, 0.003, 0.07, 0.2, 0.9, 4, 42];
const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

describe('FastHistogram', () => {
  it('renders the same text as prom-client Histogram', async () => {
    const a = new Registry();
    const b = new Registry();
    const slow = new Histogram({ name: 'h_seconds', help: 'x', buckets: BUCKETS, labelNames: ['stage'], registers: [a] });
    const fast = new FastHistogram({ name: 'h_seconds', help: 'x', buckets: BUCKETS, labelName: 'stage', labelValues: ['one', 'two'], registers: [b] });
    for (const v of VALUES) {
      slow.labels('one').observe(v);
      fast.observeAt(0, v);
    }
    slow.labels('two').observe(0.5);
    fast.child('two').observe(0.5);
    expect(await b.metrics()).toBe(await a.metrics());
  });

  it('sums across processes with AggregatorRegistry.aggregate (issue 6)', async () => {
    const regs = [new Registry(), new Registry()];
    regs.forEach((r, i) => {
      const h = new FastHistogram({ name: 'h_seconds', help: 'x', buckets: BUCKETS, registers: [r] });
      for (const v of VALUES.slice(i)) h.observe(v);
    });
    const merged = AggregatorRegistry.aggregate(await Promise.all(regs.map((r) => r.getMetricsAsJSON())));
    const s = Samples.parse(await merged.metrics());
    expect(s.sum('h_seconds_count')).toBe(VALUES.length * 2 - 1);
    expect(s.sum('h_seconds_bucket', { le: '0.01' })).toBe(4 + 3);
  });

  it('ignores NaN and Infinity, counts negative (a clock step) as 0, allocates nothing per observe', () => {
    const h = new FastHistogram({ name: 'x', help: 'x', buckets: [1] });
    h.observe(NaN);
    h.observe(Infinity);
    h.observe(-3);
    expect(h.snapshot()).toMatchObject({ count: 1, sum: 0, cumulative: [1, 1] });
  });
});

describe('exposition', () => {
  it('parses labels with escapes, +Inf and comments', () => {
    const s = parseExposition('# HELP x y\nx{a="q\\"uote",le="+Inf"} 3\ny 1.5e-3\n');
    expect(s).toEqual([
      { name: 'x', labels: { a: 'q"uote', le: '+Inf' }, value: 3 },
      { name: 'y', labels: {}, value: 0.0015 },
    ]);
  });

  it('quantile interpolates inside a bucket like histogram_quantile', () => {
    const h = { bounds: [0.1, 0.2, Infinity], cumulative: [50, 100, 100], sum: 10, count: 100 };
    expect(quantile(h, 0.5)).toBeCloseTo(0.1);
    expect(quantile(h, 0.75)).toBeCloseTo(0.15);
    expect(quantile({ ...h, cumulative: [0, 0, 5], count: 5 }, 0.99)).toBe(0.2); // +Inf answers the top finite bound
    expect(quantile({ ...h, cumulative: [0, 0, 0], count: 0 }, 0.5)).toBeUndefined();
  });

  it('histogramDelta subtracts bucket by bucket and survives a counter reset', () => {
    const after = { bounds: [1, Infinity], cumulative: [5, 9], sum: 9, count: 9 };
    expect(histogramDelta(after, { bounds: [1, Infinity], cumulative: [2, 3], sum: 3, count: 3 })).toEqual({ bounds: [1, Infinity], cumulative: [3, 6], sum: 6, count: 6 });
    expect(histogramDelta(after, { bounds: [1, Infinity], cumulative: [20, 30], sum: 3, count: 30 })).toBe(after);
  });
});

describe('stage breakdown', () => {
  async function scrape(feed: (s: StageTimings) => void): Promise<string> {
    const r = new Registry();
    const s = new StageTimings([r]);
    feed(s);
    return r.metrics();
  }

  it('splits the mean into stages and their shares, from one scrape or the difference of two', async () => {
    const one = (s: StageTimings): void => {
      s.durable(0.002); // accept +2 ms durable
      s.message(1000, 1003, 50, 51, 55); // read at +3 ms, fan-out +4..+8 ms
      s.acked(1000, 1020); // ack at +20 ms
    };
    const before = await scrape(one);
    const after = await scrape((s) => {
      one(s);
      s.durable(0.004);
      s.message(2000, 2010, 0, 2, 10); // read +10, start +12, end +20
      s.acked(2000, 2040);
    });
    const whole = stageBreakdown(after);
    expect(whole.stages.map((x) => x.count)).toEqual([2, 2, 2, 2, 2]);
    expect(whole.stages.map((x) => x.meanMs)).toEqual([3, 6.5, 8, 14, 30].map((v) => expect.closeTo(v, 6)));
    const delta = stageBreakdown(after, before);
    expect(delta.stages.map((x) => x.inStageMeanMs)).toEqual([4, 6, 2, 8, 20].map((v) => expect.closeTo(v, 6)));
    expect(delta.stages.map((x) => Math.round(x.sharePct!))).toEqual([10, 15, 5, 20, 50]);
    expect(delta.totalMeanMs).toBeCloseTo(40);
    const md = breakdownMarkdown(delta);
    expect(md).toContain('| vehicle (written → ack received) | 1 | 40.00 ms');
    expect(md).toContain('Largest share: vehicle (written → ack received), 50% of 40.00 ms.');
  });

  it('counts persist only up to the read when the cursor read before the publisher was answered', async () => {
    const b = stageBreakdown(
      await scrape((s) => {
        s.durable(0.011); // the append returned late (after the fan-out)
        s.message(1000, 1007, 0, 1, 2); // read +7, start +8, end +9
      }),
    );
    expect(b.stages.map((x) => x.inStageMeanMs)).toEqual([7, 0, 1, 1, undefined].map((v) => (v === undefined ? undefined : expect.closeTo(v, 6))));
    expect(b.totalMeanMs).toBeCloseTo(9);
    expect(breakdownMarkdown(b)).toContain('read messages before their publisher was answered');
  });

  it('says so when a scrape has no stage timings', () => {
    expect(breakdownMarkdown(stageBreakdown('abe_other 1\n'))).toContain('No stage timings');
  });
});

describe('lag and top-N areas', () => {
  it('publishes the sweep snapshot only at the end of a sweep', async () => {
    const r = new Registry();
    const lag = new SubscriberLag([r]);
    for (const v of [0, 0, 3, 700, 250_000]) lag.observe(v);
    let s = Samples.parse(await r.metrics());
    expect(s.sum('abe_subscriber_lag_messages', { le: '+Inf' })).toBe(0);
    lag.endSweep();
    s = Samples.parse(await r.metrics());
    expect(s.sum('abe_subscriber_lag_messages', { le: '0' })).toBe(2);
    expect(s.sum('abe_subscriber_lag_messages', { le: '5' })).toBe(3);
    expect(s.sum('abe_subscriber_lag_messages', { le: '1000' })).toBe(4);
    expect(s.sum('abe_subscriber_lag_messages', { le: '+Inf' })).toBe(5);
    expect(s.sum('abe_subscriber_lag_max_messages')).toBe(250_000);
    lag.endSweep(); // an empty sweep empties it
    expect(Samples.parse(await r.metrics()).sum('abe_subscriber_lag_messages', { le: '+Inf' })).toBe(0);
  });

  it('exports at most 2N areas: the top N by subscribers and the top N by lag', async () => {
    const r = new Registry();
    const top = new AreaTop(3, [r]);
    for (let i = 0; i < 1000; i++) top.report(`a${i}`, 100, 100 - (i % 7 === 0 ? i : 0), i % 50, i % 7 === 0 ? i : 0);
    const s = Samples.parse(await r.metrics());
    const areas = s.all('abe_area_subscribers').map((x) => x.labels.area);
    expect(areas.length).toBeLessThanOrEqual(6);
    expect(areas).toContain('a994'); // largest lag (994 = 7 * 142)
    expect(s.all('abe_area_subscribers').filter((x) => x.value === 49).length).toBeGreaterThanOrEqual(3);
    expect(s.sum('abe_area_max_lag_messages', { area: 'a994' })).toBe(994);
    top.forget('a994');
    await new Promise((res) => setTimeout(res, 110)); // selection is cached for 100 ms
    expect(Samples.parse(await r.metrics()).all('abe_area_subscribers').map((x) => x.labels.area)).not.toContain('a994');
  });
});

describe('createMetrics', () => {
  it('starts known label values at 0 and bounds auth failure reasons', async () => {
    const m = createMetrics();
    m.authFailures('bad signature').inc();
    m.authFailures('some: attacker-chosen text').inc();
    m.authFailures('missing_token').inc();
    const s = Samples.parse(await m.registry.metrics());
    expect(s.sum('abe_publishes_total', { result: 'error' })).toBe(0);
    expect(s.sum('abe_connection_closes_total', { reason: 'slow_consumer' })).toBe(0);
    expect(s.sum('abe_auth_failures_total', { reason: 'bad_signature' })).toBe(1);
    expect(s.sum('abe_auth_failures_total', { reason: 'other' })).toBe(1);
    expect(s.sum('abe_auth_failures_total', { reason: 'missing_token' })).toBe(1);
    expect(authReason('token expired: at 12:00')).toBe('token_expired');
    expect(s.all('abe_auth_failures_total').length).toBeLessThan(15);
  });

  it('aggregates across processes as the primary will (issue 6): sums, max, min, worker labels apart', async () => {
    const workers = ['0', '1'].map((worker) => createMetrics({ worker }));
    workers.forEach((m, i) => {
      m.wsConnections.inc();
      m.areaTop.report('a', 10 + i, 5 + i, 3, 5);
      m.probe({ ready: () => i === 0 });
      m.stages.durable(0.001);
    });
    const merged = AggregatorRegistry.aggregate(await Promise.all(workers.map((m) => m.registry.getMetricsAsJSON())));
    const s = Samples.parse(await merged.metrics());
    expect(s.sum('abe_connections', { worker: '0' })).toBe(1);
    expect(s.sum('abe_connections', { worker: '1' })).toBe(1);
    expect(s.sum('abe_area_head_offset', { area: 'a' })).toBe(11);
    expect(s.sum('abe_area_min_acked_offset', { area: 'a' })).toBe(5);
    expect(s.sum('abe_area_subscribers', { area: 'a' })).toBe(6);
    expect(s.sum('abe_ready')).toBe(0);
    expect(s.sum('abe_stage_latency_seconds_count', { stage: 'durable' })).toBe(2);
    expect(s.all('abe_build_info')).toHaveLength(1);
  });

  it('appendSeconds also feeds the durable stage', async () => {
    const m = createMetrics();
    m.appendSeconds.observe(0.004);
    const s = Samples.parse(await m.registry.metrics());
    expect(s.sum('abe_log_append_duration_seconds_count')).toBe(1);
    expect(s.sum('abe_stage_latency_seconds_count', { stage: 'durable' })).toBe(1);
  });
});

describe('LiveSampler (the /dashboard data)', () => {
  it('turns two snapshots into rates, percentiles, the stage split and top areas', async () => {
    const m = createMetrics();
    const live = LiveSampler.of(m);
    live.touch(); // starts the 1 s timer (unref'd) and takes the first snapshot
    await live.tick();
    expect(live.state(false).point).toBeNull();
    m.publishes('ok').inc(20);
    m.areas.delivered.inc(2000);
    m.appendSeconds.observe(0.002);
    m.stages.message(1000, 1003, 0, 1, 6); // read +3 ms, fan-out +4 .. +9 ms
    m.areaTop.report('busy', 50, 10, 7, 40);
    m.areaTop.report('quiet', 50, 50, 1, 0);
    await new Promise((r) => setTimeout(r, 200));
    await live.tick();
    live.stop();
    const st = live.state(true);
    const p = st.point!;
    expect(p.rates.publishes).toBeGreaterThan(20); // 20 over ~0.2 s
    expect(p.rates.delivered / p.rates.publishes).toBeCloseTo(100, 0);
    expect(p.latency.p99).toBeGreaterThan(7.5);
    expect(p.latency.p99).toBeLessThanOrEqual(10);
    expect(p.stageMs.durable).toBeCloseTo(2);
    expect(p.stageMs.fanout_end).toBeCloseTo(5);
    expect(st.history).toHaveLength(1);
    expect(st.topAreas.map((a) => a.area)).toEqual(['busy', 'quiet']);
    expect(st.topAreas[0]).toMatchObject({ subscribers: 7, maxLag: 40, head: 50, minAcked: 10 });
    expect(JSON.parse(JSON.stringify(st))).toMatchObject({ ready: true, logHealthy: true, worker: '0' });
  });
});
