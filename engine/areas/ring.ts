/**
 * The area ring: the most recent messages of one area, each with its frames already encoded
 * for every wire format. Offsets in the ring are contiguous, so lookup is one subtraction.
 */

export interface RingEntry {
  readonly offset: number;
  readonly time: number;
  /** 0 = never expires. */
  readonly expiresAt: number;
  /** RecordHeaders.origin ('' when the record has none): Subscriber.skipOrigin compares with it. */
  readonly origin: string;
  /** Indexed by format (see FormatTable). */
  readonly frames: readonly Uint8Array[];
}

export class FrameRing {
  private readonly slots: (RingEntry | undefined)[];
  /** Offset of the oldest entry held; meaningless while empty. */
  private firstOffset = 0;
  private count = 0;
  private bytes = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be >= 1');
    this.slots = new Array(capacity).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes of frames held (all formats). */
  get byteSize(): number {
    return this.bytes;
  }

  /** Oldest offset held, or 0 when empty. */
  get first(): number {
    return this.count === 0 ? 0 : this.firstOffset;
  }

  /** Newest offset held, or 0 when empty. */
  get last(): number {
    return this.count === 0 ? 0 : this.firstOffset + this.count - 1;
  }

  /**
   * Appends the next entry. A non-contiguous offset (the log skipped trimmed records) restarts
   * the ring at that offset, since the ring only ever holds a contiguous run.
   */
  push(entry: RingEntry): void {
    if (this.count > 0 && entry.offset !== this.firstOffset + this.count) this.clear();
    if (this.count === 0) this.firstOffset = entry.offset;
    const cap = this.capacity;
    if (this.count === cap) {
      const evicted = this.slots[this.firstOffset % cap];
      if (evicted !== undefined) this.bytes -= frameBytes(evicted);
      this.firstOffset++;
      this.count--;
    }
    this.slots[entry.offset % cap] = entry;
    this.count++;
    this.bytes += frameBytes(entry);
  }

  /** The entry for an offset, or undefined if it is not held. */
  get(offset: number): RingEntry | undefined {
    if (this.count === 0 || offset < this.firstOffset || offset >= this.firstOffset + this.count) return undefined;
    return this.slots[offset % this.capacity];
  }

  clear(): void {
    this.slots.fill(undefined);
    this.count = 0;
    this.bytes = 0;
  }
}

function frameBytes(e: RingEntry): number {
  let n = 0;
  for (let i = 0; i < e.frames.length; i++) n += e.frames[i].byteLength;
  return n;
}
