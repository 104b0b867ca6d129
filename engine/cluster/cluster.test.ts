/**
 * `--workers 2` as a child process (`node --import tsx engine/main.ts`): two engine workers on one
 * port (SO_REUSEPORT), one LMDB store, one aggregated /metrics, restarts after kill -9, going_away
 * on SIGTERM. Which worker a vehicle landed on is read from the aggregated scrape
 * (abe_connections{worker}) and the worker's pid from abe_cluster_worker_info.
 */
import nodeHttp from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { metricFrom, publishOk, range, spawnEngine, tempDir, until, Vehicle, type ChildEngine } from '../testing/harness.ts';
import { trackChildEngines } from '../testing/child-engine.ts';

const { children, dirs, cleanup } = trackChildEngines();
const vehicles: Vehicle[] = [];

afterEach(async () => {
  for (const v of vehicles.splice(0)) v.terminate();
  await cleanup();
});

async function startCluster(extra: string[] = []): Promise<ChildEngine> {
  const dir = await tempDir('abe-cluster-');
  dirs.push(dir);
  // --mqtt-port 0: never the default 1883, which another engine or broker on the machine may hold.
  const c = await spawnEngine(dir, ['--workers', '2', '--mqtt-port', '0', ...extra]);
  children.push(c);
  return c;
}

/** On failure, the engine's warnings and errors go into the test's error (children are killed after). */
afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') return;
  for (const c of children) process.stderr.write(`--- engine output (warnings and errors):\n${c.output().split('\n').filter((l) => !/"level":(20|30)/.test(l)).join('\n').slice(-6000)}\n`);
});

/**
 * GET /metrics on a new connection (a kept-alive one may lead to a worker this test just killed);
 * a connection refused or reset while a worker dies is retried.
 */
async function scrape(c: ChildEngine): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await scrapeFresh(c);
    } catch (err) {
      if (attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** GET /metrics on a new TCP connection (fetch would reuse one, i.e. always ask the same worker). */
function scrapeFresh(c: ChildEngine): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = nodeHttp.get(`${c.base}/metrics`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
  });
}

/** A raw MQTT 3.1.1 CONNECT (clean session) on a new TCP connection; resolves once CONNACK 0 arrives. */
function mqttConnect(port: number, clientId: string): Promise<net.Socket> {
  const id = Buffer.from(clientId);
  const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, id.length]), id]);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => sock.write(Buffer.concat([Buffer.from([0x10, body.length]), body])));
    sock.once('data', (d: Buffer) => (d[0] === 0x20 && d[3] === 0 ? resolve(sock) : reject(new Error(`CONNACK ${d.toString('hex')}`))));
    sock.once('error', reject);
  });
}

/** worker index -> pid, from abe_cluster_worker_info. */
function workerPids(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^abe_cluster_worker_info\{worker="(\d+)",pid="(\d+)"\} 1$/gm)) out.set(m[1], Number(m[2]));
  return out;
}

const wsConnections = (text: string, worker: string): number => metricFrom(text, 'abe_connections', { transport: 'ws', worker }) ?? 0;

/** Connects vehicles (subscribed to `area`) until each of the two workers holds at least one. */
async function vehicleOnEachWorker(c: ChildEngine, area: string): Promise<Map<string, { v: Vehicle; epoch: string; head: number }>> {
  const found = new Map<string, { v: Vehicle; epoch: string; head: number }>();
  let before = await scrape(c);
  for (let i = 0; i < 60 && found.size < 2; i++) {
    const v = await Vehicle.connect(c.wsUrl);
    vehicles.push(v);
    const sub = await v.subscribe(area);
    const after = await until('the new connection in the aggregated scrape', async () => {
      const t = await scrape(c);
      return wsConnections(t, '0') + wsConnections(t, '1') === vehicles.length ? t : undefined;
    });
    const worker = ['0', '1'].find((w) => wsConnections(after, w) > wsConnections(before, w))!;
    if (!found.has(worker)) found.set(worker, { v, epoch: sub.epoch as string, head: sub.offset as number });
    before = after;
  }
  expect(found.size).toBe(2);
  return found;
}

