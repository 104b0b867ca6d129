/**
 * Frames encoded for replays from the log, kept a little while per area cursor: after a restart
 * (empty ring) or a reconnect storm, thousands of slots replay the same offsets, and each message
 * must still be encoded, and compressed, ONCE per format [DESIGN "Encode once"; issue 16: a
 * deflate of a 10 KB alert costs ~0.13 ms, 100,000 resuming vehicles would pay it 100,000 times].
 *
 * Bounded: at most MAX_OFFSETS offsets, the oldest inserted dropped first, and emptied by the
 * sweep once no replay has used it for IDLE_MS. An entry is checked against the record's accept
 * time, so a log reset that reuses offsets never serves an old message's frame.
 */
import { PayloadView, type FormatTable } from './encoding.ts';
import type { LogRecord } from '../log/types.ts';

export const REPLAY_CACHE_OFFSETS = 256;
export const REPLAY_CACHE_IDLE_MS = 10_000;

export class ReplayCache {
  /** By offset: the record's view, which keeps every frame encoded from it (PayloadView.frame). */
  private readonly entries = new Map<number, PayloadView>();
  private usedAt = 0;

  constructor(
    private readonly formats: FormatTable,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The record's frame in `format`, encoded on first use (FormatTable.encodeOne). */
  frame(format: number, area: string, r: LogRecord): Uint8Array {
    this.usedAt = this.now();
    let view = this.entries.get(r.offset);
    if (view === undefined || view.record.time !== r.time) {
      if (view === undefined && this.entries.size >= REPLAY_CACHE_OFFSETS) this.entries.delete(this.entries.keys().next().value as number);
      view = new PayloadView(r);
      this.entries.set(r.offset, view);
    }
    return this.formats.encodeOne(format, area, view);
  }

  /** From the sweep: forget everything once replays stopped using it. */
  sweep(now: number): void {
    if (this.entries.size > 0 && now - this.usedAt > REPLAY_CACHE_IDLE_MS) this.entries.clear();
  }
}
