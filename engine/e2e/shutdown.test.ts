/**
 * SIGTERM of a CHILD engine process: connected vehicles get close 1001 going_away, the process
 * flushes and exits 0, and what was published is there after a restart. Also the in-process
 * Engine.close() path the tests use everywhere else.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE } from '../errors.ts';
import {
  history,
  publish,
  publishOk,
  publishSeq,
  range,
  spawnEngine,
  startTestEngine,
  tempDir,
  trackChildEngines,
  tryConnect,
  until,
  Vehicle,
} from '../testing/harness.ts';

const { children, dirs, cleanup } = trackChildEngines();

afterEach(cleanup);

describe('SIGTERM', () => {
  it('closes vehicles with 1001 going_away and exits 0; nothing published is lost', async () => {
    const dir = await tempDir('abe-sigterm-');
    dirs.push(dir);
    const engine = await spawnEngine(dir);
    children.push(engine);
    const area = 'term:1';
    const vehicles = await Promise.all([Vehicle.connect(engine.wsUrl), Vehicle.connect(engine.wsUrl, { protocol: 'v1.msgpack' })]);
    for (const v of vehicles) await v.subscribe(area);
    await publishSeq(engine.base, area, 20);
    for (const v of vehicles) await v.waitOffset(area, 20);

    engine.proc.kill('SIGTERM');
    for (const v of vehicles) expect(await v.waitClose()).toEqual({ code: CLOSE.going_away.code, reason: 'going_away' });
    expect(await engine.exited).toEqual({ code: 0, signal: null });
    expect(engine.output()).toContain('"msg":"stopped"');

    const again = await spawnEngine(dir);
    children.push(again);
    expect((await history(again.base, area)).map((m) => m.offset)).toEqual(range(1, 20));
    expect((await publishOk(again.base, area, { n: 21 })).offset).toBe(21);
  });

  it('publishes in flight at SIGTERM: each is answered 201 (and kept) or refused, never lost', async () => {
    const dir = await tempDir('abe-sigterm-');
    dirs.push(dir);
    const engine = await spawnEngine(dir);
    children.push(engine);
    const area = 'term:inflight';
    const acked = new Map<number, number>();
    const refused: number[] = [];
    let seq = 0;
    let stop = false;
    const publisher = async (): Promise<void> => {
      while (!stop) {
        const mine = ++seq;
        const r = await publish(engine.base, area, { seq: mine }).catch(() => undefined);
        if (r === undefined) return; // connection refused or reset: the engine is gone
        if (r.status === 201) acked.set(r.body.offset as number, mine);
        else refused.push(r.status);
      }
    };
    const publishers = Promise.all(Array.from({ length: 6 }, () => publisher()));
    await until('100 acknowledged publishes', () => acked.size >= 100);
    engine.proc.kill('SIGTERM');
    expect(await engine.exited).toEqual({ code: 0, signal: null });
    stop = true;
    await publishers;
    for (const status of refused) expect(status).toBe(503);

    const again = await spawnEngine(dir);
    children.push(again);
    const kept = new Map((await history(again.base, area)).map((m) => [m.offset, (m.data as { seq: number }).seq]));
    for (const [offset, mine] of acked) expect(kept.get(offset), `offset ${offset}`).toBe(mine);
  });
});

describe('Engine.close() in process', () => {
  it('closes vehicles with 1001 and refuses new connections', async () => {
    const t = await startTestEngine();
    try {
      const v = await t.connect();
      await v.subscribe('close:1');
      const closing = t.engine.close();
      expect(await v.waitClose()).toEqual({ code: 1001, reason: 'going_away' });
      await closing;
      const late = await tryConnect(t.wsUrl).catch((err: unknown) => err);
      expect(late).not.toBeInstanceOf(Vehicle); // refused: the listen socket is closed
    } finally {
      await t.stop();
    }
  });
});
