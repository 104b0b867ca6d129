/**
 * AreaRegistry: opens one AreaCursor per area on first subscribe, runs the periodic sweep, and
 * closes cursors nobody has subscribed to for a while. Transports talk to this, never to the log.
 */
import { EngineError } from '../errors.ts';
import type { AreaLog } from '../log/types.ts';
import { AreaCursor, type AreaDeps, type AreaSettings } from './area-cursor.ts';
import type { FormatTable } from './encoding.ts';
import type { AreaMetrics } from './metrics.ts';
import type { Subscriber } from './subscriber.ts';
import { VirtualCursors } from './virtual-cursors.ts';

/** How often the sweep re-reads each open area's first retained offset from the log. */
const FIRST_REFRESH_MS = 1000;

export interface Since {
  readonly offset: number;
  readonly epoch: string;
}

/**
 * `since` for a subscription that wants an area from its first retained message (an MQTT
 * wildcard meeting an area created after it subscribed: everything in it is new to the client).
 */
export const FROM_START: Since = Object.freeze({ offset: 0, epoch: '' });

export interface Subscription {
  readonly cursor: AreaCursor;
  readonly slot: number;
  readonly recovered: boolean;
  readonly epoch: string;
  /** The area head at subscribe time (what `subscribed.offset` reports). */
  readonly head: number;
}

export interface RegistryOptions extends AreaSettings {
  readonly sweepIntervalMs: number;
  /** Close a cursor with no subscribers after this long. */
  readonly idleCloseMs: number;
}

export interface AreaGaugeSink {
  /** Called by the sweep for each open area (head and minimum acked offset). */
  report(area: string, head: number, minAcked: number, subscribers: number, maxLag?: number): void;
  forget(area: string): void;
}

export class AreaRegistry {
  readonly cursors = new VirtualCursors();
  private readonly open = new Map<string, AreaCursor>();
  private readonly opening = new Map<string, Promise<AreaCursor>>();
  private readonly deps: AreaDeps;
  private timer: NodeJS.Timeout | undefined;
  private lastFirstRefresh = 0;

  constructor(
    private readonly log: AreaLog,
    formats: FormatTable,
    metrics: AreaMetrics,
    private readonly options: RegistryOptions,
    private readonly gauges: AreaGaugeSink | undefined,
    onError: AreaDeps['onError'],
    private readonly now: () => number = Date.now,
  ) {
    this.deps = { log, formats, cursors: this.cursors, metrics, settings: options, now, onError };
  }

  startSweeping(): void {
    this.timer ??= setInterval(() => this.sweep(), this.options.sweepIntervalMs);
    this.timer.unref();
  }

  get areaCount(): number {
    return this.open.size;
  }

  find(area: string): AreaCursor | undefined {
    return this.open.get(area);
  }

  /** The area's cursor, opening it (one per process) on first use. */
  cursor(area: string): Promise<AreaCursor> {
    const c = this.open.get(area);
    if (c !== undefined) return Promise.resolve(c);
    let p = this.opening.get(area);
    if (p === undefined) {
      const cursor = new AreaCursor(area, this.deps);
      p = cursor.open().then(
        () => {
          this.opening.delete(area);
          this.open.set(area, cursor);
          return cursor;
        },
        (err: unknown) => {
          this.opening.delete(area);
          throw err;
        },
      );
      this.opening.set(area, p);
    }
    return p;
  }

  /**
   * Decides where a subscription starts and attaches it (not yet sending: the caller sends its
   * `subscribed` answer, then calls cursor.start(slot) in the same tick).
   *   - no `since`: from the head, recovered:false
   *   - same epoch and since.offset still retained: from since.offset, recovered:true
   *   - other epoch, or since.offset older than retention: from the head, recovered:false
   *   - since.offset beyond anything the log ever had: EngineError('bad_offset')
   */
  async subscribe(sub: Subscriber, area: string, since: Since | undefined): Promise<Subscription> {
    const cursor = await this.cursor(area);
    let start = cursor.head;
    let recovered = false;
    if (since === FROM_START) {
      const st = await this.log.state(area);
      if (st.first > cursor.first) cursor.first = st.first;
      start = Math.min(cursor.first - 1, cursor.head);
      recovered = true;
    } else if (since !== undefined && since.epoch === cursor.epoch) {
      // Ask the log, not the cursor: retention may have moved `first`, and another process may
      // already have read further than ours (a vehicle can resume on any process).
      const st = await this.log.state(area);
      if (st.first > cursor.first) cursor.first = st.first;
      if (since.offset > st.head) {
        throw new EngineError('bad_offset', `area ${area}: offset ${since.offset} is beyond the head ${st.head}`);
      }
      if (since.offset >= cursor.first - 1) {
        start = since.offset;
        recovered = true;
      }
    }
    return attachAt(cursor, sub, start, recovered);
  }

  /**
   * subscribe() without waiting, when nothing needs the log: the area's cursor is open and there
   * is no `since` in the cursor's epoch to check against the log's retained range. Undefined means
   * "call subscribe()". Same answer as subscribe() would give [issue 6: a connect storm of 100K
   * vehicles should not hold a promise each].
   */
  subscribeNow(sub: Subscriber, area: string, since: Since | undefined): Subscription | undefined {
    const cursor = this.open.get(area);
    if (cursor === undefined || since === FROM_START || (since !== undefined && since.epoch === cursor.epoch)) return undefined;
    return attachAt(cursor, sub, cursor.head, false);
  }

  sweep(): void {
    const now = this.now();
    // The retained window is the log's: refresh each cursor's `first` from the log now and then,
    // so catch-up closes (slow_consumer) exactly the slots a resume would answer recovered:false,
    // even while the ring still holds what the log has trimmed.
    const refreshFirst = now - this.lastFirstRefresh >= FIRST_REFRESH_MS;
    if (refreshFirst) this.lastFirstRefresh = now;
    for (const [id, cursor] of this.open) {
      if (refreshFirst) this.refreshFirst(cursor);
      const minAcked = cursor.sweep(now);
      if (cursor.subscriberCount === 0 && cursor.idleSince !== 0 && now - cursor.idleSince > this.options.idleCloseMs) {
        cursor.close();
        this.open.delete(id);
        this.gauges?.forget(id);
        continue;
      }
      this.gauges?.report(id, cursor.head, minAcked, cursor.subscriberCount, cursor.maxLag);
    }
    this.deps.metrics.ackLag?.endSweep();
  }

  private refreshFirst(cursor: AreaCursor): void {
    this.log.state(cursor.id).then(
      (st) => {
        if (st.first > cursor.first) cursor.first = st.first;
      },
      () => undefined, // the log's health shows in /readyz; the next sweep tries again
    );
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.open.values()) c.close();
    this.open.clear();
  }
}

/** The one place a subscription is attached (subscribe and subscribeNow give the same answer). */
function attachAt(cursor: AreaCursor, sub: Subscriber, start: number, recovered: boolean): Subscription {
  if (sub.closed) throw new EngineError('internal', 'connection closed while subscribing');
  const slot = cursor.attach(sub, start);
  return { cursor, slot, recovered, epoch: cursor.epoch, head: cursor.head };
}
