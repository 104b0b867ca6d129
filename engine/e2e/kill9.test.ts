/**
 * kill -9 of a CHILD engine process (`node --import tsx engine/main.ts`) in the middle of a
 * publish stream: after a restart on the same data dir every publish that was answered 201 is in
 * the history with its payload, new offsets continue after the last one, and a vehicle resuming
 * with its old (epoch, offset) gets exactly what it missed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { history, publishOk, range, spawnEngine, tempDir, trackChildEngines, until, Vehicle, type ChildEngine } from '../testing/harness.ts';

const { children, dirs, cleanup } = trackChildEngines();

afterEach(cleanup);

async function start(dir: string, flags: string[]): Promise<ChildEngine> {
  const c = await spawnEngine(dir, flags);
  children.push(c);
  return c;
}

describe('kill -9 of a child engine', () => {
  it.each([['flush'], ['commit']])('loses nothing acknowledged (--durability %s)', async (durability) => {
    const dir = await tempDir('abe-kill9-');
    dirs.push(dir);
    const flags = ['--durability', durability];
    const area = 'kill9:stream';
    const first = await start(dir, flags);

    // a vehicle follows the stream live until the engine dies
    const vehicle = await Vehicle.connect(first.wsUrl);
    const sub = await vehicle.subscribe(area);
    const epoch = sub.epoch as string;

    // 8 publishers in a loop; remember every 201'd offset and its payload
    const acked = new Map<number, number>();
    let seq = 0;
    let killed = false;
    const publisher = async (): Promise<void> => {
      while (!killed) {
        const mine = ++seq;
        try {
          const r = await publishOk(first.base, area, { seq: mine });
          if (!killed) acked.set(r.offset, mine);
        } catch {
          return; // the engine is gone: this publish was never answered
        }
      }
    };
    const publishers = Promise.all(Array.from({ length: 8 }, () => publisher()));
    await until('300 acknowledged publishes', () => acked.size >= 300, 20_000);
    // Snapshot BEFORE the kill: every answer in this set reached us while the engine was alive.
    const ackedAtKill = new Map(acked);
    first.proc.kill('SIGKILL');
    killed = true;
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await publishers;
    await vehicle.waitClose();
    const lastSeen = vehicle.offsets(area).at(-1) ?? 0;
    expect(vehicle.offsets(area)).toEqual(range(1, lastSeen));

    // restart on the same dir
    const second = await start(dir, flags);
    const kept = await history(second.base, area);
    const byOffset = new Map(kept.map((m) => [m.offset, (m.data as { seq: number }).seq]));
    const head = kept.at(-1)!.offset;
    expect(kept.map((m) => m.offset)).toEqual(range(1, head)); // dense, from 1
    for (const [offset, mine] of ackedAtKill) expect(byOffset.get(offset), `offset ${offset}`).toBe(mine);
    expect(head).toBeGreaterThanOrEqual(Math.max(...ackedAtKill.keys()));
    // every stored payload is one of ours, once
    expect(new Set(byOffset.values()).size).toBe(head);

    // the vehicle resumes with its old (epoch, offset): exactly the missing ones, then live
    const back = await Vehicle.connect(second.wsUrl);
    expect(await back.subscribe(area, { epoch, offset: lastSeen })).toMatchObject({ recovered: true, epoch, offset: head });
    const next = await publishOk(second.base, area, { seq: -1 });
    expect(next).toMatchObject({ offset: head + 1, epoch });
    await back.waitOffset(area, head + 1);
    await back.sync();
    expect(back.offsets(area)).toEqual(range(lastSeen + 1, head + 1));
    back.close();
    second.proc.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });
});
