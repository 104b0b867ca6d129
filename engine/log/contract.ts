/**
 * The one contract every AreaLog implementation passes. Usage (in an implementation's test file):
 *
 *   describeLogContract('EmbeddedLog', () => ({ clock, create, recreate, applyRetention, cleanup }));
 *
 * The factory is called before each test and returns a harness on a fresh store; see
 * LogUnderTest in ./contract-support.ts. Sections: basics (here), tails (./contract-tail.ts),
 * retention (./contract-retention.ts).
 */
import { describe, expect, it } from 'vitest';
import { retentionContract } from './contract-retention.ts';
import { useContractContext, offsets, range, text, waitUntil, type ContractContext, type LogFactory } from './contract-support.ts';
import { tailContract } from './contract-tail.ts';

export { ManualClock, type LogFactory, type LogTestOptions, type LogUnderTest, type TestClock } from './contract-support.ts';

export function describeLogContract(name: string, factory: LogFactory): void {
  describe(`AreaLog contract: ${name}`, () => {
    const ctx = useContractContext(factory);
    describe('offsets, epoch, durability', () => basicContract(ctx, factory));
    describe('idempotency and areas', () => idempotencyContract(ctx));
    describe('read', () => readContract(ctx));
    describe('tail', () => tailContract(ctx));
    describe('retention', () => retentionContract(ctx));
  });
}

function basicContract(ctx: ContractContext, factory: LogFactory): void {
  it('starts offsets at 1 per area and keeps them dense', async () => {
    const log = await ctx.open();
    expect(await log.state('a')).toMatchObject({ head: 0, first: 1 });
    const got: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await log.append('a', ctx.req(`m${i + 1}`));
      expect(r.duplicate).toBe(false);
      got.push(r.offset);
    }
    expect(got).toEqual([1, 2, 3, 4, 5]);
    const state = await log.state('a');
    expect(state).toMatchObject({ head: 5, first: 1 });
    expect(typeof state.epoch).toBe('string');
    expect(state.epoch.length).toBeGreaterThan(0);
  });

  it('returns the epoch with every append and keeps it across reopen', async () => {
    let log = await ctx.open();
    const { epoch } = await log.state('a');
    expect((await log.append('a', ctx.req('x'))).epoch).toBe(epoch);
    log = await ctx.reopen(log);
    expect((await log.state('a')).epoch).toBe(epoch);
    expect((await log.state('never-used')).epoch).toBe(epoch);
    expect((await log.append('b', ctx.req('y'))).epoch).toBe(epoch);
  });

  it('gives a fresh store a different epoch', async () => {
    const log = await ctx.open();
    const other = await factory();
    try {
      const log2 = await other.create();
      await log2.open();
      expect((await log2.state('a')).epoch).not.toBe((await log.state('a')).epoch);
      await log2.close();
    } finally {
      await other.cleanup();
    }
  });

  it('keeps acknowledged appends across close/reopen and continues the offsets', async () => {
    let log = await ctx.open();
    const t = ctx.harness.clock.now();
    await log.append('a', ctx.req('one', { contentType: 'json', time: t, expiresAt: t + 60_000 }));
    await log.append('a', ctx.req('two', { contentType: 'msgpack' }));
    await log.append('b', ctx.req('b-one'));
    log = await ctx.reopen(log);
    expect(await log.state('a')).toMatchObject({ head: 2, first: 1 });
    const records = await log.read('a', 1, 10);
    expect(records.map(text)).toEqual(['one', 'two']);
    expect(records[0]).toMatchObject({ offset: 1, contentType: 'json', time: t, expiresAt: t + 60_000 });
    expect(records[1]).toMatchObject({ offset: 2, contentType: 'msgpack', expiresAt: 0 });
    expect((await log.append('a', ctx.req('three'))).offset).toBe(3);
    expect((await log.append('b', ctx.req('b-two'))).offset).toBe(2);
    expect((await log.areas()).sort()).toEqual(['a', 'b']);
  });

  it('stores every field and returns expired records too', async () => {
    const log = await ctx.open();
    const now = ctx.harness.clock.now();
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await log.append('a', { payload: bytes, contentType: 'binary', time: now, expiresAt: now - 1 });
    await log.append('a', { payload: new Uint8Array(0), contentType: 'json', time: now + 1, expiresAt: 0 });
    const big = Buffer.alloc(64 * 1024, 7);
    await log.append('a', { payload: big, contentType: 'msgpack', time: now + 2, expiresAt: now + 5 });
    const [r1, r2, r3] = await log.read('a', 0, 10);
    expect(r1).toMatchObject({ offset: 1, contentType: 'binary', time: now, expiresAt: now - 1 });
    expect(Array.from(r1!.payload)).toEqual([0, 1, 2, 250, 255]);
    expect(r2).toMatchObject({ offset: 2, contentType: 'json', time: now + 1, expiresAt: 0 });
    expect(r2!.payload.byteLength).toBe(0);
    expect(r3).toMatchObject({ offset: 3, contentType: 'msgpack', expiresAt: now + 5 });
    expect(Buffer.from(r3!.payload).equals(big)).toBe(true);
  });

  it('keeps MQTT 5 headers with the record, byte for byte, through read, tail and reopen', async () => {
    const log = await ctx.open();
    const now = ctx.harness.clock.now();
    const headers = {
      origin: 'car-7',
      retain: true,
      qos: 2 as const,
      userProperties: [['k', 'v1'], ['x', 'é'], ['k', 'v2']] as [string, string][],
      responseTopic: 'areas/city:replies',
      correlationData: new Uint8Array([0, 255, 7]),
      contentType: 'text/plain; charset=utf-8',
      utf8: true,
    };
    await log.append('h', { payload: Buffer.from('plain'), contentType: 'binary', time: now, expiresAt: 0 });
    await log.append('h', { payload: Buffer.from('with'), contentType: 'binary', time: now, expiresAt: 0, headers });
    const check = (records: readonly { headers?: unknown; payload: Uint8Array }[]): void => {
      expect(records[0].headers).toBeUndefined();
      const h = records[1].headers as typeof headers;
      expect({ ...h, correlationData: Array.from(h.correlationData) }).toEqual({ ...headers, correlationData: [0, 255, 7] });
      expect(Buffer.from(records[1].payload).toString()).toBe('with');
    };
    check(await log.read('h', 1, 10));
    const tailed: { headers?: unknown; payload: Uint8Array }[] = [];
    const handle = log.tail('h', 0, (batch) => {
      tailed.push(...batch);
    });
    await waitUntil(() => tailed.length >= 2, 'two tailed records');
    handle.close();
    check(tailed);
    const reopened = await ctx.reopen(log);
    check(await reopened.read('h', 1, 10));
  });

  it('is healthy while open, not after close, and refuses appends once closed', async () => {
    const log = await ctx.open();
    expect(log.healthy()).toBe(true);
    expect(typeof log.kind).toBe('string');
    await log.close();
    expect(log.healthy()).toBe(false);
    await expect(log.append('a', ctx.req('late'))).rejects.toThrow();
  });
}

