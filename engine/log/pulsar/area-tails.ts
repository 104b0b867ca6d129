/**
 * The tails of one area in this process. All of them are fed by the area's one Pulsar reader
 * (./area-reader.ts): a tail only keeps `next`, the next offset it must get. A pump delivers from
 * `next` to the area's head, from memory where the records are still cached and through a
 * (serialized) replay from Pulsar otherwise, in batches; one pump per tail at a time, so the
 * listener is never called concurrently, never twice for an offset, and never from inside tail().
 */
import type { LogRecord, TailHandle, TailListener } from '../types.ts';

export interface TailSource {
  /** Offsets are known (the area has an anchor). */
  resolved(): boolean;
  head(): number;
  first(): number;
  cacheStart(): number;
  slice(from: number, limit: number): LogRecord[];
  read(from: number, limit: number): Promise<LogRecord[]>;
  onError(error: unknown, where: string): void;
}

const BATCH = 256;
const RETRY_MS = 1000;

class AreaTail implements TailHandle {
  running = false;
  closed = false;
  retry: NodeJS.Timeout | undefined;
  constructor(
    public next: number,
    readonly listener: TailListener,
    private readonly detach: (t: AreaTail) => void,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.detach(this);
  }
}

export class AreaTails {
  private readonly tails = new Set<AreaTail>();
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private source: TailSource) {}

  /** Hands the tails to another source (the area's reader was re-created after failing to open). */
  attach(source: TailSource): void {
    this.source = source;
    this.notify();
  }

  get size(): number {
    return this.tails.size;
  }

  add(after: number, listener: TailListener): TailHandle {
    const next = Number.isFinite(after) ? Math.max(0, Math.floor(after)) + 1 : 1;
    const tail = new AreaTail(next, listener, (t) => this.tails.delete(t));
    this.tails.add(tail);
    this.notify();
    return tail;
  }

  /** New records (or the first anchor) arrived: pump every tail on the next turn. */
  notify(): void {
    if (this.tails.size === 0) return;
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      for (const t of [...this.tails]) this.pump(t);
    });
  }

  closeAll(): void {
    for (const t of [...this.tails]) t.close();
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
  }

  private pump(tail: AreaTail): void {
    if (tail.closed || tail.running) return;
    tail.running = true;
    this.drain(tail).finally(() => {
      tail.running = false;
    });
  }

  private async drain(tail: AreaTail): Promise<void> {
    const s = this.source;
    try {
      while (!tail.closed && s.resolved()) {
        if (tail.next < s.first()) tail.next = s.first();
        if (tail.next > s.head()) return;
        const records = tail.next >= s.cacheStart() ? s.slice(tail.next, BATCH) : await s.read(tail.next, BATCH);
        if (tail.closed || records.length === 0) return;
        tail.next = records[records.length - 1]!.offset + 1;
        try {
          const wait = tail.listener(records);
          // A promise: the listener goes on over later turns; nothing more until it is done.
          if (wait !== undefined) await wait;
        } catch (error) {
          s.onError(error, 'tail listener');
        }
        if (records.length === BATCH) await new Promise((r) => setImmediate(r));
      }
    } catch (error) {
      s.onError(error, 'tail read');
      tail.retry ??= setTimeout(() => {
        tail.retry = undefined;
        this.pump(tail);
      }, RETRY_MS);
    }
  }
}
