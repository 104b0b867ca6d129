/** One contract for both SessionStore implementations, plus LMDB durability across a reopen. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LmdbSessionStore } from './lmdb.ts';
import { MemorySessionStore } from './memory.ts';
import type { SessionStore, StoredSession } from './types.ts';

const session = (expiresAt: number, acked = 5): StoredSession => ({
  version: 5,
  expirySeconds: 60,
  expiresAt,
  subscriptions: [{ area: 'city:a', qos: 1, epoch: 'e1', acked, sent: acked + 2 }],
});
const retained = (offset: number, text: string) => ({ offset, time: 1000 + offset, expiresAt: 0, contentType: 'json' as const, payload: Buffer.from(text) });

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function lmdb(): Promise<LmdbSessionStore> {
  const dir = await mkdtemp(join(tmpdir(), 'abe-sessions-'));
  dirs.push(dir);
  return new LmdbSessionStore(dir);
}

describe.each([
  ['memory', async () => new MemorySessionStore() as SessionStore],
  ['lmdb', lmdb],
])('SessionStore contract (%s)', (_name, make) => {
  it('a put is visible to the next get at once; delete removes it', async () => {
    const s = await make();
    await s.open();
    const p = s.putSession('car-1', session(10_000));
    expect(s.getSession('car-1')).toEqual(session(10_000)); // same tick (takeover)
    await p;
    expect(s.getSession('car-1')).toEqual(session(10_000));
    void s.deleteSession('car-1');
    expect(s.getSession('car-1')).toBeUndefined();
    await s.flush();
    expect(s.getSession('car-1')).toBeUndefined();
    await s.close();
  });

  it('expires sessions past their time unless the client is connected', async () => {
    const s = await make();
    await s.open();
    await s.putSession('old', session(100));
    await s.putSession('live', session(100));
    await s.putSession('fresh', session(10_000));
    expect(await s.expireSessions(1000, (id) => id === 'live')).toBe(1);
    expect(s.getSession('old')).toBeUndefined();
    expect(s.getSession('live')).toBeDefined();
    expect(s.getSession('fresh')).toBeDefined();
    await s.close();
  });

  it('retained: newest offset wins, clear removes', async () => {
    const s = await make();
    await s.open();
    await s.setRetained('city:p', retained(5, 'five'));
    await s.setRetained('city:p', retained(3, 'three')); // older: ignored
    expect(Buffer.from(s.getRetained('city:p')!.payload).toString()).toBe('five');
    await s.setRetained('city:p', retained(7, 'seven'));
    expect(s.getRetained('city:p')!.offset).toBe(7);
    await s.clearRetained('city:p');
    expect(s.getRetained('city:p')).toBeUndefined();
    await s.close();
  });
});

describe('LmdbSessionStore', () => {
  it('sessions and retained messages survive a reopen', async () => {
    const s = await lmdb();
    await s.open();
    await s.putSession('car-9', session(10_000, 41));
    await s.setRetained('city:r', retained(9, '{"free":1}'));
    await s.close();
    const again = new LmdbSessionStore(dirs[0]);
    await again.open();
    expect(again.getSession('car-9')).toEqual(session(10_000, 41));
    const r = again.getRetained('city:r')!;
    expect([r.offset, Buffer.from(r.payload).toString()]).toEqual([9, '{"free":1}']);
    await again.close();
  });
});
