/**
 * moveTo under a concurrent publish stream into both areas, against a real engine [issue 15
 * Proof 4]: no gap and no duplicate in either area, and at every instant at least one of the two
 * areas was attached (make-before-break).
 */
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { range, sleep, until } from '../../engine/testing/harness.ts';
import { Publisher, Recorder, SDK_WAIT_MS, TestEngine } from '../testing/engine.ts';
import { Client } from './client.ts';
import { msgpackCodec } from './msgpack.ts';
import type { ClientOptions } from './types.ts';

let e: TestEngine;
beforeAll(async () => {
  e = await TestEngine.start();
});
afterAll(async () => {
  await e.close();
});

/** One sequential publisher alternating A, B (each POST awaits its 201: publish order = accept order). */
function alternate(pub: Publisher, a: string, b: string): { stop: () => Promise<void>; seq: () => number } {
  let running = true;
  let seq = 0;
  const done = (async () => {
    while (running) {
      const s = ++seq;
      await pub.publish(s % 2 === 1 ? a : b, { seq: s }, s);
      await sleep(1);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
    },
    seq: () => seq,
  };
}

/** Every frame sent and received, in order, across the client's sockets (v1.json only). */
function recordingWebSocket(wire: string[]) {
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      // v1.json frames, as text or (v1.json+deflate) binary; compressed ones (0xC1) are messages, not needed here.
      // (the SDK sets binaryType 'arraybuffer', so binary frames come as ArrayBuffers)
      this.on('message', (data: Buffer | ArrayBuffer, binary: boolean) => {
        const d = Buffer.from(data as ArrayBuffer);
        if (!binary || (this.protocol === 'v1.json+deflate' && d[0] !== 0xc1)) wire.push(`in ${d.toString()}`);
      });
    }
    override send(data: unknown, ...rest: unknown[]): void {
      if (typeof data === 'string') wire.push(`out ${data}`);
      (super.send as (...a: unknown[]) => void)(data, ...rest);
    }
  };
}

async function oneMove(n: number, opts: Partial<ClientOptions>): Promise<void> {
  const A = `mv${n}:a`;
  const B = `mv${n}:b`;
  const pub = new Publisher(() => e);
  await pub.publish(A, { seq: 0 }, 0); // A has a head before the client starts
  const rec = new Recorder();
  const wire: string[] = [];
  const c = new Client({ url: e.wsUrl, WebSocket: recordingWebSocket(wire) as never, ...opts });
  const subA = c.subscribe(A, rec.handler);
  c.connect();
  await subA.ready();
  const startA = subA.position!.offset;
  const stream = alternate(pub, A, B);
  await sleep(100 + Math.random() * 300);
  const ackedBeforeMove = pub.offsetsOf(A);
  let headB = -1;
  const subBPromise = c.moveTo(A, B);
  c.getSubscription(B)!.once('subscribed', (s) => {
    headB = s.head;
  });
  const subB = await subBPromise;
  expect(subB.area).toBe(B);
  expect(subA.state).toBe('unsubscribed');
  await sleep(300);
  await stream.stop();
  const lastB = Math.max(0, ...pub.offsetsOf(B));
  await until(`B to reach ${lastB}`, () => (rec.offsets(B).at(-1) ?? headB) >= lastB, SDK_WAIT_MS);
  await c.disconnect();

  const gotA = rec.offsets(A);
  const gotB = rec.offsets(B);
  // A: contiguous from its start, everything acknowledged before the move call included
  expect(gotA).toEqual(range(startA + 1, startA + gotA.length));
  for (const o of ackedBeforeMove) if (o > startA) expect(gotA).toContain(o);
  // B: contiguous from the head at its subscribe to B's last offset
  expect(headB).toBeGreaterThanOrEqual(0);
  expect(gotB).toEqual(range(headB + 1, lastB));
  // make-before-break: no A message after A's last delivered one that precedes an undelivered B one
  const seqsA = rec.got.get(A)!.map((m) => (m.data as { seq: number }).seq);
  const seqsB = (rec.got.get(B) ?? []).map((m) => (m.data as { seq: number }).seq);
  const a = Math.max(0, ...seqsA);
  const b = seqsB.length > 0 ? Math.min(...seqsB) : stream.seq() + 1;
  const missedA = pub.acked.filter((p) => p.area === A && p.seq > a && p.seq < b).map((p) => p.seq);
  const missedB = pub.acked.filter((p) => p.area === B && p.seq > a && p.seq < b).map((p) => p.seq);
  // an A message missed (published after A left) before a B message missed (published before B
  // attached) would mean a moment with neither area attached
  const neither = missedA.flatMap((x) => missedB.filter((y) => x < y).map((y) => `A#${x} < B#${y}`));
  expect(neither).toEqual([]);
  expect(c.stats().moves).toBe(1);
  if (opts.codec === undefined) {
    // make-before-break on the wire: `unsubscribe A` goes out only after `subscribed B` came in
    const subscribedB = wire.findIndex((w) => w.startsWith('in ') && w.includes('"type":"subscribed"') && w.includes(`"area":"${B}"`));
    const unsubscribeA = wire.findIndex((w) => w.startsWith('out ') && w.includes('"type":"unsubscribe"') && w.includes(`"area":"${A}"`));
    expect(subscribedB).toBeGreaterThanOrEqual(0);
    expect(unsubscribeA).toBeGreaterThan(subscribedB);
  }
}

