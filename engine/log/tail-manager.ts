/**
 * Tailing cursors over a synchronous, snapshot-consistent store (the embedded log).
 *
 * Each tail keeps `next` (the next offset to deliver). A pump reads a batch from `next`, advances
 * `next` past it, then calls the listener; one pump per tail at a time (`running`), a trigger that
 * arrives while pumping sets `again`, so delivery is in order, never concurrent, never duplicated.
 *
 * Triggers: `notify(area)` after a local append is durable (coalesced into one setImmediate for all
 * areas touched in that turn), and a poll timer (one for all tails) that looks up each tailed
 * area's head once per tick, to notice appends made by other processes.
 */
import type { LogRecord, TailHandle, TailListener } from './types.ts';

export interface TailSource {
  /** Records with offset >= from (starting at the first retained one), up to limit, plus the area's bounds. */
  readSync(area: string, from: number, limit: number): { records: LogRecord[]; head: number; first: number };
  /** The area's head (0 if it never had a record). */
  headSync(area: string): number;
  /**
   * Highest offset tails may deliver: records committed by this process but not yet durable
   * (awaiting fsync) must not reach a vehicle before the publisher's answer could [DESIGN
   * "Nothing acknowledged is lost"; offsets are the contract]. Infinity when nothing is pending.
   */
  ceiling(area: string): number;
  /** The poll saw records up to `head` above the ceiling: make them durable, then notify(area). */
  requestDurable(area: string, head: number): void;
}

export interface TailManagerOptions {
  pollMs: number;
  batchSize: number;
  onError: (error: unknown, where: string) => void;
}

class Tail implements TailHandle {
  running = false;
  again = false;
  closed = false;
  constructor(
    readonly area: string,
    public next: number,
    readonly listener: TailListener,
    private readonly detach: (tail: Tail) => void,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach(this);
  }
}

export class TailManager {
  private readonly byArea = new Map<string, Set<Tail>>();
  private readonly dirty = new Set<string>();
  private immediate: NodeJS.Immediate | undefined;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: TailSource,
    private readonly options: TailManagerOptions,
  ) {}

  add(area: string, after: number, listener: TailListener): TailHandle {
    const start = Number.isFinite(after) ? Math.max(0, Math.floor(after)) + 1 : 1;
    const tail = new Tail(area, start, listener, (t) => this.remove(t));
    let set = this.byArea.get(area);
    if (!set) this.byArea.set(area, (set = new Set()));
    set.add(tail);
    this.ensurePolling();
    // Never call the listener synchronously from tail(): first delivery happens on a later turn.
    this.notify(area);
    return tail;
  }

  /** Something was appended to `area` in this process: wake its tails on the next turn. */
  notify(area: string): void {
    if (!this.byArea.has(area)) return;
    this.dirty.add(area);
    this.immediate ??= setImmediate(() => {
      this.immediate = undefined;
      const areas = [...this.dirty];
      this.dirty.clear();
      for (const a of areas) this.pumpArea(a);
    });
  }

  closeAll(): void {
    for (const set of [...this.byArea.values()]) for (const t of [...set]) t.close();
    this.byArea.clear();
    this.stopPolling();
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
  }

  get size(): number {
    let n = 0;
    for (const set of this.byArea.values()) n += set.size;
    return n;
  }

  private remove(tail: Tail): void {
    const set = this.byArea.get(tail.area);
    if (!set) return;
    set.delete(tail);
    if (set.size === 0) this.byArea.delete(tail.area);
    if (this.byArea.size === 0) this.stopPolling();
  }

  private pumpArea(area: string): void {
    const set = this.byArea.get(area);
    if (!set) return;
    for (const t of [...set]) this.pump(t);
  }

  private poll(): void {
    for (const [area, set] of this.byArea) {
      let head: number;
      try {
        head = this.source.headSync(area);
      } catch (error) {
        this.options.onError(error, 'tail poll');
        return;
      }
      const ceiling = this.source.ceiling(area);
      if (head > ceiling) this.source.requestDurable(area, head);
      const limit = Math.min(head, ceiling);
      for (const t of [...set]) if (limit >= t.next) this.pump(t);
    }
  }

  private pump(tail: Tail): void {
    if (tail.closed) return;
    if (tail.running) {
      tail.again = true;
      return;
    }
    tail.running = true;
    this.drain(tail);
  }

  /** Runs with tail.running = true; clears it when caught up (or closed). */
  private drain(tail: Tail): void {
    const { batchSize } = this.options;
    for (;;) {
      tail.again = false;
      if (tail.closed) break;
      let batch: { records: LogRecord[]; head: number; first: number };
      const ceiling = this.source.ceiling(tail.area);
      if (ceiling < tail.next) break;
      try {
        batch = this.source.readSync(tail.area, tail.next, Math.min(batchSize, ceiling - tail.next + 1));
      } catch (error) {
        this.options.onError(error, 'tail read');
        break;
      }
      // The read may start above `next` (retention moved `first`), so its count limit alone does
      // not stop it at the ceiling: cut by offset.
      let { records } = batch;
      if (records.length > 0 && records[records.length - 1]!.offset > ceiling) records = records.filter((r) => r.offset <= ceiling);
      if (records.length > 0) {
        tail.next = records[records.length - 1]!.offset + 1;
        let wait: Promise<void> | undefined | void;
        try {
          wait = tail.listener(records);
        } catch (error) {
          this.options.onError(error, 'tail listener');
        }
        if (wait !== undefined) {
          // The listener goes on over later turns: keep `running`, read on once it is done.
          wait.then(
            () => this.drain(tail),
            (error: unknown) => {
              this.options.onError(error, 'tail listener');
              this.drain(tail);
            },
          );
          return;
        }
      } else if (batch.first > tail.next) {
        // everything from `next` was trimmed: continue after the retained window
        tail.next = batch.first;
      }
      if (tail.closed) break;
      if (records.length === batchSize && ceiling >= tail.next) {
        // more may be waiting: continue on a later turn so a long backlog never blocks the loop
        setImmediate(() => this.drain(tail));
        return;
      }
      if (!tail.again) break;
    }
    tail.running = false;
  }

  private ensurePolling(): void {
    if (this.pollTimer || this.options.pollMs <= 0) return;
    this.pollTimer = setInterval(() => this.poll(), this.options.pollMs);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }
}
