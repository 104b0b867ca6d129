/**
 * AreaCursor: the ONE tailing cursor of an area in this process [DESIGN "One cursor per area per
 * process"], its ring of pre-encoded frames, and its subscriber list. Live fan-out, catch-up and
 * the sweep all live here because they share the invariant that makes replay/live seamless:
 *
 *   a slot receives offset N live only if its virtual cursor `sent` is exactly N-1 and it is LIVE;
 *   otherwise catch-up sends sent+1, sent+2, ... from the ring or the log until sent == head.
 *
 * Everything that changes `sent` runs on the one JS thread, so there is no gap and no duplicate at
 * the replay/live boundary even while publishing continues [issue 2].
 */
import type { AreaLog, LogRecord, TailHandle } from '../log/types.ts';
import type { FormatTable } from './encoding.ts';
import { FrameRing, type RingEntry } from './ring.ts';
import type { Subscriber } from './subscriber.ts';
import { CATCHING_UP, LIVE, PAUSED, REPLAYING, type VirtualCursors } from './virtual-cursors.ts';
import { catchUp } from './catch-up.ts';
import { ReplayCache } from './replay-cache.ts';
import { fanOut, fanOutBatch, WHOLE, type FanOutResult, type Slice } from './fan-out.ts';
import { sweepCursor } from './sweep.ts';
import type { AreaMetrics } from './metrics.ts';

export interface AreaSettings {
  readonly ringSize: number;
  readonly resendAfterMs: number;
  readonly maxResends: number;
  /** Records per log read during catch-up. */
  readonly replayBatch: number;
  /** A fan-out yields the event loop after this long (ms; 0 or absent: never) [fan-out.ts Slice]. */
  readonly fanoutSliceMs?: number;
  /** Slots between clock reads while slicing (default 64). */
  readonly fanoutSliceCheck?: number;
  /** Slice only while this says so (the server: connects arrived in the last 2 s); absent: always. */
  readonly fanoutSliceWhen?: () => boolean;
}

/** What a sliced fan-out delivered in all its slices. */
interface Totals {
  delivered: number;
  behind: number;
}

const NOT_A_BATCH = Symbol('not a batch');
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface AreaDeps {
  readonly log: AreaLog;
  readonly formats: FormatTable;
  readonly cursors: VirtualCursors;
  readonly metrics: AreaMetrics;
  readonly settings: AreaSettings;
  readonly now: () => number;
  readonly onError: (area: string, what: string, err: unknown) => void;
}

export class AreaCursor {
  epoch = '';
  /** Newest offset this cursor has read from the log. */
  head = 0;
  /** Oldest offset the log still retains (refreshed by the registry sweep, the tail and log reads). */
  first = 1;
  /** ms since the last subscriber left (0 while it has subscribers). */
  idleSince = 0;
  /** Largest lag (head minus virtual cursor) over subscribers at the last sweep, for metrics. */
  maxLag = 0;
  readonly ring: FrameRing;
  /** Frames of log replays, encoded once for every slot that replays them (catch-up.ts, sweep.ts). */
  readonly replays: ReplayCache;
  /** Parallel arrays: slots[i] is the virtual-cursor slot of subs[i]. (areas/ only: catch-up.ts, sweep.ts) */
  readonly slots: number[] = [];
  readonly subs: Subscriber[] = [];
  private tailHandle: TailHandle | undefined;
  private readonly slice: Slice;
  /** areas/ only. */
  closed = false;

  constructor(
    readonly id: string,
    /** areas/ only (catch-up.ts, sweep.ts). */
    readonly deps: AreaDeps,
  ) {
    this.ring = new FrameRing(deps.settings.ringSize);
    this.replays = new ReplayCache(deps.formats, deps.now);
    this.slice = { from: 0, deadline: 0, checkEvery: deps.settings.fanoutSliceCheck ?? 64 };
  }

  get subscriberCount(): number {
    return this.subs.length;
  }

