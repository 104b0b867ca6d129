/** Position stores (unit + one child process): localStorage that throws, and the file store's atomic writes under kill -9. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FilePositionStore } from './node.ts';
import { LocalStoragePositionStore, type StorageLike } from './stores.ts';

class FakeStorage implements StorageLike {
  readonly items = new Map<string, string>();
  failing = false;
  getItem(k: string): string | null {
    if (this.failing) throw new Error('SecurityError');
    return this.items.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    if (this.failing) throw new Error('QuotaExceededError');
    this.items.set(k, v);
  }
  removeItem(k: string): void {
    this.items.delete(k);
  }
}

describe('LocalStoragePositionStore', () => {
  it('one key per area under its prefix; a second store (a reload) reads them back', () => {
    const storage = new FakeStorage();
    const a = new LocalStoragePositionStore({ prefix: 'car1:', storage });
    a.set('city:d7', { epoch: 'e1', offset: 42 });
    expect([...storage.items.keys()]).toEqual(['car1:city:d7']);
    expect(new LocalStoragePositionStore({ prefix: 'car1:', storage }).get('city:d7')).toEqual({ epoch: 'e1', offset: 42 });
    expect(new LocalStoragePositionStore({ prefix: 'car2:', storage }).get('city:d7')).toBeUndefined();
    a.delete('city:d7');
    expect(storage.items.size).toBe(0);
  });

  it('storage that throws (private mode, quota): keeps working from memory, reports once', () => {
    const storage = new FakeStorage();
    const errors: unknown[] = [];
    const s = new LocalStoragePositionStore({ storage, onError: (e) => errors.push(e) });
    storage.failing = true;
    s.set('a', { epoch: 'e', offset: 1 });
    s.set('a', { epoch: 'e', offset: 2 });
    expect(s.get('a')).toEqual({ epoch: 'e', offset: 2 });
    expect(errors).toHaveLength(1);
  });
});

describe('FilePositionStore', () => {
  it('coalesces writes, flush() makes them durable, reopen reads them; trims to maxEntries by recency', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'abe-pos-')), 'p.json');
    const s = await FilePositionStore.open(path, { maxEntries: 2 });
    for (let i = 1; i <= 100; i++) s.set('a', { epoch: 'e', offset: i });
    s.set('b', { epoch: 'e', offset: 7 });
    s.set('c', { epoch: 'e', offset: 9 });
    await s.flush();
    const again = await FilePositionStore.open(path);
    expect(again.get('a')).toBeUndefined(); // trimmed: least recently set
    expect(again.get('b')).toEqual({ epoch: 'e', offset: 7 });
    expect(again.get('c')).toEqual({ epoch: 'e', offset: 9 });
  });

  it('kill -9 in the middle of writes: the file is always a whole old or new JSON, never torn', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'abe-pos-kill-'));
    const path = join(dir, 'p.json');
    const here = fileURLToPath(new URL('.', import.meta.url));
    const script = `
      import { FilePositionStore } from ${JSON.stringify(resolve(here, 'node.ts'))};
      const s = await FilePositionStore.open(${JSON.stringify(path)});
      let i = 0;
      const big = Object.fromEntries(Array.from({ length: 200 }, (_, k) => ['area-' + k, 0]));
      setInterval(() => { for (const k of Object.keys(big)) s.set(k, { epoch: 'e', offset: ++i }); }, 1);
      process.send?.('ready');`;
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], cwd: resolve(here, '../..') });
      await new Promise((r) => child.once('message', r));
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 200));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const text = readFileSync(path, 'utf8');
      const parsed = JSON.parse(text) as { v: number; positions: Record<string, { offset: number }> };
      expect(parsed.v).toBe(1);
      expect(Object.keys(parsed.positions).length).toBe(200);
    }
  }, 60_000);
});