/** Publishes, retrying a request that hit a worker while it was dying (never answered = not published). */
async function publishRetry(base: string, area: string, data: unknown): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await publishOk(base, area, data)).offset;
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('engine --workers 2', () => {
  it('shares one port: a publish reaches vehicles on both workers with the same offset; kill -9 of a worker is repaired with no loss', async () => {
    const c = await startCluster();
    const area = 'cluster:a';
    const pids = workerPids(await scrape(c));
    expect([...pids.keys()].sort()).toEqual(['0', '1']);
    expect(pids.get('0')).not.toBe(pids.get('1'));

    const on = await vehicleOnEachWorker(c, area);
    const a = on.get('0')!;
    const b = on.get('1')!;
    expect(a.epoch).toBe(b.epoch);

    const first = await publishOk(c.base, area, { n: 1 });
    await a.v.waitOffset(area, first.offset);
    await b.v.waitOffset(area, first.offset);
    expect(a.v.messages(area).at(-1)!.offset).toBe(first.offset);
    expect(b.v.messages(area).at(-1)!.offset).toBe(first.offset);
    expect(a.v.messages(area).at(-1)!.data).toEqual({ n: 1 });
    expect(b.v.messages(area).at(-1)!.data).toEqual({ n: 1 });

    // kill -9 the worker that holds vehicle b; publish while it is down and while it restarts
    const victim = pids.get('1')!;
    process.kill(victim, 'SIGKILL');
    await b.v.waitClose();
    const lastSeenByB = b.v.messages(area).at(-1)!.offset;
    const missed: number[] = [];
    for (let i = 2; i <= 6; i++) missed.push(await publishRetry(c.base, area, { n: i }));
    const restarted = await until('worker 1 restarted with a new pid', async () => {
      const p = workerPids(await scrape(c)).get('1');
      return p !== undefined && p !== victim ? p : undefined;
    }, 20_000);
    expect(restarted).not.toBe(victim);
    const text = await scrape(c);
    expect(metricFrom(text, 'abe_cluster_worker_restarts_total', { worker: '1' })).toBe(1);
    expect(metricFrom(text, 'abe_cluster_workers', { state: 'ready' })).toBe(2);

    // vehicle b comes back (on whichever worker the kernel picks) with (epoch, offset)
    const back = await Vehicle.connect(c.wsUrl);
    vehicles.push(back);
    const resumed = await back.subscribe(area, { epoch: b.epoch, offset: lastSeenByB });
    expect(resumed.recovered).toBe(true);
    const live = await publishRetry(c.base, area, { n: 7 });
    await back.waitOffset(area, live);
    await a.v.waitOffset(area, live);
    expect(back.offsets(area)).toEqual([...missed, live]);
    expect(a.v.offsets(area)).toEqual(range(first.offset, live));
    expect(back.messages(area).map((m) => (m.data as { n: number }).n)).toEqual([2, 3, 4, 5, 6, 7]);
  }, 60_000);

  it('answers /metrics for every process in one scrape, whichever worker gets it', async () => {
    const c = await startCluster();
    for (let i = 0; i < 6; i++) await publishOk(c.base, 'cluster:m', { i });
    // A new connection per scrape, so scrapes land on either worker (10 of them all on one: 2^-9);
    // every one must show both workers and all 6 publishes.
    for (let i = 0; i < 10; i++) {
      const text = await scrapeFresh(c);
      expect(workerPids(text).size).toBe(2);
      expect(text).toMatch(/^abe_connections\{transport="ws",worker="0"\} /m);
      expect(text).toMatch(/^abe_connections\{transport="ws",worker="1"\} /m);
      expect(metricFrom(text, 'abe_publishes_total', { result: 'ok' })).toBe(6);
      expect(metricFrom(text, 'abe_cluster_scrape_missing_workers')).toBe(0);
    }
  }, 45_000);

  it('shares the MQTT port: one listening handle, connections handed to both workers', async () => {
    const c = await startCluster();
    const line = c.output().split('\n').find((l) => l.includes('"msg":"engine listening')) ?? '';
    const mqttPort = Number(/"mqttPort":(\d+)/.exec(line)?.[1]);
    expect(mqttPort).toBeGreaterThan(0);
    const socks = await Promise.all([0, 1, 2, 3].map((i) => mqttConnect(mqttPort, `cluster-mqtt-${i}`)));
    try {
      const text = await until('4 MQTT connections in the aggregated scrape', async () => {
        const t = await scrape(c);
        const per = ['0', '1'].map((w) => metricFrom(t, 'abe_connections', { transport: 'mqtt', worker: w }) ?? 0);
        return per[0] + per[1] === 4 ? per : undefined;
      });
      // round-robin hand-off by the primary: both workers hold MQTT connections
      expect(text[0]).toBeGreaterThan(0);
      expect(text[1]).toBeGreaterThan(0);
    } finally {
      for (const s of socks) s.destroy();
    }
  }, 45_000);

  it('SIGTERM to the primary: vehicles on every worker are closed with going_away and everything exits 0', async () => {
    const c = await startCluster();
    const on = await vehicleOnEachWorker(c, 'cluster:t');
    const pids = [...workerPids(await scrape(c)).values()];
    c.proc.kill('SIGTERM');
    for (const { v } of on.values()) expect(await v.waitClose()).toMatchObject({ code: 1001, reason: 'going_away' });
    expect(await c.exited).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(c.output()).toMatch(/stopped: every worker exited cleanly/);
  }, 45_000);

  it('reports a crash loop instead of restarting forever; the other worker keeps serving', { timeout: 90_000, retry: 1 }, async () => {
    const c = await startCluster();
    let victim = workerPids(await scrape(c)).get('1')!;
    for (let kill = 1; kill <= 5; kill++) {
      process.kill(victim, 'SIGKILL');
      if (kill === 5) break;
      victim = await until(`worker 1 back after kill ${kill}`, async () => {
        const p = workerPids(await scrape(c)).get('1');
        return p !== undefined && p !== victim ? p : undefined;
      }, 20_000);
    }
    const text = await until('the crash loop in the scrape', async () => {
      const t = await scrape(c);
      return metricFrom(t, 'abe_cluster_workers', { state: 'given_up' }) === 1 ? t : undefined;
    }, 10_000);
    expect(metricFrom(text, 'abe_cluster_crash_loops_total')).toBe(1);
    expect(metricFrom(text, 'abe_cluster_workers', { state: 'ready' })).toBe(1);
    expect(c.output()).toMatch(/crash loop/);
    expect(await publishRetry(c.base, 'cluster:c', { ok: true })).toBe(1);
    // Five worker restarts on two shared cores under the whole suite's load: one retry absorbs a
    // start-up that outlives a deadline; a real supervision bug fails both attempts.
  });
});
