/**
 * The SDK against a real engine child process over real sockets (`ws`): delivery, resume across
 * kill -9 of the engine and of one worker during a publish burst [issue 15 Proof 1].
 */
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, until } from '../../engine/testing/harness.ts';
import { Publisher, Recorder, SDK_WAIT_MS, TestEngine } from '../testing/engine.ts';
import { Client } from './client.ts';
import type { ClientOptions } from './types.ts';

const engines: TestEngine[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.disconnect();
  for (const e of engines.splice(0)) await e.close();
});

async function engine(flags: string[] = []): Promise<TestEngine> {
  const e = await TestEngine.start(flags);
  engines.push(e);
  return e;
}

function client(e: TestEngine, opts: Partial<ClientOptions> = {}): Client {
  const c = new Client({ url: e.wsUrl, WebSocket: WebSocket as never, minReconnectDelay: 100, maxReconnectDelay: 1000, ...opts });
  clients.push(c);
  return c;
}

describe('SDK delivery against the engine', () => {
  it('subscribes, receives in order in each format, survives a clean restart (1001) and resumes', async () => {
    const e = await engine();
    const pub = new Publisher(() => e);
    const rec = new Recorder();
    const c = client(e);
    const states: string[] = [];
    c.on('state', (s) => states.push(s.newState));
    const sub = c.subscribe('d:a', rec.handler);
    c.subscribe('d:b', rec.handler);
    c.connect();
    await sub.ready();
    for (let i = 0; i < 5; i++) await pub.publish('d:a', { i });
    await pub.publish('d:b', 'text');
    await until('first messages', () => rec.offsets('d:a').length === 5 && rec.offsets('d:b').length === 1, SDK_WAIT_MS);
    expect(rec.got.get('d:a')!.map((m) => m.data)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
    expect(rec.got.get('d:b')![0]).toEqual({ offset: 1, data: 'text', source: 'live' });
    await e.stop('SIGTERM');
    await e.restart();
    for (let i = 5; i < 10; i++) await pub.publish('d:a', { i });
    await until('after restart', () => rec.offsets('d:a').length === 10, 20_000);
    expect(rec.offsets('d:a')).toEqual(pub.offsetsOf('d:a'));
    // d:b is resubscribed on the same link, its answer may come a moment after d:a's messages
    await until('both areas subscribed again', () => c.getSubscription('d:b')?.state === 'subscribed', SDK_WAIT_MS);
    expect(c.stats()).toMatchObject({ reconnects: 1, resumes: 2, recovered: 2, gaps: 0, duplicatesDropped: 0 });
    expect(states).toEqual(['connecting', 'connected', 'connecting', 'connected']);
    expect(sub.position).toEqual({ epoch: expect.any(String), offset: 10 });
  });

  for (const variant of [{ name: 'the engine', workers: 1 }, { name: 'one of two workers', workers: 2 }]) {
    it(`kill -9 of ${variant.name} during a publish burst: every client has every acknowledged message exactly once, in order, per area`, async () => {
      const e = await engine(['--workers', String(variant.workers), '--durability', 'flush']);
      const pub = new Publisher(() => e);
      const areas = Array.from({ length: 8 }, (_, i) => `k9:a${i}`);
      const recs: { rec: Recorder; c: Client; areas: string[] }[] = [];
      for (let i = 0; i < 20; i++) {
        const rec = new Recorder();
        const c = client(e, { acks: i % 2 === 0 ? { intervalMs: 200, maxMessages: 10 } : false });
        const mine = [0, 1, 2, 3].map((k) => areas[(i + k * 2) % areas.length]);
        for (const a of mine) c.subscribe(a, rec.handler);
        c.connect();
        recs.push({ rec, c, areas: mine });
      }
      for (const { c, areas: mine } of recs) for (const a of mine) await c.getSubscription(a)!.ready();
      // 8 publishers, one per area, running through the kill
      let stop = false;
      let seq = 0;
      const loops = areas.map(async (a) => {
        while (!stop) {
          const s = ++seq;
          await pub.publish(a, { seq: s }, s);
          await sleep(2);
        }
      });
      await until('300 publishes', () => pub.acked.length >= 300, SDK_WAIT_MS);
      if (variant.workers === 1) {
        await e.stop('SIGKILL');
        await e.restart();
      } else {
        const m = await (await fetch(`${e.base}/metrics`)).text();
        const pids = [...m.matchAll(/abe_cluster_worker_info\{[^}]*pid="(\d+)"/g)].map((x) => Number(x[1]));
        expect(pids.length).toBe(2);
        process.kill(pids[0], 'SIGKILL');
      }
      const before = pub.acked.length;
      await until('300 more publishes after the kill', () => pub.acked.length >= before + 300, 60_000);
      stop = true;
      await Promise.all(loops);
      for (const { rec, areas: mine } of recs) {
        for (const a of mine) {
          const acked = pub.offsetsOf(a).sort((x, y) => x - y);
          await until(`client to reach ${acked.length} in ${a}`, () => rec.offsets(a).length >= acked.length, 30_000);
        }
      }
      let reconnected = 0;
      for (const { rec, c, areas: mine } of recs) {
        for (const a of mine) {
          const got = rec.offsets(a);
          const acked = pub.offsetsOf(a).sort((x, y) => x - y);
          // in order, no duplicate, and every acknowledged offset present (nothing else was published)
          expect(got).toEqual([...got].sort((x, y) => x - y));
          expect(new Set(got).size).toBe(got.length);
          expect(got.filter((o) => acked.includes(o))).toEqual(acked);
          const bySeq = new Map(pub.acked.filter((p) => p.area === a).map((p) => [p.offset, p.seq]));
          for (const m of rec.got.get(a)!) if (bySeq.has(m.offset)) expect((m.data as { seq: number }).seq).toBe(bySeq.get(m.offset));
        }
        expect(c.stats().gaps).toBe(0);
        if (c.stats().reconnects > 0) reconnected++;
      }
      if (variant.workers === 1) expect(reconnected).toBe(recs.length);
      else expect(reconnected).toBeGreaterThan(0);
    }, 120_000);
  }
});