function idempotencyContract(ctx: ContractContext): void {
  it('returns the first offset for a repeated key and appends nothing', async () => {
    const log = await ctx.open();
    expect(await log.append('a', ctx.req('first', { idempotencyKey: 'k1' }))).toMatchObject({ offset: 1, duplicate: false });
    expect(await log.append('a', ctx.req('other'))).toMatchObject({ offset: 2, duplicate: false });
    const dup = await log.append('a', ctx.req('retry', { idempotencyKey: 'k1' }));
    expect(dup).toMatchObject({ offset: 1, duplicate: true, epoch: (await log.state('a')).epoch });
    expect((await log.state('a')).head).toBe(2);
    expect((await log.read('a', 1, 10)).map(text)).toEqual(['first', 'other']);
    expect(await log.append('a', ctx.req('k2', { idempotencyKey: 'k2' }))).toMatchObject({ offset: 3, duplicate: false });
  });

  it('scopes idempotency keys per area', async () => {
    const log = await ctx.open();
    await log.append('a', ctx.req('a0'));
    expect(await log.append('a', ctx.req('a1', { idempotencyKey: 'same' }))).toMatchObject({ offset: 2, duplicate: false });
    expect(await log.append('b', ctx.req('b1', { idempotencyKey: 'same' }))).toMatchObject({ offset: 1, duplicate: false });
    expect(await log.append('b', ctx.req('b1', { idempotencyKey: 'same' }))).toMatchObject({ offset: 1, duplicate: true });
  });

  it('appends once when the same key is sent concurrently, and remembers it across reopen', async () => {
    let log = await ctx.open();
    const results = await Promise.all(range(1, 10).map((i) => log.append('a', ctx.req(`try${i}`, { idempotencyKey: 'once' }))));
    expect(new Set(results.map((r) => r.offset))).toEqual(new Set([1]));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect((await log.state('a')).head).toBe(1);
    log = await ctx.reopen(log);
    expect(await log.append('a', ctx.req('again', { idempotencyKey: 'once' }))).toMatchObject({ offset: 1, duplicate: true });
  });

  it('keeps areas isolated', async () => {
    const log = await ctx.open();
    for (let i = 1; i <= 3; i++) {
      expect((await log.append('a', ctx.req(`a${i}`))).offset).toBe(i);
      expect((await log.append('b', ctx.req(`b${i}`))).offset).toBe(i);
    }
    expect((await log.append('a.b:c-d_e', ctx.req('dotted'))).offset).toBe(1);
    expect((await log.read('a', 0, 10)).map(text)).toEqual(['a1', 'a2', 'a3']);
    expect((await log.read('b', 0, 10)).map(text)).toEqual(['b1', 'b2', 'b3']);
    expect(await log.read('c', 0, 10)).toEqual([]);
    expect((await log.areas()).sort()).toEqual(['a', 'a.b:c-d_e', 'b']);
    expect(await log.state('c')).toMatchObject({ head: 0, first: 1 });
  });
}

function readContract(ctx: ContractContext): void {
  it('reads contiguous ranges up to limit', async () => {
    const log = await ctx.open();
    for (let i = 1; i <= 10; i++) await log.append('a', ctx.req(`m${i}`));
    expect(offsets(await log.read('a', 0, 100))).toEqual(range(1, 10));
    expect(offsets(await log.read('a', -5, 3))).toEqual([1, 2, 3]);
    expect(offsets(await log.read('a', 4, 3))).toEqual([4, 5, 6]);
    expect((await log.read('a', 4, 3)).map(text)).toEqual(['m4', 'm5', 'm6']);
    expect(offsets(await log.read('a', 9, 100))).toEqual([9, 10]);
    expect(offsets(await log.read('a', 10, 1))).toEqual([10]);
    expect(await log.read('a', 11, 10)).toEqual([]);
    expect(await log.read('a', 1000, 10)).toEqual([]);
    expect(await log.read('a', 1, 0)).toEqual([]);
    expect(await log.read('nothing', 1, 10)).toEqual([]);
  });

  it('reads many records across batches in order', async () => {
    const log = await ctx.open();
    await Promise.all(range(1, 600).map((i) => log.append('a', ctx.req(`m${i}`))));
    const all = await log.read('a', 1, 1000);
    expect(offsets(all)).toEqual(range(1, 600));
    expect(new Set(all.map(text)).size).toBe(600);
  });
}
