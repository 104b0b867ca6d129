/**
 * recovered:false, liveness and ack resends against a real engine: gaps filled from history
 * (retention, a new epoch), a dead link found by the ping deadline, resends filtered by the
 * dedup rule.
 */
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { FreezableProxy } from '../testing/proxy.ts';
import { range, sleep, until } from '../../engine/testing/harness.ts';
import { Publisher, Recorder, SDK_WAIT_MS, TestEngine } from '../testing/engine.ts';
import { Client } from './client.ts';
import { MemoryPositionStore } from './stores.ts';
import type { ClientOptions, GapEvent } from './types.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function engine(flags: string[] = []): Promise<TestEngine> {
  const e = await TestEngine.start(flags);
  cleanup.push(() => e.close());
  return e;
}

function client(url: string, opts: Partial<ClientOptions> = {}): Client {
  const c = new Client({ url, WebSocket: WebSocket as never, minReconnectDelay: 100, maxReconnectDelay: 500, ...opts });
  cleanup.push(() => c.disconnect());
  return c;
}

describe('gaps', () => {
  for (const history of [true, false]) {
    it(`retention trimmed what a vehicle missed: a gap event${history ? ', the retained part filled from history' : ', nothing filled'}`, async () => {
      const e = await engine(['--retain-count', '10']);
      const pub = new Publisher(() => e);
      const store = new MemoryPositionStore();
      const rec = new Recorder();
      const gaps: GapEvent[] = [];
      let c = client(e.wsUrl, { store, history });
      c.subscribe('g:a', rec.handler).on('gap', (g) => gaps.push(g));
      c.connect();
      await c.getSubscription('g:a')!.ready();
      for (let i = 0; i < 3; i++) await pub.publish('g:a', { i });
      await until('first three', () => rec.offsets('g:a').length === 3, SDK_WAIT_MS);
      await c.disconnect();
      for (let i = 3; i < 53; i++) await pub.publish('g:a', { i });
      // the embedded log's retention sweep runs every second: wait until it trimmed to the last 10
      for (let first = 0; first !== 44; await sleep(100)) first = ((await (await fetch(`${e.base}/v1/areas/g:a`)).json()) as { first: number }).first;
      // the same store: an app restart
      c = client(e.wsUrl, { store, history });
      c.subscribe('g:a', rec.handler).on('gap', (g) => gaps.push(g));
      c.connect();
      await until('the gap event', () => gaps.length === 1, SDK_WAIT_MS);
      await pub.publish('g:a', { i: 53 });
      await until('live after the gap', () => rec.offsets('g:a').at(-1) === 54, SDK_WAIT_MS);
      const g = gaps[0];
      expect(g).toMatchObject({ area: 'g:a', reason: 'retention', previous: { offset: 3 }, missed: { from: 4, to: 53 }, fill: history ? 'history' : 'none' });
      const got = rec.offsets('g:a');
      if (history) {
        expect(g.filled).toBe(10);
        expect(g.lost).toEqual({ from: 4, to: 43 });
        expect(got).toEqual([1, 2, 3, ...range(44, 53), 54]);
        expect(rec.got.get('g:a')!.slice(3, 3 + g.filled).every((m) => m.source === 'history')).toBe(true);
      } else {
        expect(g).toMatchObject({ filled: 0, lost: { from: 4, to: 53 } });
        expect(got).toEqual([1, 2, 3, 54]);
      }
      expect(c.stats().gaps).toBe(1);
      expect(c.getSubscription('g:a')!.position!.offset).toBe(54);
    });
  }

  it('getState: the app reloads its own state; live messages wait until it resolves', async () => {
    const e = await engine(['--retain-count', '10']);
    const pub = new Publisher(() => e);
    const store = new MemoryPositionStore();
    const rec = new Recorder();
    let c = client(e.wsUrl, { store });
    c.subscribe('g:s', rec.handler);
    c.connect();
    await c.getSubscription('g:s')!.ready();
    await pub.publish('g:s', 'first');
    await until('first', () => rec.offsets('g:s').length === 1, SDK_WAIT_MS);
    await c.disconnect();
    for (let i = 0; i < 30; i++) await pub.publish('g:s', { i });
    for (let first = 0; first !== 22; await sleep(100)) first = ((await (await fetch(`${e.base}/v1/areas/g:s`)).json()) as { first: number }).first;
    const calls: { head: number; reason: string }[] = [];
    let release: () => void = () => {};
    const gaps: GapEvent[] = [];
    c = client(e.wsUrl, { store });
    c.subscribe('g:s', rec.handler, {
      getState: (ctx) => {
        calls.push({ head: ctx.head, reason: ctx.reason });
        return new Promise<void>((r) => (release = r));
      },
    }).on('gap', (g) => gaps.push(g));
    c.connect();
    await until('getState called', () => calls.length === 1, SDK_WAIT_MS);
    await pub.publish('g:s', 'live while loading');
    await sleep(300);
    expect(rec.offsets('g:s')).toEqual([1]); // held back while the app loads its state
    release();
    await until('the live message after getState', () => rec.offsets('g:s').length === 2, SDK_WAIT_MS);
    expect(rec.offsets('g:s')).toEqual([1, 32]);
    expect(calls[0]).toEqual({ head: 31, reason: 'retention' });
    expect(gaps[0]).toMatchObject({ fill: 'state', missed: { from: 2, to: 31 }, filled: 0 });
    expect(c.getSubscription('g:s')!.position!.offset).toBe(32);
  });

  it('a stored position beyond the head (bad_offset): gap position_ahead, the position goes back to the head, delivery goes on', async () => {
    const e = await engine();
    const pub = new Publisher(() => e);
    for (let i = 0; i < 3; i++) await pub.publish('g:p', { i });
    const { epoch } = (await (await fetch(`${e.base}/v1/areas/g:p`)).json()) as { epoch: string };
    const store = new MemoryPositionStore();
    store.set('g:p', { epoch, offset: 500 }); // e.g. --durability commit and a power loss took the log's tail
    const rec = new Recorder();
    const gaps: GapEvent[] = [];
    const c = client(e.wsUrl, { store });
    const sub = c.subscribe('g:p', rec.handler).on('gap', (g) => gaps.push(g));
    c.connect();
    await until('the gap', () => gaps.length === 1, SDK_WAIT_MS);
    expect(gaps[0]).toMatchObject({ reason: 'position_ahead', head: 3, missed: null, lost: null });
    await until('the stored position back at the head', () => store.get('g:p')?.offset === 3, SDK_WAIT_MS);
    await pub.publish('g:p', 'next');
    await until('delivery goes on', () => rec.offsets('g:p').length === 1, SDK_WAIT_MS);
    expect(rec.offsets('g:p')).toEqual([4]);
    expect(sub.position).toEqual({ epoch, offset: 4 });
  });

  it('a new epoch (the store was recreated): reason epoch, filled from offset 1', async () => {
    const e = await engine();
    const pub = new Publisher(() => e);
    const rec = new Recorder();
    const gaps: GapEvent[] = [];
    const c = client(e.wsUrl, { history: true });
    c.subscribe('g:e', rec.handler).on('gap', (g) => gaps.push(g));
    c.connect();
    await c.getSubscription('g:e')!.ready();
    for (let i = 0; i < 5; i++) await pub.publish('g:e', { i });
    await until('five', () => rec.offsets('g:e').length === 5, SDK_WAIT_MS);
    // the same URL, a fresh data dir: the log's epoch changes (the later --data-dir wins)
    await e.stop('SIGKILL');
    await e.restart(['--data-dir', `${e.dir}/fresh`]);
    for (let i = 0; i < 3; i++) await pub.publish('g:e', { fresh: i });
    await until('gap and the new epoch\'s messages', () => gaps.length === 1 && rec.offsets('g:e').length === 8, SDK_WAIT_MS);
    // the client may have come back before or between the three publishes: what it missed is 1..head
    const g = gaps[0];
    expect(g.reason).toBe('epoch');
    expect(g.filled).toBe(g.missed === null ? 0 : g.missed.to);
    expect(g.lost).toBeNull();
    expect(rec.offsets('g:e')).toEqual([1, 2, 3, 4, 5, 1, 2, 3]);
    expect(rec.got.get('g:e')!.slice(5).map((m) => m.data)).toEqual([0, 1, 2].map((i) => ({ fresh: i })));
  });
});

