/**
 * The swarm's pieces without sockets: scenario keys of issue 6, the transport mix, the offset
 * check across a reconnect, the max-rate producer's credit window, the report's table and chart.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { comparisonMarkdown, type TableRow } from './markdown.ts';
import type { ParsedMessage } from './message-parse.ts';
import { httpSender, runPublishSchedule } from './publisher.ts';
import { validateScenario } from './scenario.ts';
import { latencyChart } from './svg.ts';
import { CONNECTING, pendingOf, pickTransport, SUBSCRIBED, Tally, Vehicle } from './vehicles.ts';

const base = { name: 't', areas: 1, messageSize: 256, producerRate: 10, durationSeconds: 10, warmupSeconds: 0, connections: 100, transport: 'ws-json', acks: false };

describe('scenario keys (issue 6)', () => {
  it('fills defaults: engine processes from the connection count, one transport as a mix', () => {
    const s = validateScenario({ ...base, connections: 100_000 });
    expect(s.engineWorkers).toBe(6);
    expect(s.mix).toEqual([{ transport: 'ws-json', share: 1 }]);
    expect(s.maxInFlightMessages).toBe(32);
    expect(s.reconnectOnClose).toBe(false);
  });

  it('accepts max rate, a transport mix, a storm, churn and slow readers', () => {
    const { transport: _, ...noTransport } = base;
    const s = validateScenario({
      ...noTransport,
      producerRate: 'max',
      transportMix: { 'ws-json': 3, 'ws-msgpack': 1 },
      reconnectStorm: { atSecond: 5 },
      churnPerSecond: 10,
      slowReaders: { share: 0.1 },
    });
    expect(s.producerRate).toBe('max');
    expect(s.mix).toEqual([
      { transport: 'ws-json', share: 3 },
      { transport: 'ws-msgpack', share: 1 },
    ]);
    expect(s.reconnectStorm).toEqual({ atSecond: 5, share: 1, jitterMs: 1000 });
    expect(s.slowReaders).toEqual({ share: 0.1, pauseMs: 800, periodMs: 1000 });
  });

  it('refuses what it cannot run', () => {
    expect(() => validateScenario({ ...base, transport: 'mqtt-qos2' })).toThrow(/"transport" must be one of/);
    expect(() => validateScenario({ ...base, reconnectStorm: { atSecond: 10 } })).toThrow(/inside durationSeconds/);
    expect(() => validateScenario({ ...base, slowReaders: { share: 0.1, pauseMs: 1000, periodMs: 1000 } })).toThrow(/pauseMs/);
    expect(() => validateScenario({ ...base, producerRate: 'fast' })).toThrow(/producerRate/);
    expect(() => validateScenario({ ...base, churn: 1 })).toThrow(/unknown key "churn"/);
    expect(() => validateScenario({ ...base, engineRestart: { atSecond: 1, how: 'reboot' } })).toThrow(/engineRestart.how/);
    expect(() => validateScenario({ ...base, engineRestart: { atSecond: 10, how: 'sigterm' } })).toThrow(/inside durationSeconds/);
  });

  it('an engine-side storm implies reconnectOnClose (vehicles come back after the engine closed them)', () => {
    const s = validateScenario({ ...base, engineRestart: { atSecond: 2, how: 'kill9-workers', workers: 3 } });
    expect(s.engineRestart).toEqual({ atSecond: 2, how: 'kill9-workers', workers: 3 });
    expect(s.reconnectOnClose).toBe(true);
  });
});

describe('transport mix', () => {
  it('splits vehicles by share, deterministically', () => {
    const mix = [{ share: 0.7 }, { share: 0.3 }];
    const counts = [0, 0];
    for (let g = 0; g < 10_000; g++) counts[pickTransport(g, mix)]++;
    expect(counts[0]).toBeGreaterThan(6900);
    expect(counts[0]).toBeLessThan(7100);
    expect(pickTransport(1234, mix)).toBe(pickTransport(1234, mix));
  });
});

describe('offset check across a reconnect', () => {
  const msg = (offset: number): ParsedMessage => ({ offset, time: Date.now(), sentAtUs: Date.now() * 1000, warm: 0 });

  it('counts nothing lost when the resume replays what was missed', () => {
    const t = new Tally();
    const v = new Vehicle(0, 0, '127.0.0.1', 0, false);
    v.state = CONNECTING;
    t.onSubscribed(v, 10, 'e1', false, 1);
    for (const o of [11, 12]) t.message(v, msg(o), 100, Date.now() * 1000);
    v.state = CONNECTING; // dropped, comes back with (e1, 12)
    v.droppedAtUs = 1;
    t.onSubscribed(v, 15, 'e1', true, 1000);
    for (const o of [13, 14, 15, 16]) t.message(v, msg(o), 100, Date.now() * 1000);
    expect(v.state).toBe(SUBSCRIBED);
    expect([t.unique, t.duplicated, t.outOfOrder, t.resubscribed, t.recoveredFalse]).toEqual([6, 0, 0, 1, 0]);
    expect(pendingOf(v, 16)).toBe(0);
    expect(t.reconnectTime.totalCount).toBe(1);
  });

  it('a recovered:false resume leaves the missed offsets as a hole; late and repeated ones are told apart', () => {
    const t = new Tally();
    const v = new Vehicle(0, 0, '127.0.0.1', 0, false);
    t.onSubscribed(v, 0, 'e1', false, 1);
    t.message(v, msg(1), 10, 1);
    t.onSubscribed(v, 5, 'e1', false, 2);
    t.message(v, msg(6), 10, 3);
    expect(pendingOf(v, 6)).toBe(4);
    t.message(v, msg(3), 10, 4);
    t.message(v, msg(3), 10, 5);
    expect([t.outOfOrder, t.duplicated, t.recoveredFalse]).toEqual([1, 1, 1]);
    expect(pendingOf(v, 6)).toBe(3);
  });
});

describe('max-rate producer', () => {
  let server: http.Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('stays within `window` messages of the slowest reader, and follows it', async () => {
    let offset = 0;
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ offset: ++offset })));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    let floor = 0;
    setTimeout(() => (floor = 20), 300);
    const stats = await runPublishSchedule(
      httpSender({ host: '127.0.0.1', port }, ['a'], 8),
      { areas: ['a'], messageSize: 100, rate: 'max', window: 5, floors: () => [floor], warmupSeconds: 0, durationSeconds: 0.6, concurrency: 8, onMeasureStart: () => undefined, shouldStop: () => false },
    );
    expect(stats.ok).toBe(25);
    expect(stats.perArea[0].last).toBe(25);
  });
});

describe('report', () => {
  const row = (target: string, acks: boolean, p99: number, dps: number): TableRow =>
    ({
      workload: acks ? 'ack-storm' : 'ack-off',
      target,
      connections: 19_000,
      messageSize: 256,
      scenario: validateScenario({ ...base, acks }),
      aggregatedEndToEndLatencyAvg: 1,
      aggregatedEndToEndLatency50pct: 1,
      aggregatedEndToEndLatency99pct: p99,
      aggregatedEndToEndLatency999pct: p99,
      aggregatedEndToEndLatencyMax: p99,
      connectTimeSeconds: 1,
      delivered: 1,
      expected: 1,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      deliveriesPerSecond: dps,
      engine: { processes: 1 },
    }) as unknown as TableRow;

  it('tables runs like NTT, with engine/bare and ack-storm ratios', () => {
    const md = comparisonMarkdown([row('engine', true, 110, 900), row('engine', false, 100, 1000), { ...row('bare', false, 50, 1000), workload: 'ack-off' }]);
    expect(md).toMatch(/\| ack-storm \| 19,000 \| ws-json \| engine \| 1 \| 256 B @ 10\/s \| on \| 1\.0 ms/);
    expect(md).toMatch(/ack-off: engine \/ bare deliveries per second 100\.0%/);
    expect(md).toMatch(/ack storm \(ack-storm\) vs acks off \(ack-off\): P99 110\.0 vs 100\.0 ms \(\+10\.0%/);
  });

  it('draws one line per run in the latency chart', () => {
    const svg = latencyChart('t <1>', [
      { label: 'engine & co', quantiles: { '0.0': 1, '50.0': 10, '90.0': 20, '99.0': 40, '99.9': 80, '100.0': 90 } },
      { label: 'bare', quantiles: { '50.0': 5, '99.0': 30 } },
    ]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('engine &amp; co');
    expect(svg).toContain('t &lt;1&gt;');
    expect(svg).toContain('99.9%');
  });
});
