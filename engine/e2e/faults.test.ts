/**
 * Fault injection [issue 13 "Regression armour"]: the engine keeps serving through a slow fsync,
 * an append failure at the log boundary, and a kill -9 of one worker under a publish load.
 * (A real full disk is engine/e2e/full-disk.test.ts; kill -9 of a whole engine is kill9.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLog } from '../log/factory.ts';
import { FaultyLog } from '../log/testing/faulty-log.ts';
import { createLogger } from '../logger.ts';
import { history, http, publish, range, spawnEngine, startTestEngine, tempDir, trackChildEngines, until, Vehicle, type TestEngine } from '../testing/harness.ts';

let t: TestEngine | undefined;
const { children, dirs, cleanup } = trackChildEngines();
afterEach(async () => {
  await t?.stop();
  t = undefined;
  await cleanup();
});

async function faultyEngine(flags: string[] = []): Promise<{ t: TestEngine; log: FaultyLog }> {
  let log: FaultyLog | undefined;
  const engine = await startTestEngine(flags, {
    log: async (config) => (log = new FaultyLog(await createLog(config, createLogger('silent')))),
  });
  return { t: engine, log: log! };
}

describe('slow fsync (appends held until the disk answers)', () => {
  it('publishes over --max-pending-appends get 429, the rest are delivered in order; the engine answers meanwhile', async () => {
    const f = await faultyEngine(['--max-pending-appends', '10']);
    t = f.t;
    const v = await t.connect();
    await v.subscribe('slow:a');
    const release = f.log.hold();
    let settled = 0;
    const pending = range(1, 30).map((i) => publish(t!.base, 'slow:a', { i }).finally(() => settled++));
    // 10 wait on the "disk", the other 20 are refused at once; the engine answers meanwhile.
    await until('20 refusals while 10 appends wait', () => settled === 20 && f.log.appendsAttempted === 10);
    expect((await http(t.base, '/healthz')).status).toBe(200);
    release();
    const answers = await Promise.all(pending);
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    expect(answers.filter((a) => a.status === 429).every((a) => (a.body as { code: string }).code === 'rate_limited')).toBe(true);
    const offsets = answers.filter((a) => a.status === 201).map((a) => (a.body as { offset: number }).offset);
    expect([...offsets].sort((a, b) => a - b)).toEqual(range(1, 10));
    await v.waitOffset('slow:a', 10);
    expect(v.offsets('slow:a')).toEqual(range(1, 10));
    // Delivered payloads are exactly the accepted ones, at the offsets their publishers were told.
    const accepted = new Map<number, number>();
    answers.forEach((a, k) => {
      if (a.status === 201) accepted.set((a.body as { offset: number }).offset, k + 1);
    });
    expect(v.messages('slow:a').map((m) => [m.offset, (m.data as { i: number }).i])).toEqual([...accepted].sort((a, b) => a[0] - b[0]));
  });

  it('a vehicle on another area is not slowed by the slow appends: its ping is answered while appends wait', async () => {
    const f = await faultyEngine();
    t = f.t;
    const v = await t.connect();
    const release = f.log.hold();
    const slow = publish(t.base, 'slow:b', { i: 1 });
    await until('append pending', () => f.log.appendsAttempted === 1);
    v.send({ type: 'ping', id: 'p1' });
    await v.waitFrame('pong', (fr) => fr.type === 'pong');
    expect((await http(t.base, '/healthz')).status).toBe(200);
    expect(f.log.appendsAttempted).toBe(1);
    release();
    expect((await slow).status).toBe(201);
  });
});

describe('an append failure at the log boundary (EIO)', () => {
  it('503 log_unavailable and not ready while it lasts, deliveries of what is stored go on, then writes resume', async () => {
    const f = await faultyEngine();
    t = f.t;
    const v = await t.connect();
    await v.subscribe('eio:a');
    for (let i = 1; i <= 3; i++) expect((await publish(t.base, 'eio:a', { i })).status).toBe(201);
    f.log.failAppends = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    const r = await publish(t.base, 'eio:a', { i: 4 });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ code: 'log_unavailable' });
    expect((await http(t.base, '/readyz')).status).toBe(503);
    await v.waitOffset('eio:a', 3);
    f.log.failAppends = undefined;
    expect((await http(t.base, '/readyz')).status).toBe(200);
    expect((await publish(t.base, 'eio:a', { i: 5 })).body).toMatchObject({ offset: 4 });
    await v.waitOffset('eio:a', 4);
    expect(v.offsets('eio:a')).toEqual(range(1, 4));
    expect((await history(t.base, 'eio:a')).map((m) => (m.data as { i: number }).i)).toEqual([1, 2, 3, 5]);
  });
});

describe('kill -9 of one worker under a publish load (--workers 2)', () => {
  it('every acknowledged publish is stored once; vehicles of the dead worker resume and get exactly what they missed; the others never notice', async () => {
    const dir = await tempDir('abe-faults-');
    dirs.push(dir);
    const c = await spawnEngine(dir, ['--workers', '2']);
    children.push(c);
    const area = 'faults:load';
    const vehicles: { v: Vehicle; epoch: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const v = await Vehicle.connect(c.wsUrl);
      vehicles.push({ v, epoch: (await v.subscribe(area)).epoch as string });
    }
    const pids = workerPids(await (await fetch(`${c.base}/metrics`)).text());
    expect(pids.size).toBe(2);

    // 6 publishers in a loop; every 201 is remembered with its payload.
    const acked = new Map<number, number>();
    let seq = 0;
    let stop = false;
    const publisher = async (): Promise<void> => {
      while (!stop) {
        const mine = ++seq;
        const r = await publish(c.base, area, { seq: mine }).catch(() => undefined);
        if (r?.status === 201) acked.set((r.body as { offset: number }).offset, mine);
      }
    };
    const publishers = Promise.all(range(1, 6).map(() => publisher()));
    await until('100 acknowledged publishes', () => acked.size >= 100, 20_000);
    process.kill(pids.get('1')!, 'SIGKILL');
    await until('200 more acknowledged publishes', () => acked.size >= 300, 30_000);
    stop = true;
    await publishers;

    // The dead worker's vehicles were closed; they come back with (epoch, offset) and resume.
    const head = Math.max(...acked.keys());
    const final: Vehicle[] = [];
    for (const { v, epoch } of vehicles) {
      if (v.closeInfo === undefined) {
        final.push(v);
        continue;
      }
      const last = v.offsets(area).at(-1) ?? 0;
      const back = await Vehicle.connect(c.wsUrl);
      expect((await back.subscribe(area, { epoch, offset: last })).recovered).toBe(true);
      await back.waitOffset(area, head, 20_000);
      expect([...v.offsets(area), ...back.offsets(area)]).toEqual(range(1, back.offsets(area).at(-1)!));
      back.close();
    }
    expect(final.length).toBeGreaterThan(0);
    expect(final.length).toBeLessThan(12);
    for (const v of final) {
      await v.waitOffset(area, head, 20_000);
      expect(v.offsets(area).slice(0, head)).toEqual(range(1, head));
    }
    // Stored exactly what was acknowledged, once each (publishes cut off by the kill may be stored unanswered).
    const stored = await history(c.base, area);
    expect(stored.map((m) => m.offset)).toEqual(range(1, stored.length));
    for (const [offset, mine] of acked) expect(stored[offset - 1]!.data).toEqual({ seq: mine });
    for (const { v } of vehicles) v.close();
  }, 90_000);
});

function workerPids(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^abe_cluster_worker_info\{worker="(\d+)",pid="(\d+)"\} 1$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}