  async open(): Promise<void> {
    const st = await this.deps.log.state(this.id);
    this.epoch = st.epoch;
    this.head = st.head;
    this.first = st.first;
    this.idleSince = this.deps.now();
    this.tailHandle = this.deps.log.tail(this.id, st.head, (records) => this.onRecords(records));
  }

  close(): void {
    this.closed = true;
    this.tailHandle?.close();
    this.tailHandle = undefined;
    this.ring.clear();
  }

  /** Registers a subscription that has received everything up to `startOffset`. Not yet sending. */
  attach(sub: Subscriber, startOffset: number): number {
    const vc = this.deps.cursors;
    const slot = vc.alloc(startOffset, this.deps.now());
    vc.index[slot] = this.slots.length;
    this.slots.push(slot);
    this.subs.push(sub);
    this.idleSince = 0;
    return slot;
  }

  /** Starts delivery: replays what the slot is missing, then it is LIVE. Call right after attach. */
  start(slot: number, sub: Subscriber): void {
    this.catchUp(slot, sub);
  }

  detach(slot: number): void {
    const vc = this.deps.cursors;
    const i = vc.index[slot];
    if (i < 0 || this.slots[i] !== slot) return;
    const last = this.slots.length - 1;
    if (i !== last) {
      const movedSlot = this.slots[last];
      this.slots[i] = movedSlot;
      this.subs[i] = this.subs[last];
      vc.index[movedSlot] = i;
    }
    this.slots.pop();
    this.subs.pop();
    vc.free(slot);
    if (this.subs.length === 0) this.idleSince = this.deps.now();
  }

  /** The transport resumed a paused connection: catch its slot up. */
  resume(slot: number, sub: Subscriber): void {
    const vc = this.deps.cursors;
    if (vc.state[slot] === PAUSED) vc.state[slot] = CATCHING_UP;
    if (vc.state[slot] === CATCHING_UP) this.catchUp(slot, sub);
  }

  /**
   * The tail's listener. Returns a promise only when a fan-out used up its slice and goes on in
   * later event-loop turns; the tail delivers nothing more until it settles [log/types.ts
   * TailListener], so records stay in the log, not in memory, while we are behind.
   */
  private onRecords(records: readonly LogRecord[]): Promise<void> | undefined {
    if (this.closed) return undefined;
    // Stage timings [issue 5]: one wall-clock read per batch, performance.now() deltas after it.
    const readAt = this.deps.now();
    const readPerf = performance.now();
    // Several records in one call: the log got ahead of us (a burst). Encode them all, then send
    // each subscriber its whole run in one corked write (fanOutBatch) instead of one per message.
    if (records.length > 1) {
      const batch = this.onBatch(records, readAt, readPerf);
      if (batch !== NOT_A_BATCH) return batch;
    }
    return this.onEach(records, 0, readAt, readPerf);
  }

  /** The per-record path of onRecords, from records[from]. */
  private onEach(records: readonly LogRecord[], from: number, readAt: number, readPerf: number): Promise<void> | undefined {
    const { formats, metrics } = this.deps;
    for (let k = from; k < records.length; k++) {
      const r = records[k];
      if (r.offset <= this.head) continue;
      // Records skipped by retention while we were not reading: those are gone for everyone.
      if (r.offset > this.head + 1 && r.offset > this.first) this.first = r.offset;
      let frames: Uint8Array[];
      try {
        frames = formats.encodeAll(this.id, r);
      } catch (err) {
        // An undecodable payload must never stall the area: count it and move past it.
        this.deps.onError(this.id, `encode offset ${r.offset}`, err);
        metrics.undeliverable.inc();
        frames = [];
      }
      const entry: RingEntry = { offset: r.offset, time: r.time, expiresAt: r.expiresAt, origin: r.headers?.origin ?? '', frames };
      this.ring.push(entry);
      this.head = r.offset;
      const started = performance.now();
      const step = (slice: Readonly<Slice>) => fanOut(entry, this.slots, this.subs, this.deps.cursors, this.deps.now(), slice);
      const res = step(this.firstSlice(started));
      if (res.next >= 0) {
        return this.finishSliced(step, res).then((done) => {
          if (this.closed) return undefined;
          this.fannedOut(done, started, readAt, readPerf, records, k, k + 1);
          return this.onEach(records, k + 1, readAt, readPerf);
        });
      }
      this.fannedOut(res, started, readAt, readPerf, records, k, k + 1);
    }
    return undefined;
  }

