/** Contract section: tails. */
import { expect, it } from 'vitest';
import { collect, offsets, range, sleep, text, waitUntil, type ContractContext } from './contract-support.ts';
import type { AreaLog } from './types.ts';

async function fill(ctx: ContractContext, log: AreaLog, area: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await log.append(area, ctx.req(`${area}${i + 1}`));
}

export function tailContract(ctx: ContractContext): void {
  it('tails from 0: the backlog, then each new append', async () => {
    const log = await ctx.open();
    await fill(ctx, log, 'a', 5);
    const c = collect(log, 'a', 0);
    await c.reach(5);
    expect(offsets(c.records)).toEqual([1, 2, 3, 4, 5]);
    expect(c.records.map(text)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    await log.append('a', ctx.req('six'));
    await log.append('a', ctx.req('seven'));
    await c.reach(7);
    expect(offsets(c.records)).toEqual(range(1, 7));
    expect(c.records[6]).toMatchObject({ contentType: 'binary', expiresAt: 0 });
    expect(c.problems).toEqual([]);
    c.handle.close();
  });

  it('tails from the middle and from the head (only new records)', async () => {
    const log = await ctx.open();
    await fill(ctx, log, 'a', 5);
    const mid = collect(log, 'a', 3);
    const fromHead = collect(log, 'a', 5);
    await mid.reach(5);
    expect(offsets(mid.records)).toEqual([4, 5]);
    await sleep(50);
    expect(fromHead.records).toEqual([]);
    await log.append('a', ctx.req('new'));
    await fromHead.reach(6);
    await mid.reach(6);
    expect(offsets(fromHead.records)).toEqual([6]);
    expect(text(fromHead.records[0]!)).toBe('new');
    expect(offsets(mid.records)).toEqual([4, 5, 6]);
    expect([...mid.problems, ...fromHead.problems]).toEqual([]);
  });

  it('tails an area that has no records yet', async () => {
    const log = await ctx.open();
    const c = collect(log, 'empty', 0);
    await sleep(30);
    expect(c.records).toEqual([]);
    await log.append('empty', ctx.req('first'));
    await c.reach(1);
    expect(offsets(c.records)).toEqual([1]);
  });

  it('delivers concurrent appends in order, once each, to every tail of the area', async () => {
    const log = await ctx.open();
    const t1 = collect(log, 'a', 0);
    const other = collect(log, 'b', 0);
    const firstHalf = range(1, 100).map((i) => log.append('a', ctx.req(`m${i}`)));
    const t2 = collect(log, 'a', 0); // started while the first appends are in flight
    const secondHalf = range(101, 200).map((i) => log.append('a', ctx.req(`m${i}`)));
    const results = await Promise.all([...firstHalf, ...secondHalf]);
    expect(results.map((r) => r.offset).sort((x, y) => x - y)).toEqual(range(1, 200));
    await t1.reach(200);
    await t2.reach(200);
    await sleep(30);
    for (const c of [t1, t2]) {
      expect(c.problems).toEqual([]);
      expect(offsets(c.records)).toEqual(range(1, 200));
      expect(new Set(c.records.map(text)).size).toBe(200);
    }
    expect(other.records).toEqual([]);
  });

  it('stops a tail on close() and keeps the others running', async () => {
    const log = await ctx.open();
    const stopped = collect(log, 'a', 0);
    const running = collect(log, 'a', 0);
    await log.append('a', ctx.req('one'));
    await stopped.reach(1);
    stopped.handle.close();
    stopped.handle.close(); // idempotent
    await log.append('a', ctx.req('two'));
    await running.reach(2);
    await sleep(50);
    expect(offsets(stopped.records)).toEqual([1]);
    expect(offsets(running.records)).toEqual([1, 2]);
  });

  it('stops every tail when the log is closed', async () => {
    let log = await ctx.open();
    await log.append('a', ctx.req('one'));
    const c = collect(log, 'a', 0);
    await c.reach(1);
    log = await ctx.reopen(log);
    await log.append('a', ctx.req('two'));
    await sleep(100);
    expect(offsets(c.records)).toEqual([1]);
  });

  it('closing a tail from inside its listener stops delivery', async () => {
    const log = await ctx.open();
    const got: number[] = [];
    const handle = log.tail('a', 0, (batch) => {
      got.push(...offsets(batch));
      handle.close();
    });
    await log.append('a', ctx.req('one'));
    await sleep(50);
    await log.append('a', ctx.req('two'));
    await sleep(50);
    expect(got).toEqual([1]);
  });

  it('a listener that returns a promise gets nothing more until it settles, then the rest in order', async () => {
    const log = await ctx.open();
    const got: number[] = [];
    let calls = 0;
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const handle = log.tail('a', 0, (batch) => {
      calls++;
      got.push(...offsets(batch));
      return calls === 1 ? held : undefined;
    });
    await log.append('a', ctx.req('one'));
    await waitUntil(() => calls === 1, 'first delivery');
    for (let i = 2; i <= 6; i++) await log.append('a', ctx.req(`m${i}`));
    await sleep(100);
    expect(calls).toBe(1);
    expect(got).toEqual([1]);
    release();
    await waitUntil(() => got.length >= 6, 'the rest after the promise settled');
    expect(got).toEqual(range(1, 6));
    handle.close();
  });
}