describe('liveness', () => {
  it('a frozen link (no close, no bytes) is found by the ping deadline and replaced; nothing lost or duplicated', async () => {
    const e = await engine();
    const proxy = new FreezableProxy(e.port);
    await proxy.start();
    cleanup.push(() => proxy.close());
    const pub = new Publisher(() => e);
    const rec = new Recorder();
    const c = client(`ws://127.0.0.1:${proxy.port}/v1/ws`, { pingInterval: 1000, pongTimeout: 500, minReconnectDelay: 50 });
    const sub = c.subscribe('lv:a', rec.handler);
    c.connect();
    await sub.ready();
    await pub.publish('lv:a', 1);
    await until('first', () => rec.offsets('lv:a').length === 1, SDK_WAIT_MS);
    const frozenAt = Date.now();
    expect(proxy.freezeAll()).toBe(1);
    let detectedAt = 0;
    c.once('connecting', () => (detectedAt = Date.now()));
    for (let i = 0; i < 5; i++) await pub.publish('lv:a', i);
    await until('the messages published while frozen', () => rec.offsets('lv:a').length === 6, 10_000);
    expect(rec.offsets('lv:a')).toEqual(range(1, 6));
    // found within pingInterval + pongTimeout (+ slack for timers and the event loop)
    expect(detectedAt - frozenAt).toBeLessThan(1500 + 500);
    expect(c.stats()).toMatchObject({ livenessTimeouts: 1, reconnects: 1, duplicatesDropped: 0 });
  });
});

describe('acks', () => {
  it('a handler slower than the resend timeout: the engine resends, the SDK drops the duplicates, every offset once, no 4001', async () => {
    const e = await engine(['--ack-resend-ms', '500']);
    const pub = new Publisher(() => e);
    const seen: number[] = [];
    let slowOnce = true;
    const c = client(e.wsUrl, { acks: { intervalMs: 100, maxMessages: 5 } });
    const codes: number[] = [];
    c.on('connecting', (x) => codes.push(x.code));
    const sub = c.subscribe('ak:a', async (m) => {
      seen.push(m.offset);
      if (slowOnce && m.offset === 3) {
        slowOnce = false;
        await sleep(1500);
      }
    });
    c.connect();
    await sub.ready();
    for (let i = 0; i < 20; i++) await pub.publish('ak:a', i);
    await until('all twenty', () => seen.length >= 20, SDK_WAIT_MS);
    await sleep(700);
    expect(seen).toEqual(range(1, 20));
    expect(c.stats().duplicatesDropped).toBeGreaterThan(0);
    expect(c.stats().acksSent).toBeGreaterThan(0);
    expect(codes).not.toContain(4001);
    // the engine holds our ack at the head: nothing left to resend
    await until('position', () => sub.position?.offset === 20, SDK_WAIT_MS);
    const lag = await (await fetch(`${e.base}/metrics`)).text();
    expect(lag).toMatch(/abe_acks_total \d+/);
  });
});