  /**
   * The batch path of onRecords. Returns NOT_A_BATCH (having done nothing) when the batch is not
   * a plain run of new, deliverable records, so the per-record path handles the unusual cases
   * (overlap with what we have, a gap from retention, expired or undecodable records).
   */
  private onBatch(records: readonly LogRecord[], readAt: number, readPerf: number): Promise<void> | undefined | typeof NOT_A_BATCH {
    const { formats } = this.deps;
    const now = this.deps.now();
    const first = records[0].offset;
    if (first !== this.head + 1) return NOT_A_BATCH;
    const count = records.length;
    for (let k = 0; k < count; k++) {
      const r = records[k];
      if (r.offset !== first + k || (r.expiresAt !== 0 && r.expiresAt <= now)) return NOT_A_BATCH;
    }
    const entries: RingEntry[] = new Array(count);
    for (let k = 0; k < count; k++) {
      const r = records[k];
      try {
        entries[k] = { offset: r.offset, time: r.time, expiresAt: r.expiresAt, origin: r.headers?.origin ?? '', frames: formats.encodeAll(this.id, r) };
      } catch {
        return NOT_A_BATCH; // the per-record path counts and skips the undecodable one
      }
    }
    const origins = entries.map((e) => e.origin);
    const framesByFormat: Uint8Array[][] = [];
    for (let f = 0; f < formats.size; f++) {
      const list = new Array<Uint8Array>(count);
      for (let k = 0; k < count; k++) list[k] = entries[k].frames[f];
      framesByFormat.push(list);
    }
    for (let k = 0; k < count; k++) this.ring.push(entries[k]);
    this.head = first + count - 1;
    const started = performance.now();
    const step = (slice: Readonly<Slice>) => fanOutBatch(first, count, framesByFormat, origins, this.slots, this.subs, this.deps.cursors, this.deps.now(), slice);
    const res = step(this.firstSlice(started));
    if (res.next >= 0) return this.finishSliced(step, res).then((done) => this.fannedOut(done, started, readAt, readPerf, records, 0, records.length));
    this.fannedOut(res, started, readAt, readPerf, records, 0, records.length);
    return undefined;
  }

  /** The reused slice of this cursor's fan-outs, starting now. */
  private firstSlice(startedPerf: number): Readonly<Slice> {
    const { fanoutSliceMs, fanoutSliceWhen } = this.deps.settings;
    if (fanoutSliceMs === undefined || fanoutSliceMs <= 0) return WHOLE;
    if (fanoutSliceWhen !== undefined && !fanoutSliceWhen()) return WHOLE;
    this.slice.from = 0;
    this.slice.deadline = startedPerf + fanoutSliceMs;
    return this.slice;
  }

  /**
   * The rest of a fan-out that used up its first slice: one slice per later event-loop turn (other
   * I/O - accepts, acks, publishes - runs in between), then one whole pass for stragglers: a slot
   * that a detach in between moved from the unvisited end to an index already passed is still at
   * the previous offset and LIVE, and gets its message there. Slots attached in between start
   * with a catch-up that already covers this.head, so the loops skip them.
   */
  private async finishSliced(step: (slice: Readonly<Slice>) => FanOutResult, first: FanOutResult): Promise<Totals> {
    const done: Totals = { delivered: first.delivered, behind: first.behind };
    let next = first.next;
    while (next >= 0) {
      await nextTurn();
      if (this.closed) return done;
      this.deps.metrics.fanoutSlices.inc();
      // Only a cursor with slicing on gets here (WHOLE never stops early).
      this.slice.from = next;
      this.slice.deadline = performance.now() + (this.deps.settings.fanoutSliceMs ?? 0);
      const r = step(this.slice);
      done.delivered += r.delivered;
      done.behind += r.behind;
      next = r.next;
    }
    const r = step(WHOLE);
    done.delivered += r.delivered;
    done.behind += r.behind;
    return done;
  }

