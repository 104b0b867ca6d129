/**
 * Offset derivation: turns an area topic, read in message-id order, into dense offsets that every
 * reader of the topic agrees on, wherever it starts.
 *
 * The count of a message is the number of data messages at or before it (a data message's count
 * is its offset; a control message has the count of the data message before it). The topic
 * itself carries facts about counts, written by engine processes that already know them:
 *
 *   anchor (ref, count, epoch): "the message with id `ref` had count `count` in `epoch`"
 *
 * carried by every engine data message (about the newest message its writer had read), by
 * checkpoint control messages (written when an area has had no anchor for a while, e.g. only
 * foreign producers), and by the area's genesis (the first anchor ever, see ./area-reader.ts).
 *
 * A reader that starts anywhere buffers messages until an anchor arrives whose `ref` it has seen;
 * then it numbers the buffer (backwards and forwards from `ref`) and from there counts each data
 * message +1. Anchors it can check (ref still in its recent window) must agree: a disagreement is
 * reported and ignored (the first anchor a reader resolved from wins). A genesis with another epoch
 * means the area was reset under a running reader: `reset` tells the caller to start over.
 *
 * Pure: no Pulsar, no timers. Fed one message at a time, in topic order, without repeats.
 */
import { epochGeneration, type Anchor } from './codec.ts';

export interface SeqMessage {
  /** ledger:entry:batch */
  readonly key: string;
  /** true for data messages (they count one offset). */
  readonly data: boolean;
  readonly anchor?: Anchor;
  readonly genesis?: boolean;
}

export interface Numbered<T> {
  readonly item: T;
  readonly offset: number;
  readonly key: string;
}

export interface PushResult<T> {
  /** Data messages that got their offset with this push, in offset order. */
  readonly numbered: Numbered<T>[];
  /** Data messages before the area's genesis: they never get an offset. */
  readonly dropped: T[];
  /** Set when a genesis of another epoch arrived: the caller must restart the area from scratch. */
  readonly reset?: string;
}

export interface SequencerOptions {
  /** Messages kept while unresolved (oldest dropped beyond; they become unknowable here). */
  readonly maxPending: number;
  /** Recent message ids remembered to check anchors against. */
  readonly recentWindow: number;
  readonly onConflict: (what: string) => void;
}

interface Pending<T> {
  readonly msg: SeqMessage;
  readonly item: T | undefined;
}

const EMPTY: PushResult<never> = { numbered: [], dropped: [] };

export class OffsetSequencer<T> {
  resolved = false;
  epoch = '';
  /** Count at the last message pushed (the head once resolved). */
  count = 0;
  /** Key of the last message pushed. */
  lastKey: string | undefined;
  /** Highest epoch generation seen in unresolved anchors (for reset decisions). */
  maxSeenGeneration = -1;
  private pending: Pending<T>[] = [];
  private readonly recent = new Map<string, number>();

  constructor(private readonly options: SequencerOptions) {}

  /** Key of the first buffered data message (a genesis can anchor it as count 1). */
  firstPendingDataKey(): string | undefined {
    return this.pending.find((p) => p.msg.data)?.msg.key;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  push(msg: SeqMessage, item?: T): PushResult<T> {
    this.lastKey = msg.key;
    if (!this.resolved) return this.pushUnresolved(msg, item);
    const anchor = msg.anchor;
    if (anchor && anchor.epoch !== this.epoch) {
      if (msg.genesis) return { ...EMPTY, reset: anchor.epoch };
      this.options.onConflict(`anchor of epoch ${anchor.epoch} in an area of epoch ${this.epoch} (${msg.key})`);
    } else if (anchor) {
      const known = this.recent.get(anchor.ref);
      if (known !== undefined && known !== anchor.count) {
        this.options.onConflict(`anchor says ${anchor.ref} had count ${anchor.count}, this reader counted ${known} (${msg.key})`);
      }
    }
    if (msg.data) this.count++;
    this.remember(msg.key, this.count);
    if (!msg.data) return EMPTY;
    return { numbered: [{ item: item as T, offset: this.count, key: msg.key }], dropped: [] };
  }

  private pushUnresolved(msg: SeqMessage, item: T | undefined): PushResult<T> {
    this.pending.push({ msg, item });
    if (this.pending.length > this.options.maxPending) this.pending.shift();
    const anchor = msg.anchor;
    if (!anchor) return EMPTY;
    this.maxSeenGeneration = Math.max(this.maxSeenGeneration, epochGeneration(anchor.epoch));
    const at = this.indexOf(anchor.ref);
    if (at < 0) return EMPTY;
    return this.resolve(at, anchor.count, anchor.epoch);
  }

  private indexOf(key: string): number {
    for (let i = this.pending.length - 1; i >= 0; i--) if (this.pending[i]!.msg.key === key) return i;
    return -1;
  }

  private resolve(at: number, countAt: number, epoch: string): PushResult<T> {
    const counts = new Array<number>(this.pending.length);
    counts[at] = countAt;
    for (let i = at + 1; i < this.pending.length; i++) counts[i] = counts[i - 1]! + (this.pending[i]!.msg.data ? 1 : 0);
    for (let i = at - 1; i >= 0; i--) counts[i] = counts[i + 1]! - (this.pending[i + 1]!.msg.data ? 1 : 0);
    const numbered: Numbered<T>[] = [];
    const dropped: T[] = [];
    this.pending.forEach((p, i) => {
      this.remember(p.msg.key, counts[i]!);
      if (!p.msg.data) return;
      if (counts[i]! >= 1) numbered.push({ item: p.item as T, offset: counts[i]!, key: p.msg.key });
      else dropped.push(p.item as T);
    });
    this.resolved = true;
    this.epoch = epoch;
    this.count = counts[counts.length - 1]!;
    this.pending = [];
    return { numbered, dropped };
  }

  /** Count at a recently seen message (undefined when unknown or forgotten). */
  countAt(key: string): number | undefined {
    return this.recent.get(key);
  }

  private remember(key: string, count: number): void {
    this.recent.set(key, count);
    if (this.recent.size > this.options.recentWindow) this.recent.delete(this.recent.keys().next().value!);
  }
}
