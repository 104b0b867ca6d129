/**
 * Node-only parts ('abe-client/node'): a position store in one JSON file, written atomically
 * (temporary file + rename, optionally fsync'd), so a kill -9 leaves the old or the new file,
 * never a torn one.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Position, PositionStore } from './types.ts';

export interface FileStoreOptions {
  /** fsync the file before the rename (survives power loss; default false: survives kill -9). */
  fsync?: boolean;
  /** Coalesce writes for this long (ms, default 0: the next turn). */
  delayMs?: number;
  /** Keep at most this many areas, the most recently set (default 1000). */
  maxEntries?: number;
}

interface Entry {
  epoch: string;
  offset: number;
  at: number;
}

export class FilePositionStore implements PositionStore {
  private readonly positions = new Map<string, Entry>();
  private dirty = false;
  private scheduled: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> | undefined;
  /** The last write's error, if it failed (the next set retries). */
  lastError: unknown;

  private constructor(
    readonly path: string,
    private readonly options: Required<FileStoreOptions>,
  ) {}

  static async open(path: string, opts: FileStoreOptions = {}): Promise<FilePositionStore> {
    const store = new FilePositionStore(path, { fsync: opts.fsync ?? false, delayMs: opts.delayMs ?? 0, maxEntries: opts.maxEntries ?? 1000 });
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      const parsed = JSON.parse(text) as { v?: number; positions?: Record<string, Entry> };
      for (const [area, e] of Object.entries(parsed.positions ?? {})) {
        if (typeof e?.epoch === 'string' && typeof e.offset === 'number') store.positions.set(area, { epoch: e.epoch, offset: e.offset, at: e.at ?? 0 });
      }
    }
    return store;
  }

  get(area: string): Position | undefined {
    const e = this.positions.get(area);
    return e === undefined ? undefined : { epoch: e.epoch, offset: e.offset };
  }

  set(area: string, pos: Position): void {
    this.positions.delete(area); // re-insert: Map order is recency order for the trim
    this.positions.set(area, { epoch: pos.epoch, offset: pos.offset, at: Date.now() });
    this.schedule();
  }

  delete(area: string): void {
    if (this.positions.delete(area)) this.schedule();
  }

  /** Resolves once everything set before the call is on disk. */
  async flush(): Promise<void> {
    if (this.scheduled !== undefined) {
      clearTimeout(this.scheduled);
      this.scheduled = undefined;
    }
    while (this.writing !== undefined) await this.writing;
    if (this.dirty) await this.write();
  }

  private schedule(): void {
    this.dirty = true;
    if (this.scheduled !== undefined || this.writing !== undefined) return;
    this.scheduled = setTimeout(() => {
      this.scheduled = undefined;
      void this.write();
    }, this.options.delayMs);
  }

  private write(): Promise<void> {
    this.dirty = false;
    while (this.positions.size > this.options.maxEntries) this.positions.delete(this.positions.keys().next().value as string);
    const body = JSON.stringify({ v: 1, positions: Object.fromEntries(this.positions) });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const run = async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(body);
        if (this.options.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    };
    this.writing = run().then(
      () => {
        this.lastError = undefined;
      },
      (err: unknown) => {
        this.lastError = err;
        this.dirty = true;
      },
    );
    return this.writing.finally(() => {
      this.writing = undefined;
      if (this.dirty && this.lastError === undefined) this.schedule();
    });
  }
}
