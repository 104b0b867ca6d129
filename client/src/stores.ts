/** Position stores that run everywhere: memory (default) and localStorage (browsers). */
import type { Position, PositionStore } from './types.ts';

export class MemoryPositionStore implements PositionStore {
  private readonly positions = new Map<string, Position>();
  get(area: string): Position | undefined {
    return this.positions.get(area);
  }
  set(area: string, pos: Position): void {
    this.positions.set(area, pos);
  }
  delete(area: string): void {
    this.positions.delete(area);
  }
  async flush(): Promise<void> {}
}

/** The part of the Web Storage API the store uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * localStorage, one key per area (`prefix + area` → `{"e":epoch,"o":offset}`), written on every
 * set (synchronous and cheap). Every access is guarded: private modes and denied storage throw,
 * and then the store keeps working from memory (one `onError`). Use one prefix per client: two
 * tabs sharing a prefix share positions.
 */
export class LocalStoragePositionStore implements PositionStore {
  private readonly memory = new MemoryPositionStore();
  private readonly storage: StorageLike | undefined;
  private readonly prefix: string;
  private failed = false;

  constructor(opts: { prefix?: string; storage?: StorageLike; onError?: (err: unknown) => void } = {}) {
    this.prefix = opts.prefix ?? 'abe:pos:';
    this.onError = opts.onError ?? (() => {});
    try {
      this.storage = opts.storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    } catch (err) {
      this.fail(err);
    }
  }

  private readonly onError: (err: unknown) => void;

  private fail(err: unknown): void {
    if (!this.failed) this.onError(err);
    this.failed = true;
  }

  get(area: string): Position | undefined {
    const mem = this.memory.get(area);
    if (mem !== undefined || this.storage === undefined || this.failed) return mem;
    try {
      const raw = this.storage.getItem(this.prefix + area);
      if (raw === null) return undefined;
      const v = JSON.parse(raw) as { e?: unknown; o?: unknown };
      if (typeof v.e !== 'string' || typeof v.o !== 'number') return undefined;
      const pos = { epoch: v.e, offset: v.o };
      this.memory.set(area, pos);
      return pos;
    } catch (err) {
      this.fail(err);
      return undefined;
    }
  }

  set(area: string, pos: Position): void {
    this.memory.set(area, pos);
    if (this.storage === undefined || this.failed) return;
    try {
      this.storage.setItem(this.prefix + area, JSON.stringify({ e: pos.epoch, o: pos.offset }));
    } catch (err) {
      this.fail(err);
    }
  }

  delete(area: string): void {
    this.memory.delete(area);
    if (this.storage === undefined || this.failed) return;
    try {
      this.storage.removeItem(this.prefix + area);
    } catch (err) {
      this.fail(err);
    }
  }

  async flush(): Promise<void> {}
}
