import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../log/types.ts';
import { FormatTable, type MessageEncoder } from './encoding.ts';
import { REPLAY_CACHE_IDLE_MS, REPLAY_CACHE_OFFSETS, ReplayCache } from './replay-cache.ts';

function counted(): { table: FormatTable; calls: string[] } {
  const calls: string[] = [];
  const table = new FormatTable();
  for (const name of ['a', 'b']) {
    const enc: MessageEncoder = { name, encode: (area, r) => (calls.push(`${name}:${r.offset}:${r.time}`), Buffer.from(`${name}${r.offset}@${r.time}`)) };
    table.add(enc);
  }
  return { table, calls };
}

const rec = (offset: number, time = 1000 + offset): LogRecord => ({ offset, time, expiresAt: 0, contentType: 'json', payload: Buffer.from('{}') });

describe('ReplayCache', () => {
  it('encodes each (offset, format) once for every replaying slot; a reused offset with another time is encoded again', () => {
    const { table, calls } = counted();
    let now = 0;
    const c = new ReplayCache(table, () => now);
    for (let slot = 0; slot < 50; slot++) for (let o = 1; o <= 10; o++) c.frame(slot % 2, 'x', rec(o));
    expect(calls).toHaveLength(20);
    expect(Buffer.from(c.frame(1, 'x', rec(3))).toString()).toBe('b3@1003');
    expect(Buffer.from(c.frame(1, 'x', rec(3, 77))).toString()).toBe('b3@77'); // a log reset reused offset 3
    expect(calls).toHaveLength(21);
  });

  it('holds at most REPLAY_CACHE_OFFSETS offsets and empties once idle', () => {
    const { table, calls } = counted();
    let now = 0;
    const c = new ReplayCache(table, () => now);
    for (let o = 1; o <= REPLAY_CACHE_OFFSETS + 10; o++) c.frame(0, 'x', rec(o));
    expect(c.size).toBe(REPLAY_CACHE_OFFSETS);
    c.frame(0, 'x', rec(1)); // dropped first: encoded again
    expect(calls).toHaveLength(REPLAY_CACHE_OFFSETS + 11);
    now = REPLAY_CACHE_IDLE_MS;
    c.sweep(now);
    expect(c.size).toBeGreaterThan(0);
    c.sweep(now + 1);
    expect(c.size).toBe(0);
  });
});
