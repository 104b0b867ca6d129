/**
 * The whole harness at toy scale (a few hundred vehicles, seconds): `npm run loadtest` against the
 * engine with 2 processes and the bare broadcaster in one invocation, and a reconnect storm.
 * Checks the report files and keys, not performance (the machine is shared).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from './swarm.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function loadtest(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'loadtest/run.ts', ...args], { cwd: REPO, timeout: 120_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out: stdout + stderr }),
    );
  });
}

const tiny = ['--set', 'connections=300', '--set', 'vehiclesPerWorker=150', '--set', 'warmupSeconds=1', '--set', 'settleTimeoutSeconds=20'];

describe('npm run loadtest (toy scale)', () => {
  it('runs engine (2 processes) and bare in one invocation and writes OMB keys, tables and charts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'abe-lt-'));
    dirs.push(dir);
    const out = join(dir, 'r.json');
    const r = await loadtest(['smoke-1k', ...tiny, '--set', 'durationSeconds=3', '--set', 'acks=false', '--target', 'engine,bare', '--engine-workers', '2', '--out', out]);
    expect(r.code, r.out.slice(-3000)).toBe(0);
    for (const t of ['engine', 'bare']) {
      const res = JSON.parse(readFileSync(join(dir, `r-${t}.json`), 'utf8')) as Record<string, unknown> & { engine: { processes: number; pids: number[] } };
      for (const k of ['aggregatedEndToEndLatencyAvg', 'aggregatedEndToEndLatency50pct', 'aggregatedEndToEndLatency9999pct', 'aggregatedEndToEndLatencyMax', 'aggregatedEndToEndLatencyQuantiles', 'messageSize', 'connections', 'connectTimeSeconds', 'delivered', 'expected', 'deliveriesPerSecond']) {
        expect(res, k).toHaveProperty(k);
      }
      expect(res.target).toBe(t);
      expect([res.lost, res.duplicated, res.outOfOrder]).toEqual([0, 0, 0]);
      expect(res.subscribed).toBe(300);
      expect(res.engine.processes).toBe(2);
      expect(res.engine.pids.length).toBe(3); // primary + 2 workers
      expect(existsSync(join(dir, `r-${t}.svg`))).toBe(true);
    }
    const cmp = readFileSync(join(dir, 'r-comparison.md'), 'utf8');
    expect(cmp).toMatch(/engine \/ bare deliveries per second/);
    expect(readFileSync(join(dir, 'r-comparison.svg'), 'utf8').match(/<path /g)).toHaveLength(2);
  }, 150_000);

  it('a reconnect storm against 2 engine processes: every vehicle resumes with its offsets, nothing lost or repeated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'abe-lt-'));
    dirs.push(dir);
    const out = join(dir, 'storm.json');
    const r = await loadtest(['reconnect-storm-19k', ...tiny, '--set', 'durationSeconds=5', '--set', 'reconnectStorm={"atSecond":2,"jitterMs":500}', '--engine-workers', '2', '--out', out]);
    expect(r.code, r.out.slice(-3000)).toBe(0);
    const res = JSON.parse(readFileSync(out, 'utf8')) as { lost: number; duplicated: number; outOfOrder: number; reconnect: { dropped: number; resubscribed: number; recoveredFalse: number } };
    expect([res.lost, res.duplicated, res.outOfOrder]).toEqual([0, 0, 0]);
    expect(res.reconnect).toMatchObject({ dropped: 300, resubscribed: 300, recoveredFalse: 0 });
    expect(readFileSync(join(dir, 'storm.md'), 'utf8')).toMatch(/## Reconnects/);
  }, 150_000);

  it("MQTT QoS 1 vehicles on the engine's MQTT port (2 processes) resume their sessions after a storm with nothing lost", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'abe-lt-'));
    dirs.push(dir);
    const out = join(dir, 'mqtt.json');
    const r = await loadtest(['reconnect-storm-19k', ...tiny, '--set', 'transport=mqtt-qos1', '--set', 'durationSeconds=5', '--set', 'reconnectStorm={"atSecond":2,"jitterMs":500}', '--engine-workers', '2', '--out', out]);
    expect(r.code, r.out.slice(-3000)).toBe(0);
    const res = JSON.parse(readFileSync(out, 'utf8')) as { lost: number; duplicated: number; outOfOrder: number; delivered: number; reconnect: { resubscribed: number; recoveredFalse: number } };
    // QoS 1 is at least once: offsets seen again are `mqttRedelivered`, never `duplicated`.
    expect([res.lost, res.duplicated, res.outOfOrder]).toEqual([0, 0, 0]);
    expect(res.delivered).toBeGreaterThan(0);
    expect(res.reconnect).toMatchObject({ resubscribed: 300, recoveredFalse: 0 });
  }, 150_000);
});
