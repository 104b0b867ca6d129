/**
 * One area: its state, the dedup rule, the handler queue, positions, acks and gap filling.
 *
 * The dedup rule (one rule for resends, replays, a token swap's second link, history and moveTo):
 * a message (area, offset) reaches the handler iff its link's epoch is the subscription's epoch
 * and offset > `received`, which is raised before the handler runs. Every stream the engine sends
 * for one subscription is in offset order without gaps (except expired messages), and every
 * resend, replay or second link starts at or below `received`, so the first arrival of each
 * offset is the one delivered and none is skipped [client/PROTOCOL.md "Resume"].
 */
import { Emitter } from './emitter.ts';
import { AreaError, type AbeError } from './errors.ts';
import { payloadOf } from './codec.ts';
import { GapFill, type GapOwner } from './gap.ts';
import { resolveAcks, resolveHistory } from './options.ts';
import type { Link, LinkArea } from './link.ts';
import { Waiters } from './waiters.ts';
import type {
  AcksOptions,
  AreaMessage,
  ClientStats,
  GapContext,
  GapEvent,
  GapReason,
  HistoryOptions,
  LogLevel,
  MessageHandler,
  Position,
  PositionStore,
  SubscriptionEvents,
  SubscriptionOptions,
  SubscriptionState,
} from './types.ts';

/** What a subscription needs from its client (internal). */
export interface SubscriptionHost {
  readonly store: PositionStore;
  readonly counters: ClientStats;
  readonly acks: { readonly intervalMs: number; readonly maxMessages: number } | undefined;
  readonly history: Required<HistoryOptions> | undefined;
  primary(): Link | undefined;
  historyAccess(): { fetch: typeof globalThis.fetch; httpUrl: string; token: string | undefined } | undefined;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  reportError(type: 'handler' | 'area' | 'history' | 'store', error: Error, area: string): void;
  /** The subscription left the client (unsubscribe, a move, a terminal area error). */
  removed(sub: Subscription<never>): void;
  /** Where a new subscription of the area starts: the store, or what a removed one had received if newer. */
  startOf(area: string): Position | undefined;
  /** The area's last removed subscription, whose queue may still be running. */
  predecessor(area: string): Subscription<never> | undefined;
  /** Subscribe the area again on the primary link, from `since()` (after a gap fill overflowed). */
  resubscribe(sub: Subscription<never>): void;
}

/** A message for the handler, or a position to record once everything before it is handled (force: even backwards). */
type QueueItem = AreaMessage | { readonly skipTo: number; readonly epoch: string; readonly force?: boolean };

