/** Contract section: retention (by count, by age) and what readers see after it. */
import { expect, it } from 'vitest';
import { collect, offsets, range, sleep, type ContractContext } from './contract-support.ts';

export function retentionContract(ctx: ContractContext): void {
  it('keeps at most maxCount records per area', async () => {
    const log = await ctx.open({ retention: { maxCount: 3, maxAgeMs: 0 } });
    for (let i = 1; i <= 10; i++) await log.append('a', ctx.req(`a${i}`));
    await log.append('b', ctx.req('b1'));
    await ctx.harness.applyRetention(log);
    expect(await log.state('a')).toMatchObject({ head: 10, first: 8 });
    expect(await log.state('b')).toMatchObject({ head: 1, first: 1 });
    expect(offsets(await log.read('a', 0, 100))).toEqual([8, 9, 10]);
    expect(offsets(await log.read('a', 5, 2))).toEqual([8, 9]);
    expect(offsets(await log.read('a', 9, 100))).toEqual([9, 10]);
    expect((await log.append('a', ctx.req('a11'))).offset).toBe(11);
    await ctx.harness.applyRetention(log);
    expect(await log.state('a')).toMatchObject({ head: 11, first: 9 });
  });

  it('starts a tail after a trimmed point at the first retained record', async () => {
    const log = await ctx.open({ retention: { maxCount: 3, maxAgeMs: 0 } });
    for (let i = 1; i <= 10; i++) await log.append('a', ctx.req(`a${i}`));
    await ctx.harness.applyRetention(log);
    const behind = collect(log, 'a', 2);
    const inside = collect(log, 'a', 8);
    await behind.reach(10);
    await inside.reach(10);
    expect(offsets(behind.records)).toEqual([8, 9, 10]);
    expect(offsets(inside.records)).toEqual([9, 10]);
    await log.append('a', ctx.req('a11'));
    await behind.reach(11);
    expect(offsets(behind.records)).toEqual([8, 9, 10, 11]);
  });

  it('a tail that falls behind the trimmed window jumps to the first retained record', async () => {
    const log = await ctx.open({ retention: { maxCount: 2, maxAgeMs: 0 } });
    await log.append('a', ctx.req('a1'));
    const c = collect(log, 'a', 0);
    await c.reach(1);
    c.handle.close();
    for (let i = 2; i <= 6; i++) await log.append('a', ctx.req(`a${i}`));
    await ctx.harness.applyRetention(log);
    const resumed = collect(log, 'a', 1);
    await resumed.reach(6);
    expect(offsets(resumed.records)).toEqual([5, 6]);
    expect(resumed.problems).toEqual([]);
  });

  it('drops records older than maxAgeMs (by their time)', async () => {
    const { clock } = ctx.harness;
    const log = await ctx.open({ retention: { maxCount: 0, maxAgeMs: 1000 } });
    for (let i = 1; i <= 3; i++) await log.append('a', ctx.req(`old${i}`));
    clock.advance(600);
    await log.append('a', ctx.req('mid'));
    clock.advance(600);
    await log.append('a', ctx.req('new'));
    await ctx.harness.applyRetention(log);
    expect(await log.state('a')).toMatchObject({ head: 5, first: 4 });
    expect(offsets(await log.read('a', 1, 10))).toEqual([4, 5]);
    clock.advance(500);
    await ctx.harness.applyRetention(log);
    expect(await log.state('a')).toMatchObject({ head: 5, first: 5 });
  });

  it('keeps the head after everything is trimmed, also across reopen', async () => {
    const { clock } = ctx.harness;
    const retention = { maxCount: 0, maxAgeMs: 1000 };
    let log = await ctx.open({ retention });
    for (let i = 1; i <= 5; i++) await log.append('a', ctx.req(`a${i}`));
    const idle = collect(log, 'a', 0);
    await idle.reach(5);
    clock.advance(5000);
    await ctx.harness.applyRetention(log);
    expect(await log.state('a')).toMatchObject({ head: 5, first: 6 });
    expect(await log.read('a', 0, 10)).toEqual([]);
    expect(await log.areas()).toContain('a');
    const fromZero = collect(log, 'a', 0);
    await sleep(50);
    expect(fromZero.records).toEqual([]);
    log = await ctx.reopen(log, { retention });
    expect(await log.state('a')).toMatchObject({ head: 5, first: 6 });
    const afterReopen = collect(log, 'a', 0);
    expect((await log.append('a', ctx.req('a6'))).offset).toBe(6);
    await afterReopen.reach(6);
    expect(offsets(afterReopen.records)).toEqual([6]);
    expect(await log.state('a')).toMatchObject({ head: 6, first: 6 });
    expect(offsets(await log.read('a', 0, 10))).toEqual([6]);
  });

  it('applies count and age together and leaves unlimited policies alone', async () => {
    const { clock } = ctx.harness;
    let log = await ctx.open();
    for (let i = 1; i <= 20; i++) await log.append('a', ctx.req(`a${i}`));
    clock.advance(10_000_000);
    await ctx.harness.applyRetention(log);
    expect(await log.state('a')).toMatchObject({ head: 20, first: 1 });
    log = await ctx.reopen(log, { retention: { maxCount: 15, maxAgeMs: 1000 } });
    for (let i = 21; i <= 25; i++) await log.append('a', ctx.req(`a${i}`));
    await ctx.harness.applyRetention(log);
    expect(offsets(await log.read('a', 0, 100))).toEqual(range(21, 25));
  });
}
