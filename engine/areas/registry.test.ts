/**
 * AreaRegistry.subscribe (where a subscription starts) and idle cursor closing, on the in-memory
 * AreaLog double and fake Subscribers (./testing/cursor-harness.ts).
 */
import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors.ts';
import { AreaRegistry } from './registry.ts';
import { AREA, Clock, countingMetrics, DEFAULTS, FakeSub, flush, makeFormats, MemLog, range } from './testing/cursor-harness.ts';

describe('AreaRegistry.subscribe: where a subscription starts', () => {
  async function registryEnv(preload: number) {
    const clock = new Clock();
    const log = new MemLog(clock);
    for (let i = 0; i < preload; i++) log.appendNow(AREA);
    const reg = new AreaRegistry(log, makeFormats(), countingMetrics().metrics, { ...DEFAULTS, sweepIntervalMs: 1000, idleCloseMs: 60_000 }, undefined, () => {}, clock.now);
    return { clock, log, reg };
  }

  it('no since: from the head, recovered:false; one cursor per area however many subscribe', async () => {
    const { log, reg } = await registryEnv(7);
    const subs = await Promise.all([new FakeSub(0), new FakeSub(1), new FakeSub(0)].map((s) => reg.subscribe(s, AREA, undefined)));
    for (const s of subs) expect(s).toMatchObject({ recovered: false, head: 7, epoch: 'epoch-1' });
    expect(log.openTails).toBe(1);
    expect(reg.areaCount).toBe(1);
    reg.close();
  });

  it('same epoch and retained: from since, recovered:true; older than retention or other epoch: from the head', async () => {
    const { log, reg } = await registryEnv(10);
    log.trimTo(AREA, 5);
    const s = new FakeSub(0);
    const ok = await reg.subscribe(s, AREA, { offset: 4, epoch: 'epoch-1' });
    expect(ok).toMatchObject({ recovered: true });
    ok.cursor.start(ok.slot, s);
    await flush(); // a fresh cursor's ring is empty: this replays from the log
    expect(s.offsets).toEqual(range(5, 10));
    expect(await reg.subscribe(new FakeSub(0), AREA, { offset: 3, epoch: 'epoch-1' })).toMatchObject({ recovered: false, head: 10 });
    expect(await reg.subscribe(new FakeSub(0), AREA, { offset: 8, epoch: 'other' })).toMatchObject({ recovered: false, head: 10 });
    expect(await reg.subscribe(new FakeSub(0), AREA, { offset: 10, epoch: 'epoch-1' })).toMatchObject({ recovered: true });
    reg.close();
  });

  it('an offset beyond anything the log has is bad_offset', async () => {
    const { reg } = await registryEnv(3);
    await expect(reg.subscribe(new FakeSub(0), AREA, { offset: 4, epoch: 'epoch-1' })).rejects.toSatisfy((e) => e instanceof EngineError && e.code === 'bad_offset');
    reg.close();
  });

  it('idle cursors are closed by the sweep after idleCloseMs', async () => {
    const clock = new Clock();
    const log = new MemLog(clock);
    const reg = new AreaRegistry(log, makeFormats(), countingMetrics().metrics, { ...DEFAULTS, sweepIntervalMs: 1000, idleCloseMs: 500 }, undefined, () => {}, clock.now);
    const s = await reg.subscribe(new FakeSub(0), AREA, undefined);
    s.cursor.detach(s.slot);
    clock.t += 501;
    reg.sweep();
    expect(reg.areaCount).toBe(0);
    expect(log.openTails).toBe(0);
  });
});