describe('moveTo against the engine', () => {
  it('20 moves under a concurrent alternating publish stream: no gap, no duplicate, always one area attached', async () => {
    for (let n = 0; n < 20; n++) await oneMove(n, {});
  }, 120_000);

  it('the same with acks on and with v1.msgpack', async () => {
    for (let n = 20; n < 30; n++) await oneMove(n, { acks: { intervalMs: 50, maxMessages: 5 } });
    for (let n = 30; n < 40; n++) await oneMove(n, { codec: msgpackCodec });
  }, 120_000);

  it('A -> B -> A -> B with stored positions: each return replays exactly what was missed', async () => {
    const A = 'flap:a';
    const B = 'flap:b';
    const pub = new Publisher(() => e);
    const rec = new Recorder();
    const c = new Client({ url: e.wsUrl, WebSocket: WebSocket as never });
    await pub.publish(A, { seq: 0 }, 0);
    await pub.publish(B, { seq: 0 }, 0);
    const first = c.subscribe(A, rec.handler);
    c.connect();
    await first.ready();
    const startA = first.position!.offset;
    const stream = alternate(pub, A, B);
    let from = A;
    let startB = -1;
    for (let i = 0; i < 6; i++) {
      await sleep(80 + Math.random() * 120);
      const to = from === A ? B : A;
      const next = c.moveTo(from, to);
      if (startB < 0 && to === B) c.getSubscription(B)!.once('subscribed', (s) => (startB = s.head));
      await next;
      from = to;
    }
    await stream.stop();
    const last: Record<string, number> = { [A]: Math.max(...pub.offsetsOf(A)), [B]: Math.max(...pub.offsetsOf(B)) };
    await until('the current area to catch up', () => (rec.offsets(from).at(-1) ?? 0) >= last[from], SDK_WAIT_MS);
    await c.disconnect();
    // A was left last at some offset; B is current: each area's whole history is one contiguous run
    const gotA = rec.offsets(A);
    const gotB = rec.offsets(B);
    expect(gotA).toEqual(range(startA + 1, startA + gotA.length));
    expect(gotB).toEqual(range(startB + 1, startB + gotB.length));
    expect(rec.offsets(from).at(-1)).toBe(last[from]); // the area it ended in is complete
    expect(c.stats()).toMatchObject({ moves: 6, duplicatesDropped: 0 });
  }, 60_000);

  it('back into an area whose leave is still in flight (A -> B, then B -> A before unsubscribed A): both moves settle, A resumes where it stopped, nothing twice', async () => {
    const A = 'back:a';
    const B = 'back:b';
    const pub = new Publisher(() => e);
    await pub.publish(A, { seq: 0 }, 0);
    const seen: number[] = [];
    // a slow async handler: A's queue is still running when A is entered again
    const handler = async (m: { area: string; offset: number }) => {
      if (m.area === A) seen.push(m.offset);
      await sleep(5);
    };
    const c = new Client({ url: e.wsUrl, WebSocket: WebSocket as never });
    const first = c.subscribe(A, handler);
    c.connect();
    await first.ready();
    const startA = first.position!.offset;
    for (let i = 1; i <= 20; i++) await pub.publish(A, { i }, i);
    await until('A under way', () => seen.length >= 1, SDK_WAIT_MS);
    let back: Promise<unknown> | undefined;
    const away = c.moveTo(A, B);
    c.getSubscription(B)!.once('subscribed', () => queueMicrotask(() => (back = c.moveTo(B, A))));
    await away;
    await until('the move back started', () => back !== undefined, SDK_WAIT_MS);
    await back;
    for (let i = 21; i <= 30; i++) await pub.publish(A, { i }, i);
    const last = Math.max(...pub.offsetsOf(A));
    await until(`A to catch up to ${last}: ${seen.join(',')} start ${startA}`, () => seen.at(-1) === last, SDK_WAIT_MS);
    await c.disconnect();
    expect(seen).toEqual(range(startA + 1, last));
  });
});
