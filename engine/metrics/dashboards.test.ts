/**
 * dashboards/ against a real engine [issue 5]: the committed Grafana JSON and alert rules are what
 * engine/metrics/grafana/ generates, and every metric their PromQL reads exists in a real
 * /metrics scrape of an engine that published, delivered and took acks.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, publishOk, startTestEngine, until, type TestEngine } from '../testing/harness.ts';
import { Samples } from './exposition.ts';
import { DASHBOARDS_DIR, renderAll } from './grafana/build.ts';
import { promqlNames } from './grafana/promql.ts';
import { RULES } from './grafana/rules.ts';
import { stageBreakdown } from './breakdown.ts';

/** Series Prometheus makes itself, not the engine. */
const PROMETHEUS_SYNTHETIC = new Set(['up']);

interface Query {
  readonly where: string;
  readonly expr: string;
}

function dashboardQueries(): Query[] {
  const out: Query[] = [];
  for (const [file, content] of renderAll()) {
    if (!file.endsWith('.json')) continue;
    const d = JSON.parse(content) as { panels: { title: string; targets?: { expr: string }[] }[]; templating: { list: { name: string; definition?: string }[] } };
    for (const p of d.panels) for (const t of p.targets ?? []) out.push({ where: `${file} panel "${p.title}"`, expr: t.expr });
    for (const v of d.templating.list) {
      // label_values(metric{...}, label): the metric must exist too.
      const m = /label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(v.definition ?? '');
      if (m !== null) out.push({ where: `${file} variable $${v.name}`, expr: m[1] });
    }
  }
  return out;
}

describe('dashboards/ files', () => {
  it('are what engine/metrics/grafana generates (run its build.ts after editing)', () => {
    for (const [name, content] of renderAll()) {
      expect(readFileSync(new URL(name, DASHBOARDS_DIR), 'utf8'), `dashboards/${name} is stale: node --import tsx engine/metrics/grafana/build.ts`).toBe(content);
    }
  });

  it('name only PromQL functions that exist, and some metric in every query', () => {
    const queries = [...dashboardQueries(), ...RULES.map((r) => ({ where: `rule ${r.alert}`, expr: r.expr }))];
    expect(queries.length).toBeGreaterThan(50);
    for (const q of queries) {
      const n = promqlNames(q.expr);
      expect(n.unknownFunctions, q.where).toEqual([]);
      expect(n.metrics.length, `${q.where}: ${q.expr}`).toBeGreaterThan(0);
    }
  });

  it('the name extractor sees through matchers, ranges, grouping and variables', () => {
    const n = promqlNames('histogram_quantile(0.99, sum by (le, stage) (rate(abe_x_bucket{job=~"$job", stage="a b"}[$__rate_interval]))) > 1e3 and deriv((max by (job) (abe_y))[15m:1m]) > 0 unless on (job) up offset 5m');
    expect(n.metrics.sort()).toEqual(['abe_x_bucket', 'abe_y', 'up']);
    expect(promqlNames('sume(abe_x)').unknownFunctions).toEqual(['sume']);
  });
});

describe('every metric the dashboards and alert rules use is in a real scrape', () => {
  let t: TestEngine;
  let scrape: Samples;
  let text: string;

  beforeAll(async () => {
    t = await startTestEngine(['--sweep-interval-ms', '50']);
    const acker = await t.connect();
    const silent = await t.connect({ protocol: 'v1.msgpack' });
    await acker.subscribe('dash:a');
    await silent.subscribe('dash:a');
    await acker.subscribe('dash:b');
    for (let i = 0; i < 10; i++) {
      const { offset } = await publishOk(t.base, i % 2 === 0 ? 'dash:a' : 'dash:b', { i });
      await acker.waitOffset(i % 2 === 0 ? 'dash:a' : 'dash:b', offset);
      acker.ack(i % 2 === 0 ? 'dash:a' : 'dash:b', offset);
    }
    await acker.sync();
    // One of each trouble counter the page and the rules rate(): a bad ack, a REST 404.
    acker.ack('dash:nope', 1);
    await http(t.base, '/v1/areas/dash:a/nothing-here');
    await until('the sweep reported both areas and the ack stage', async () => {
      text = (await http(t.base, '/metrics')).text;
      scrape = Samples.parse(text);
      return (
        scrape.sum('abe_area_subscribers') === 3 &&
        scrape.sum('abe_area_head_offset', { area: 'dash:b' }) === 5 &&
        (scrape.sum('abe_stage_latency_seconds_count', { stage: 'ack' }) ?? 0) >= 10 &&
        scrape.sum('abe_bad_input_total', { code: 'not_subscribed' }) === 1
      );
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('dashboards', () => {
    const missing: string[] = [];
    for (const q of dashboardQueries()) {
      for (const name of promqlNames(q.expr).metrics) if (!scrape.has(name) && !PROMETHEUS_SYNTHETIC.has(name)) missing.push(`${name} (${q.where})`);
    }
    expect(missing).toEqual([]);
  });

  it('alert rules', () => {
    const missing: string[] = [];
    for (const r of RULES) {
      for (const name of promqlNames(r.expr).metrics) if (!scrape.has(name) && !PROMETHEUS_SYNTHETIC.has(name)) missing.push(`${name} (rule ${r.alert})`);
    }
    expect(missing).toEqual([]);
  });

  it('stage timings were recorded for every stage, in order', () => {
    for (const stage of ['durable', 'read', 'fanout_start', 'fanout_end', 'ack']) {
      expect(scrape.sum('abe_stage_latency_seconds_count', { stage }), stage).toBeGreaterThanOrEqual(10);
    }
    const b = stageBreakdown(text);
    const means = b.stages.map((s) => s.meanMs!);
    // read, fan-out start and end come from one clock reading plus monotonic deltas
    expect(means[2]).toBeGreaterThanOrEqual(means[1]);
    expect(means[3]).toBeGreaterThanOrEqual(means[2]);
    expect(b.lastStage).toBe('ack');
    expect(b.stages.reduce((a, s) => a + (s.sharePct ?? 0), 0)).toBeCloseTo(100, 0);
  });

  it('lag, per-area and probe gauges carry the engine state', () => {
    // the msgpack vehicle never acks: its lag is measured against what was sent, so 0
    expect(scrape.sum('abe_subscriber_lag_messages', { le: '+Inf' })).toBe(3);
    expect(scrape.sum('abe_area_subscribers', { area: 'dash:a' })).toBe(2);
    expect(scrape.sum('abe_area_head_offset', { area: 'dash:b' })).toBe(5);
    expect(scrape.sum('abe_subscriptions_by_state', { state: 'live' })).toBe(3);
    expect(scrape.sum('abe_connections', { transport: 'ws', worker: '0' })).toBe(2);
    expect(scrape.sum('abe_bad_input_total', { code: 'not_subscribed' })).toBe(1);
    expect(scrape.sum('abe_http_errors_total', { code: 'not_found' })).toBeGreaterThanOrEqual(1);
    expect(scrape.sum('abe_log_healthy')).toBe(1);
    expect(scrape.sum('abe_ready')).toBe(1);
    expect(scrape.all('abe_build_info')[0]?.labels.log).toBe('embedded');
  });
});
