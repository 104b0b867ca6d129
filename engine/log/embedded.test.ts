import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeLogContract } from './contract.ts';
import { ManualClock, collect, offsets, range, waitUntil } from './contract-support.ts';
import { EmbeddedLog } from './embedded.ts';
import { embeddedFactory, embeddedOptions, removeDir, spawnAppender, tempDir } from './testing/embedded-harness.ts';
import type { AppendRequest } from './types.ts';

describeLogContract('EmbeddedLog (durability flush)', embeddedFactory('flush'));
describeLogContract('EmbeddedLog (durability commit)', embeddedFactory('commit'));

const req = (text: string, extra: Partial<AppendRequest> = {}): AppendRequest => ({
  payload: Buffer.from(text),
  contentType: 'binary',
  time: Date.now(),
  expiresAt: 0,
  ...extra,
});

describe('EmbeddedLog specifics', () => {
  let dir: string;
  const logs: EmbeddedLog[] = [];
  const openLog = async (extra: Parameters<typeof embeddedOptions>[1] = {}): Promise<EmbeddedLog> => {
    const log = new EmbeddedLog(embeddedOptions(dir, extra));
    logs.push(log);
    await log.open();
    return log;
  };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close().catch(() => {});
    await removeDir(dir);
  });

  it('forgets idempotency keys after idempotencyTtlMs', async () => {
    const clock = new ManualClock();
    const log = await openLog({ idempotencyTtlMs: 1000, now: () => clock.now() });
    expect(await log.append('a', req('x', { idempotencyKey: 'k' }))).toMatchObject({ offset: 1, duplicate: false });
    clock.advance(900);
    expect(await log.append('a', req('x', { idempotencyKey: 'k' }))).toMatchObject({ offset: 1, duplicate: true });
    clock.advance(200);
    await log.sweep();
    expect(await log.append('a', req('x', { idempotencyKey: 'k' }))).toMatchObject({ offset: 2, duplicate: false });
    // expired even when no sweep ran yet
    clock.advance(1500);
    expect(await log.append('a', req('x', { idempotencyKey: 'k' }))).toMatchObject({ offset: 3, duplicate: false });
    expect(await log.append('a', req('x', { idempotencyKey: 'k' }))).toMatchObject({ offset: 3, duplicate: true });
  });

  it('hashes very long idempotency keys instead of failing', async () => {
    const log = await openLog();
    const key = 'k'.repeat(5000);
    expect((await log.append('a', req('x', { idempotencyKey: key }))).offset).toBe(1);
    expect(await log.append('a', req('x', { idempotencyKey: key }))).toMatchObject({ offset: 1, duplicate: true });
    expect((await log.append('a', req('x', { idempotencyKey: key + 'x' }))).offset).toBe(2);
  });

  it('runs the retention sweep on its own timer', async () => {
    const log = await openLog({ retention: { maxCount: 2, maxAgeMs: 0 }, retentionSweepMs: 20 });
    for (let i = 0; i < 5; i++) await log.append('a', req(`m${i}`));
    let first = 0;
    const poll = setInterval(() => void log.state('a').then((s) => (first = s.first)), 5);
    await waitUntil(() => first === 4, 'the sweep timer to trim').finally(() => clearInterval(poll));
    expect(await log.state('a')).toMatchObject({ head: 5, first: 4 });
  });

  it('trims a backlog larger than one sweep transaction', async () => {
    const log = await openLog({ retention: { maxCount: 1, maxAgeMs: 0 }, durability: 'commit' });
    for (let chunk = 0; chunk < 6; chunk++) {
      await Promise.all(range(1, 2000).map((i) => log.append('a', req(`m${chunk}-${i}`))));
    }
    await log.sweep();
    expect(await log.state('a')).toMatchObject({ head: 12000, first: 12000 });
    expect(offsets(await log.read('a', 0, 10))).toEqual([12000]);
  });

  it('after a failed write: unhealthy, appends refused at once, until a probe write succeeds by itself', async () => {
    const changes: [boolean, string][] = [];
    const log = await openLog({ writeProbeMs: 20, onWritable: (w, r) => changes.push([w, r]) });
    const env = (log as unknown as { env: { childTransaction: (cb: () => unknown) => Promise<unknown> } }).env;
    const original = env.childTransaction;
    let attempts = 0;
    env.childTransaction = () => {
      attempts++;
      return Promise.reject(new Error('MDB_MAP_FULL (simulated)'));
    };
    await expect(log.append('a', req('x'))).rejects.toMatchObject({ code: 'log_unavailable' });
    expect(log.healthy()).toBe(false);
    const before = attempts;
    // Refused without touching LMDB (a full disk would fail it again).
    await expect(log.append('a', req('x'))).rejects.toMatchObject({ code: 'log_unavailable', message: expect.stringContaining('MDB_MAP_FULL') });
    await until(() => attempts > before + 1); // the probe keeps trying
    expect(log.healthy()).toBe(false);
    env.childTransaction = original;
    await until(() => log.healthy());
    expect((await log.append('a', req('y'))).offset).toBe(1);
    expect(changes.map(([w]) => w)).toEqual([false, true]);
    expect(changes[0]![1]).toContain('MDB_MAP_FULL');
  });

  it('with durability flush, a tail delivers only offsets some completed fsync covers', async () => {
    // The 1 ms poll sees commits before their own flush; the durable watermark must hold them back
    // until either their append's flush or an env-wide sync started after they were committed.
    const log = await openLog({ tailPollMs: 1, durability: 'flush' });
    const inner = log as unknown as { env: { sync(cb: (e?: unknown) => void): void }; headEntry(a: string): [number, number] | undefined };
    let durableThrough = 0;
    const originalSync = inner.env.sync.bind(inner.env);
    inner.env.sync = (cb) => {
      const headAtCall = inner.headEntry('a')?.[0] ?? 0;
      originalSync((e) => {
        if (!e) durableThrough = Math.max(durableThrough, headAtCall);
        cb(e);
      });
    };
    const early: number[] = [];
    const seen: number[] = [];
    const tail = log.tail('a', 0, (records) => {
      for (const r of records) {
        seen.push(r.offset);
        if (r.offset > durableThrough) early.push(r.offset);
      }
    });
    for (let round = 0; round < 20; round++) {
      await Promise.all(range(1, 25).map((i) => log.append('a', req(`r${round}-${i}`)).then((res) => (durableThrough = Math.max(durableThrough, res.offset)))));
    }
    await waitUntil(() => seen.length === 500, 'all 500 delivered', 5000);
    tail.close();
    expect(early).toEqual([]);
    expect(seen).toEqual(range(1, 500));
  });

  it('area state and range reads never name an offset before it is durable', async () => {
    const log = await openLog({ tailPollMs: 60_000, durability: 'flush' });
    const inner = log as unknown as { env: { flushed: Promise<boolean>; sync(cb: (e?: unknown) => void): void }; headEntry(a: string): [number] | undefined };
    await log.append('a', req('first'));
    // Hold every fsync back (the append's own flush and env-wide syncs): offset 2 gets committed
    // (visible) but not durable.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const originalSync = inner.env.sync.bind(inner.env);
    inner.env.sync = (cb) => void gate.then(() => originalSync(cb));
    Object.defineProperty(inner.env, 'flushed', { configurable: true, get: () => gate.then(() => true) });
    const pending = log.append('a', req('second'));
    await waitUntil(() => inner.headEntry('a')?.[0] === 2, 'commit of offset 2', 2000);
    let settled = false;
    const st = log.state('a');
    const rd = log.read('a', 1, 10);
    void Promise.all([st, rd]).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    delete (inner.env as { flushed?: unknown }).flushed;
    release();
    expect((await pending).offset).toBe(2);
    expect((await st).head).toBe(2);
    expect((await rd).map((r) => r.offset)).toEqual([1, 2]);
  });

  it('wakes tails on local appends without waiting for the poll', async () => {
    const log = await openLog({ tailPollMs: 60_000 });
    const c = collect(log, 'a', 0);
    const started = Date.now();
    await log.append('a', req('x'));
    await c.reach(1, 1000);
    expect(Date.now() - started).toBeLessThan(500);
    await Promise.all(range(2, 50).map((i) => log.append('a', req(`m${i}`))));
    await c.reach(50, 1000);
    expect(offsets(c.records)).toEqual(range(1, 50));
  });

  it('delivers a long backlog to a tail in bounded batches', async () => {
    const log = await openLog({ durability: 'commit', tailBatchSize: 100 });
    await Promise.all(range(1, 1050).map((i) => log.append('a', req(`m${i}`))));
    const c = collect(log, 'a', 0);
    await c.reach(1050);
    expect(offsets(c.records)).toEqual(range(1, 1050));
    expect(c.batches).toBeGreaterThanOrEqual(11);
    expect(c.problems).toEqual([]);
  });

  for (const durability of ['commit', 'flush'] as const) {
    it(`keeps every acknowledged append when the appender is killed with SIGKILL (${durability})`, async () => {
      const child = spawnAppender(dir, 'a', 0, 8, durability);
      await child.ready;
      await waitUntil(() => child.acks.length >= 400, 'child acks', 20_000);
      child.proc.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
      const acked = [...child.acks];
      const log = await openLog();
      const state = await log.state('a');
      const maxAcked = Math.max(...acked.map((a) => a.offset));
      expect(state.head).toBeGreaterThanOrEqual(maxAcked);
      expect(state.first).toBe(1);
      const all = await log.read('a', 1, state.head + 10);
      expect(offsets(all)).toEqual(range(1, state.head));
      for (const { offset, seq } of acked) expect(Buffer.from(all[offset - 1]!.payload).toString()).toBe(`s${seq}`);
      expect(new Set(acked.map((a) => a.offset)).size).toBe(acked.length);
      expect((await log.append('a', req('after'))).offset).toBe(state.head + 1);
    });
  }

  it('tails appends made by another process (polling) while appending here too', async () => {
    const log = await openLog({ tailPollMs: 10 });
    const c = collect(log, 'shared', 0);
    const other = collect(log, 'other', 0);
    const child = spawnAppender(dir, 'shared', 300, 4, 'commit');
    await child.ready;
    const mine = await Promise.all(range(1, 100).map((i) => log.append('shared', req(`p${i}`))));
    const exit = await child.exited;
    expect(exit.code, child.stderr()).toBe(0);
    await c.reach(400, 10_000);
    expect(offsets(c.records)).toEqual(range(1, 400));
    expect(c.problems).toEqual([]);
    const allOffsets = [...mine.map((r) => r.offset), ...child.acks.map((a) => a.offset)].sort((x, y) => x - y);
    expect(allOffsets).toEqual(range(1, 400));
    expect(other.records).toEqual([]);
    expect(await log.state('shared')).toMatchObject({ head: 400, first: 1 });
  });

  it('sees the epoch created by another process', async () => {
    const child = spawnAppender(dir, 'a', 3, 1, 'flush');
    await child.exited;
    const log = await openLog();
    const { epoch } = await log.state('a');
    expect(epoch).toMatch(/^[0-9a-f]{16}$/);
    expect((await log.append('a', req('x'))).epoch).toBe(epoch);
    expect((await log.state('a')).head).toBe(4);
  });
});

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
