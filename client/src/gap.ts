/**
 * One subscription's `recovered:false` handling: report the gap, fill it from history (./gap-fill.ts)
 * or the app's getState while live messages wait in a bounded buffer, then go on live. One fill
 * at a time: a second gap (the link dropped during a fill) abandons the first (generations).
 */
import { fillFromHistory, type FillResult } from './gap-fill.ts';
import { DEFAULT_HISTORY } from './options.ts';
import type { Link } from './link.ts';
import type { LiveFrame, SubscriptionHost } from './subscription.ts';
import type { GapContext, GapEvent, HistoryOptions, SubscriptionOptions } from './types.ts';


/** What the fill needs from its subscription. */
export interface GapOwner {
  readonly area: string;
  readonly options: SubscriptionOptions;
  readonly host: SubscriptionHost;
  /** History options resolved (./options.ts); undefined: no history fill. */
  readonly history: Required<HistoryOptions> | undefined;
  /** The subscription's epoch and dedup bound (./subscription.ts). */
  epoch: string;
  received: number;
  deliver(frame: LiveFrame, source: 'live' | 'history'): boolean;
  recordPosition(to: number, epoch: string, force?: boolean): void;
  reported(g: GapEvent): void;
  resubscribeArea(): void;
}

export class GapFill {
  private filling = false;
  private gen = 0;
  private head = 0;
  private overflow = false;
  private limit = 0;
  private buffered: { link: Link; frame: LiveFrame }[] = [];

  constructor(private readonly sub: GapOwner) {}

  /** A live message during a fill: held (or dropped past the buffer) when it is beyond the fill's head. */
  hold(link: Link, frame: LiveFrame): boolean {
    if (!this.filling || frame.offset <= this.head) return false;
    if (this.buffered.length >= this.limit) this.overflow = true;
    else this.buffered.push({ link, frame });
    return true;
  }

  /** The subscription ended: a fill still running is abandoned. */
  cancel(): void {
    this.gen++;
    this.filling = false;
    this.buffered = [];
  }

  /** recovered:false: report it, fill from history or the app's getState, then go on live. */
  start(ctx: GapContext): void {
    this.cancel(); // a fill still running for an earlier gap is abandoned
    const gen = this.gen;
    const sub = this.sub;
    const sameEpoch = ctx.epoch === sub.epoch;
    const from = (sameEpoch ? sub.received : 0) + 1;
    sub.epoch = ctx.epoch;
    if (!sameEpoch) sub.received = 0;
    const to = ctx.head;
    if (ctx.reason === 'position_ahead') {
      // The stored position is beyond the head (the log lost its tail): start again at the head,
      // and store that even though it is backwards. Nothing that can be named was missed.
      sub.received = to;
      sub.recordPosition(to, ctx.epoch, true);
      sub.reported({ ...ctx, missed: null, fill: 'none', filled: 0, lost: null });
      return;
    }
    if (from > to) {
      sub.recordPosition(to, ctx.epoch);
      sub.reported({ ...ctx, missed: null, fill: 'none', filled: 0, lost: null });
      return;
    }
    const history = sub.history;
    const fill: GapEvent['fill'] = sub.options.getState !== undefined ? 'state' : history !== undefined ? 'history' : 'none';
    if (fill === 'none') {
      sub.received = to;
      sub.recordPosition(to, ctx.epoch);
      sub.reported({ ...ctx, missed: { from, to }, fill, filled: 0, lost: { from, to } });
      return;
    }
    this.filling = true;
    this.head = to;
    this.overflow = false;
    this.limit = history?.maxBuffer ?? DEFAULT_HISTORY.maxBuffer;
    const current = () => gen === this.gen;
    const run =
      fill === 'state'
        ? this.fromState(ctx)
        : fillFromHistory(sub.host.historyAccess, ctx, from, to, history!, {
            accept: (m) => current() && sub.deliver(m, 'history'),
            stopped: () => !current() || this.overflow,
            error: (err) => sub.host.reportError('history', err, sub.area),
          });
    const done = (res: FillResult) => {
      if (!current()) return;
      this.filling = false;
      const held = this.buffered;
      this.buffered = [];
      try {
        sub.reported({ ...ctx, missed: { from, to }, fill, filled: res.filled, lost: res.lost ?? null });
      } catch (err) {
        sub.host.reportError('area', err as Error, sub.area);
      }
      if (this.overflow || res.deferred === true) {
        // Live messages were dropped while filling: resume from what was delivered instead, the
        // engine replays the rest (or answers with a new gap if it is gone by then).
        sub.host.log('warn', 'gap fill: live buffer full, resuming the area from the last delivered message', { area: sub.area, received: sub.received });
        sub.resubscribeArea();
        return;
      }
      sub.received = Math.max(sub.received, to);
      sub.recordPosition(to, ctx.epoch);
      for (const { link, frame } of held) {
        const la = link.areas.get(sub.area);
        if (la !== undefined && la.epoch === sub.epoch) sub.deliver(frame, 'live');
      }
    };
    run.then(done, (err: unknown) => {
      sub.host.reportError('area', err instanceof Error ? err : new Error(String(err)), sub.area);
      done({ filled: 0, lost: { from, to } });
    });
  }

  private async fromState(ctx: GapContext): Promise<FillResult> {
    try {
      await this.sub.options.getState!(ctx);
    } catch (err) {
      this.sub.host.reportError('area', err as Error, this.sub.area);
    }
    return { filled: 0 };
  }
}
