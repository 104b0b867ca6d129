/**
 * End to end, real sockets: publish over REST, receive over WebSocket (v1.json and v1.msgpack),
 * in order; areas isolated; one connection on two areas; moving between areas loses nothing;
 * idempotent publish; Message-TTL; binary payloads; ping/pong; ops endpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  http,
  metric,
  publishConcurrent,
  publishOk,
  publishSeq,
  range,
  sleep,
  startTestEngine,
  type TestEngine,
} from '../testing/harness.ts';

let t: TestEngine;

beforeAll(async () => {
  t = await startTestEngine();
});
afterAll(async () => {
  await t?.stop();
});

describe('publish -> receive', () => {
  it.each(['v1.json', 'v1.msgpack'] as const)('delivers many messages in order over %s', async (protocol) => {
    const area = `city:order-${protocol}`;
    const v = await t.connect({ protocol });
    const sub = await v.subscribe(area);
    expect(sub).toMatchObject({ type: 'subscribed', area, offset: 0, recovered: false });
    expect(typeof sub.epoch).toBe('string');
    const offsets = await publishSeq(t.base, area, 200);
    expect(offsets).toEqual(range(1, 200));
    const got = await v.waitMessages(area, 200);
    expect(got.map((m) => m.offset)).toEqual(range(1, 200));
    expect(got.map((m) => (m.data as { n: number }).n)).toEqual(range(1, 200));
    for (const m of got) {
      expect(m.area).toBe(area);
      expect(typeof m.time).toBe('number');
    }
    // the right frame type for the subprotocol
    expect(new Set(v.binary)).toEqual(new Set([protocol === 'v1.msgpack']));
  });

  it('delivers concurrent publishes to every vehicle in log order, json and msgpack alike', async () => {
    const area = 'city:fanout';
    const vs = await Promise.all([t.connect(), t.connect({ protocol: 'v1.msgpack' }), t.connect(), t.connect({ protocol: 'v1.msgpack' })]);
    for (const v of vs) await v.subscribe(area);
    const fanoutsBefore = (await metric(t.base, 'abe_fanout_duration_seconds_count')) ?? 0;
    const offsets = await publishConcurrent(t.base, area, 300, (i) => ({ i, text: `alert ${i}` }));
    expect(offsets).toEqual(range(1, 300));
    for (const v of vs) {
      const got = await v.waitMessages(area, 300);
      expect(got.map((m) => m.offset)).toEqual(range(1, 300));
    }
    // same payload at the same offset for both formats
    const a = vs[0].messages(area);
    const b = vs[1].messages(area);
    for (let i = 0; i < 300; i++) expect(b[i].data).toEqual(a[i].data);
    // A burst commits in batches, and each tail batch goes out as one corked writeMany per socket
    // (fanOutBatch): fewer fan-outs than messages, and still every offset once, in order.
    const fanouts = ((await metric(t.base, 'abe_fanout_duration_seconds_count')) ?? 0) - fanoutsBefore;
    expect(fanouts).toBeGreaterThan(0);
    expect(fanouts).toBeLessThan(300);
  });

  it('keeps two areas isolated', async () => {
    const va = await t.connect();
    const vb = await t.connect();
    await va.subscribe('iso:a');
    await vb.subscribe('iso:b');
    for (let i = 1; i <= 20; i++) {
      await publishOk(t.base, 'iso:a', { a: i });
      await publishOk(t.base, 'iso:b', { b: i });
    }
    await va.waitMessages('iso:a', 20);
    await vb.waitMessages('iso:b', 20);
    await va.sync();
    await vb.sync();
    expect(va.messages().every((m) => m.area === 'iso:a')).toBe(true);
    expect(vb.messages().every((m) => m.area === 'iso:b')).toBe(true);
    expect(va.offsets()).toEqual(range(1, 20));
    expect(vb.messages().map((m) => m.data)).toEqual(range(1, 20).map((b) => ({ b })));
  });

  it('serves two areas on one connection, each in order', async () => {
    const v = await t.connect({ protocol: 'v1.msgpack' });
    await v.subscribe('two:a');
    await v.subscribe('two:b');
    await Promise.all([publishSeq(t.base, 'two:a', 50), publishSeq(t.base, 'two:b', 50)]);
    expect((await v.waitMessages('two:a', 50)).map((m) => m.offset)).toEqual(range(1, 50));
    expect((await v.waitMessages('two:b', 50)).map((m) => m.offset)).toEqual(range(1, 50));
  });

  it('moving between areas (subscribe B, unsubscribe A) while both are published loses nothing of B', async () => {
    const A = 'move:a';
    const B = 'move:b';
    const v = await t.connect();
    await v.subscribe(A);
    let stop = false;
    const pump = async (area: string): Promise<number> => {
      let last = 0;
      while (!stop) last = (await publishOk(t.base, area, { area, at: Date.now() })).offset;
      return last;
    };
    const pa = pump(A);
    const pb = pump(B);
    await v.waitMessages(A, 20);
    const subB = await v.subscribe(B);
    const startB = subB.offset as number;
    v.send({ type: 'unsubscribe', area: A });
    const unsubIdx = await v
      .waitFrame('unsubscribed A', (f) => f.type === 'unsubscribed' && f.area === A)
      .then((f) => v.frames.indexOf(f));
    await v.waitOffset(B, startB + 30);
    stop = true;
    const [, lastB] = await Promise.all([pa, pb]);
    await v.waitOffset(B, lastB);
    await v.sync();
    // B: exactly every offset after the subscribed head, in order
    expect(v.offsets(B)).toEqual(range(startB + 1, lastB));
    // A: in order without gaps up to the unsubscribe, nothing after it
    const a = v.offsets(A);
    expect(a).toEqual(range(1, a.length));
    expect(v.frames.slice(unsubIdx).some((f) => f.type === 'message' && f.area === A)).toBe(false);
  });
});

describe('publish options', () => {
  it('an idempotent retry answers the first offset and delivers one message', async () => {
    const area = 'idem:1';
    const v = await t.connect();
    await v.subscribe(area);
    const first = await publishOk(t.base, area, { x: 1 }, { idempotencyKey: 'k-1' });
    const again = await publishOk(t.base, area, { x: 1 }, { idempotencyKey: 'k-1' });
    expect(again.offset).toBe(first.offset);
    expect(again.epoch).toBe(first.epoch);
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    const other = await publishOk(t.base, area, { x: 2 }, { idempotencyKey: 'k-2' });
    expect(other.offset).toBe(first.offset + 1);
    await v.waitOffset(area, other.offset);
    await v.sync();
    expect(v.offsets(area)).toEqual([first.offset, other.offset]);
    // the same key in another area is another message
    expect((await publishOk(t.base, 'idem:2', { x: 1 }, { idempotencyKey: 'k-1' })).duplicate).toBe(false);
    expect(await metric(t.base, 'abe_publishes_total', { result: 'duplicate' })).toBe(1);
  });

  it('a Message-TTL message is delivered live but not replayed once expired', async () => {
    const area = 'ttl:1';
    const v = await t.connect();
    const sub = await v.subscribe(area);
    const before = await publishOk(t.base, area, { keep: 1 });
    const short = await publishOk(t.base, area, { ttl: 1 }, { ttlSeconds: 1 });
    const after = await publishOk(t.base, area, { keep: 2 });
    await v.waitOffset(area, after.offset);
    expect(v.offsets(area)).toEqual([before.offset, short.offset, after.offset]);
    await sleep(1500);
    const late = await t.connect();
    const resumed = await late.subscribe(area, { epoch: sub.epoch as string, offset: before.offset });
    expect(resumed).toMatchObject({ type: 'subscribed', recovered: true, offset: after.offset });
    await late.waitOffset(area, after.offset);
    await late.sync();
    expect(late.offsets(area)).toEqual([after.offset]);
    // history leaves it out too
    const h = await http(t.base, `/v1/areas/${area}/messages?from=1`);
    expect(h.body.messages.map((m: { offset: number }) => m.offset)).toEqual([before.offset, after.offset]);
  });

  it('carries msgpack and binary payloads to both formats', async () => {
    const area = 'bin:1';
    const vj = await t.connect();
    const vm = await t.connect({ protocol: 'v1.msgpack' });
    await vj.subscribe(area);
    await vm.subscribe(area);
    const { pack } = await import('msgpackr');
    await publishOk(t.base, area, pack({ bay: 7, free: true }), { contentType: 'application/msgpack' });
    const raw = Buffer.from([0, 1, 2, 250, 255]);
    await publishOk(t.base, area, raw, { contentType: 'application/octet-stream' });
    const j = await vj.waitMessages(area, 2);
    const m = await vm.waitMessages(area, 2);
    expect(j[0].data).toEqual({ bay: 7, free: true });
    expect(m[0].data).toEqual({ bay: 7, free: true });
    expect(j[1]).toMatchObject({ encoding: 'base64', data: raw.toString('base64') });
    expect(Buffer.from(m[1].data as Uint8Array)).toEqual(raw);
  });

  it('a msgpack payload with 64-bit integers (0xcf/0xd3, as msgpack-python writes ints >= 2^32) reaches both formats and its history page', async () => {
    const area = 'bin:u64';
    const vj = await t.connect();
    const vm = await t.connect({ protocol: 'v1.msgpack' });
    await vj.subscribe(area);
    await vm.subscribe(area);
    // {"ts": uint64 1733500000000, "big": uint64 2^64-1}
    const payload = Buffer.concat([Buffer.from([0x82, 0xa2]), Buffer.from('ts'), Buffer.from([0xcf]), u64(1_733_500_000_000n), Buffer.from([0xa3]), Buffer.from('big'), Buffer.from([0xcf]), u64((1n << 64n) - 1n)]);
    await publishOk(t.base, area, payload, { contentType: 'application/msgpack' });
    await publishOk(t.base, area, JSON.stringify({ after: true }));
    const j = await vj.waitMessages(area, 2);
    const m = await vm.waitMessages(area, 2);
    expect(j[0].data).toEqual({ ts: 1_733_500_000_000, big: '18446744073709551615' });
    expect(m[0].data).toEqual({ ts: 1_733_500_000_000, big: (1n << 64n) - 1n });
    expect(j[1].data).toEqual({ after: true });
    const page = await http(t.base, `/v1/areas/${encodeURIComponent(area)}/messages?from=0`);
    expect(page.status).toBe(200);
    expect(page.body.messages[0].data).toEqual({ ts: 1_733_500_000_000, big: '18446744073709551615' });
  });

  it('answers ping with pong', async () => {
    const v = await t.connect({ protocol: 'v1.msgpack' });
    await v.sync();
    expect(v.frames.at(-1)).toEqual({ type: 'pong' });
  });
});

describe('operations', () => {
  it('/healthz and /readyz answer 200, /metrics has the abe_ metrics', async () => {
    expect((await http(t.base, '/healthz')).status).toBe(200);
    const ready = await http(t.base, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', log: 'ok', accepting: true });
    const v = await t.connect();
    await v.subscribe('ops:1');
    await publishOk(t.base, 'ops:1', { a: 1 });
    await v.waitMessages('ops:1', 1);
    const m = await http(t.base, '/metrics');
    expect(m.status).toBe(200);
    for (const name of [
      'abe_connections',
      'abe_subscriptions',
      'abe_publishes_total',
      'abe_messages_delivered_total',
      'abe_acks_total',
      'abe_messages_resent_total',
      'abe_slow_consumer_closes_total',
      'abe_fanout_duration_seconds_bucket',
      'abe_log_append_duration_seconds_bucket',
      'abe_area_head_offset',
      'abe_area_min_acked_offset',
    ]) {
      expect(m.text, name).toContain(name);
    }
    expect(await metric(t.base, 'abe_connections', { transport: 'ws' })).toBeGreaterThanOrEqual(1);
    expect(await metric(t.base, 'abe_publishes_total', { result: 'ok' })).toBeGreaterThan(0);
  });
});

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}
