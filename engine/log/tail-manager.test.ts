import { describe, expect, it } from 'vitest';
import { TailManager, type TailSource } from './tail-manager.ts';
import type { LogRecord } from './types.ts';

const rec = (offset: number): LogRecord => ({ offset, time: 0, expiresAt: 0, contentType: 'binary', payload: new Uint8Array() });

describe('TailManager and the durable ceiling', () => {
  it('never delivers past the ceiling, even when retention moved the first record above `next`', async () => {
    // Records 5..10 retained (1..4 trimmed), durable up to 7: the read from 1 with a count limit of
    // 7 would return 5..10 unless the batch is cut by offset.
    let ceiling = 7;
    const requested: number[] = [];
    const source: TailSource = {
      readSync: (_a, from, limit) => {
        const start = Math.max(from, 5);
        const records = [];
        for (let o = start; o <= 10 && records.length < limit; o++) records.push(rec(o));
        return { records, head: 10, first: 5 };
      },
      headSync: () => 10,
      ceiling: () => ceiling,
      requestDurable: (_a, head) => requested.push(head),
    };
    const tm = new TailManager(source, { pollMs: 1, batchSize: 256, onError: (e) => { throw e; } });
    const got: number[] = [];
    tm.add('a', 0, (rs) => {
      got.push(...rs.map((r) => r.offset));
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual([5, 6, 7]);
    expect(requested.at(-1)).toBe(10); // the poll asked for the rest to become durable
    ceiling = 10;
    tm.notify('a');
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual([5, 6, 7, 8, 9, 10]);
    tm.closeAll();
  });
});