export class Subscription<T = unknown> extends Emitter<SubscriptionEvents<T>> implements GapOwner {
  state: SubscriptionState = 'subscribing';
  /** Why the last subscription ended, if it did with an error. */
  error: AbeError | undefined;
  /** Epoch of the current subscription ('' before the first `subscribed` when no position is known). */
  epoch = '';
  /** Highest offset accepted into the handler queue (the dedup bound; `since` on resubscribe). */
  received = 0;
  private handledEpoch = '';
  private handled = 0;
  private known: boolean;
  private readonly queue: QueueItem[] = [];
  private running = false;
  private sinceAck = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last close was slow_consumer (4000): the gap reason. */
  lastCloseSlow = false;
  /** A bad_offset answer: resubscribe without `since`, report the gap as position_ahead. */
  private positionAhead = false;
  private readonly readyWaiters = new Waiters();
  /** moveTo: leave this area once `target` is subscribed on the primary link. */
  moveTarget: { readonly to: Subscription; resolve: (s: Subscription) => void; reject: (e: Error) => void } | undefined;
  /** Left by moveTo: frames still arrive (and are delivered) until `unsubscribed`. */
  leaving = false;
  /** Removed from the client: what is already queued still reaches the handler, but nothing is acked. */
  private detached = false;
  /** unsubscribe({forget:true}): the queue's remaining messages no longer write the store. */
  private forgotten = false;
  private readonly gap: GapFill = new GapFill(this);
  /** This subscription's ack and history settings, resolved once over the client's (./options.ts). */
  private readonly acks: Required<AcksOptions> | undefined;
  readonly history: Required<HistoryOptions> | undefined;
  /** Handlers wait until the area's previous subscription has handled what it had queued (order across re-subscribes). */
  private blocked = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    readonly area: string,
    readonly handler: MessageHandler<T> | undefined,
    readonly options: SubscriptionOptions,
    readonly host: SubscriptionHost,
  ) {
    super();
    this.acks = resolveAcks(options.acks, host.acks);
    this.history = resolveHistory(options.history, host.history);
    const prev = host.predecessor(area);
    if (prev !== undefined && prev.busy) {
      this.blocked = true;
      void prev.whenIdle().then(() => {
        this.blocked = false;
        this.pump();
      });
    }
    const start = options.since ?? (options.fromHead === true ? undefined : host.startOf(area));
    this.known = start !== undefined;
    if (start !== undefined) {
      this.epoch = this.handledEpoch = start.epoch;
      this.received = this.handled = start.offset;
    }
  }

  /** The last handled position (what the store holds); undefined before the first `subscribed`. */
  get position(): Position | undefined {
    return this.known ? { epoch: this.handledEpoch, offset: this.handled } : undefined;
  }

  /** What to send in `subscribe`: resume from what was received (the queue is in memory). */
  since(): Position | undefined {
    if (!this.known || this.positionAhead) return undefined;
    return { epoch: this.epoch, offset: this.received };
  }

  ready(timeoutMs = 30_000): Promise<void> {
    if (this.state === 'subscribed') return Promise.resolve();
    if (this.state === 'unsubscribed') return Promise.reject(this.error ?? new AreaError('unsubscribed', `${this.area} is unsubscribed`, this.area));
    return this.readyWaiters.wait(timeoutMs, `${this.area}: not subscribed`);
  }

  setState(next: SubscriptionState): void {
    if (next === this.state) return;
    const old = this.state;
    this.state = next;
    this.emit('state', { newState: next, oldState: old });
    if (next === 'subscribed') this.readyWaiters.resolveAll();
    if (next === 'unsubscribed') this.readyWaiters.rejectAll(this.error ?? new AreaError('unsubscribed', `${this.area} unsubscribed`, this.area));
  }

  // ---- frames from a link ----------------------------------------------------------------------

  /** `subscribed` on `link` (la was created when the subscribe was sent; la.start is what it asked). */
  onSubscribed(link: Link, la: LinkArea & { since: Position | undefined }, epoch: string, head: number, recovered: boolean): void {
    la.subscribed = true;
    la.epoch = epoch;
    la.high = recovered && la.since !== undefined ? la.since.offset : head;
    const wasRecovering = la.since !== undefined;
    if (wasRecovering) this.host.counters.resumes++;
    if (recovered) this.host.counters.recovered++;
    const previous = this.position;
    if (!this.known) {
      // First subscribe with no position: start at the head.
      this.known = true;
      this.epoch = this.handledEpoch = epoch;
      this.received = this.handled = head;
      this.host.store.set(this.area, { epoch, offset: head });
    } else if (!recovered) {
      const reason: GapReason = this.positionAhead ? 'position_ahead' : epoch !== this.epoch ? 'epoch' : this.lastCloseSlow ? 'slow_consumer' : 'retention';
      this.positionAhead = false;
      this.gap.start({ area: this.area, epoch, head, previous, reason });
    }
    this.lastCloseSlow = false;
    this.setState('subscribed');
    this.emit('subscribed', { epoch, head, recovered, wasRecovering });
  }

  onMessage(link: Link, la: LinkArea, frame: LiveFrame): void {
    if (frame.offset > la.high) la.high = frame.offset;
    if (la.epoch !== this.epoch) return; // a link still on an older epoch
    if (this.gap.hold(link, frame)) return;
    this.accept(frame, 'live');
  }

  /** The dedup rule. */
  private accept(frame: LiveFrame | HistoryFrame, source: 'live' | 'history'): boolean {
    if (frame.offset <= this.received) {
      this.host.counters.duplicatesDropped++;
      return false;
    }
    this.received = frame.offset;
    const msg: AreaMessage = { area: this.area, offset: frame.offset, epoch: this.epoch, time: frame.time, data: payloadOf(frame), source };
    this.queue.push(msg);
    this.pump();
    return true;
  }

  /** An `error` frame answered this area's subscribe: what the client should do. */
  onAreaError(code: string): 'resubscribe' | 'failed' | 'ignored' {
    if (code === 'bad_offset') {
      // The stored position is ahead of the head (a log that lost its tail, --durability commit and
      // a power loss): start again from the head and report it.
      this.positionAhead = true;
      return 'resubscribe';
    }
    if (code === 'log_unavailable') return 'resubscribe';
    if (code === 'invalid_area' || code === 'forbidden') return 'failed';
    return 'ignored';
  }

  /** Ends the subscription with an error (terminal for this area). */
  fail(error: AbeError): void {
    this.error = error;
    this.detach();
    this.moveTarget?.reject(error);
    this.moveTarget = undefined;
    this.host.removed(this);
    this.setState('unsubscribed');
    this.emit('unsubscribed', { reason: error.code, error });
    this.emit('error', { error });
  }

  // ---- the handler queue -----------------------------------------------------------------------

  /** Runs handlers in order; a handler that returns synchronously takes the inline path. */
  /** Messages queued or a handler running. */
  get busy(): boolean {
    return this.running || this.queue.length > 0;
  }

  /** Resolves once the queue is empty and no handler runs. */
  whenIdle(): Promise<void> {
    return this.busy ? new Promise((r) => this.idleWaiters.push(r)) : Promise.resolve();
  }

  private pump(): void {
    if (this.running || this.blocked) return;
    this.running = true;
    while (this.queue.length > 0) {
      const item = this.queue.shift()!;
      if ('skipTo' in item) {
        this.markHandled(item.epoch, item.skipTo, item.force === true);
        continue;
      }
      let result: void | Promise<void>;
      try {
        result = this.handler?.(item as AreaMessage<T>);
      } catch (err) {
        if (!this.handlerFailed(item, err)) return;
        continue;
      }
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(
          () => {
            this.handledOne(item);
            this.running = false;
            this.pump();
          },
          (err: unknown) => {
            this.running = false;
            if (this.handlerFailed(item, err)) this.pump();
          },
        );
        return;
      }
      this.handledOne(item);
    }
    this.running = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** false when the subscription stopped (onHandlerError 'stop'). */
  private handlerFailed(msg: AreaMessage, err: unknown): boolean {
    this.host.counters.handlerErrors++;
    this.host.reportError('handler', err instanceof Error ? err : new Error(String(err)), this.area);
    if (this.options.onHandlerError === 'stop') {
      this.running = false;
      this.queue.length = 0;
      for (const w of this.idleWaiters.splice(0)) w();
      void this.unsubscribe();
      return false;
    }
    this.handledOne(msg);
    return true;
  }

  private handledOne(msg: AreaMessage): void {
    this.host.counters.delivered++;
    this.markHandled(msg.epoch, msg.offset);
    this.emit('message', msg as AreaMessage<T>);
  }

  /** `force`: even backwards (a stored position ahead of the log's head, reset to the head). */
  private markHandled(epoch: string, offset: number, force = false): void {
    if (!force && epoch === this.handledEpoch && offset <= this.handled) return;
    this.handledEpoch = epoch;
    this.handled = offset;
    if (!this.forgotten) {
      try {
        // Never backwards within an epoch: a removed subscription's queue may still finish while a
        // new subscription of the area already stored a later position.
        const cur = this.host.store.get(this.area);
        if (force || cur === undefined || cur.epoch !== epoch || cur.offset < offset) this.host.store.set(this.area, { epoch, offset });
      } catch (err) {
        this.host.reportError('store', err as Error, this.area);
      }
    }
    if (!this.detached) this.ackProgress();
  }

  // ---- acks ------------------------------------------------------------------------------------

  private ackProgress(): void {
    const opts = this.acks;
    if (opts === undefined) return;
    if (++this.sinceAck >= opts.maxMessages) {
      this.flushAck();
      return;
    }
    if (this.ackTimer === undefined) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        this.flushAck();
      }, opts.intervalMs);
      (this.ackTimer as { unref?: () => void }).unref?.();
    }
  }

  private clearAckTimer(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /**
   * Sends the cumulative ack on the primary link: min(handled, what that link sent), because the
   * engine refuses an ack above what the subscription sent (bad_ack) [virtual-cursors.ts].
   */
  flushAck(): void {
    this.clearAckTimer();
    this.sinceAck = 0;
    if (this.acks === undefined) return;
    const link = this.host.primary();
    const la = link?.areas.get(this.area);
    if (link === undefined || la === undefined || !la.subscribed || la.leaving || la.epoch !== this.handledEpoch) return;
    const target = Math.min(this.handled, la.high);
    if (target <= la.acked) return;
    if (link.send({ type: 'ack', area: this.area, offset: target })) {
      la.acked = target;
      this.host.counters.acksSent++;
    }
  }

  // ---- gaps (./gap.ts) ------------------------------------------------------------------------

  /** GapOwner: a position to record once everything queued before it is handled. */
  recordPosition(to: number, epoch: string, force = false): void {
    this.queue.push({ skipTo: to, epoch, force });
    this.pump();
  }

  /** GapOwner: a message through the dedup rule. */
  deliver(frame: LiveFrame, source: 'live' | 'history'): boolean {
    return this.accept(frame, source);
  }

  /** GapOwner: subscribe again from since() (a fill whose live buffer overflowed). */
  resubscribeArea(): void {
    this.host.resubscribe(this);
  }

  /** GapOwner: the gap is handled: count it and tell the app. */
  reported(g: GapEvent): void {
    this.host.counters.gaps++;
    this.host.counters.gapFilled += g.filled;
    if (g.lost !== null) this.host.counters.gapLost += g.lost.to - g.lost.from + 1;
    this.host.log('info', 'gap', { ...g });
    this.emit('gap', g);
  }

  // ---- leaving ---------------------------------------------------------------------------------

  /** Stops the area: the ack is flushed first; frames already on the way are not delivered. */
  async unsubscribe(opts: { forget?: boolean } = {}): Promise<void> {
    if (this.state === 'unsubscribed' && !this.leaving) return;
    this.flushAck();
    this.detach();
    const target = this.moveTarget;
    this.moveTarget = undefined;
    target?.reject(new AreaError('unsubscribed', `${this.area} was unsubscribed during the move`, this.area));
    this.host.removed(this);
    this.setState('unsubscribed');
    this.emit('unsubscribed', { reason: 'unsubscribe_called' });
    if (opts.forget) {
      this.forgotten = true;
      this.host.store.delete(this.area);
    }
  }

  /** No more acks or gap fills from this subscription (what is already queued still reaches the handler). */
  private detach(): void {
    this.detached = true;
    this.clearAckTimer();
    this.gap.cancel();
  }

  /** moveTo: the ack is flushed, `unsubscribe` goes out, and frames until `unsubscribed` are still delivered. */
  leave(): void {
    this.flushAck();
    this.clearAckTimer();
    this.leaving = true;
  }

  /** The engine confirmed the leave (or the link is gone): finish. */
  left(): void {
    if (!this.leaving) return;
    this.detach();
    this.host.removed(this);
    this.leaving = false;
    this.setState('unsubscribed');
    this.emit('unsubscribed', { reason: 'moved' });
    const target = this.moveTarget;
    this.moveTarget = undefined;
    target?.resolve(target.to);
  }

  /** For tests and stats: messages waiting for the handler. */
  get pending(): number {
    return this.queue.length;
  }
}

export interface LiveFrame {
  readonly offset: number;
  readonly time: number;
  readonly encoding?: 'base64';
  readonly data: unknown;
}
type HistoryFrame = LiveFrame;