  /** Metrics and catch-up after the fan-out of records[from..to) (one record, or a whole batch). */
  private fannedOut(res: Totals, started: number, readAt: number, readPerf: number, records: readonly LogRecord[], from: number, to: number): void {
    if (this.closed) return;
    const { metrics } = this.deps;
    const ended = performance.now();
    metrics.fanoutSeconds.observe((ended - started) / 1000);
    for (let k = from; k < to; k++) metrics.stages?.message(records[k].time, readAt, readPerf, started, ended);
    metrics.delivered.inc(res.delivered);
    if (res.behind > 0) this.catchUpAll();
  }

  /** Catch-up for every CATCHING_UP slot (after a fan-out found some behind). */
  private catchUpAll(): void {
    const st = this.deps.cursors.state;
    for (let i = this.slots.length - 1; i >= 0; i--) {
      if (st[this.slots[i]] === CATCHING_UP) this.catchUp(this.slots[i], this.subs[i]);
    }
  }

  /** Sends a slot what it is missing (catch-up.ts). */
  catchUp(slot: number, sub: Subscriber): void {
    catchUp(this, slot, sub);
  }

  /** The periodic sweep (sweep.ts). Returns the minimum acked offset over subscribers (head when none). */
  sweep(now: number): number {
    return sweepCursor(this, now);
  }

  /**
   * A vehicle's cumulative ack (WebSocket: the engine resends until acked). O(1), no allocation.
   * 'bad' for an offset beyond what was sent; 'advanced' when it moved the ack point.
   */
  ack(slot: number, offset: number, now: number): 'advanced' | 'same' | 'bad' {
    const vc = this.deps.cursors;
    const advanced = offset > vc.acked[slot];
    if (!vc.ack(slot, offset, now)) return 'bad';
    if (!advanced) return 'same';
    this.ackReceived(offset, now);
    return 'advanced';
  }

  /** A cumulative ack from a transport that owns redelivery (MQTT PUBACK / PUBREC): true when it advanced. */
  ackOwned(slot: number, offset: number, now: number): boolean {
    if (!this.deps.cursors.ackPosition(slot, offset, now)) return false;
    this.ackReceived(offset, now);
    return true;
  }

  /**
   * Moves a slot back to `offset` (everything after it is sent again, in order, by catch-up): a
   * shared subscription's member left with QoS 1 messages unacknowledged (MQTT 5 §4.8.2: the
   * Server MAY send them to another member as soon as the connection is lost). Never forward.
   */
  rewind(slot: number, offset: number): void {
    const vc = this.deps.cursors;
    if (offset >= vc.sent[slot]) return;
    if (vc.sent[slot] > vc.highSent[slot]) vc.highSent[slot] = vc.sent[slot];
    vc.sent[slot] = Math.max(offset, vc.acked[slot]);
    if (vc.state[slot] === LIVE) vc.state[slot] = CATCHING_UP;
  }

  /** Where a slot stands (session snapshots, a re-subscribe with other options). */
  positionOf(slot: number): { readonly acked: number; readonly sent: number } {
    const vc = this.deps.cursors;
    return { acked: vc.acked[slot], sent: vc.sent[slot] };
  }

  /** The expiry (ms, 0 = never or unknown) of a message the ring holds: for transports that count it down. */
  expiresAtOf(offset: number): number {
    return this.ring.get(offset)?.expiresAt ?? 0;
  }

  /** A subscriber's ack advanced to `offset`: time it (ack stage) while the ring holds the message. */
  ackReceived(offset: number, now: number): void {
    const stages = this.deps.metrics.stages;
    if (stages === undefined) return;
    const e = this.ring.get(offset);
    if (e !== undefined) stages.acked(e.time, now);
  }
}
