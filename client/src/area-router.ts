/**
 * The client's areas on its links: sending subscribes, routing the engine's frames to each
 * Subscription, the moveTo leave, and removal. One aedes-style dispatcher over the frame types;
 * the connection itself (links, reconnects, swaps) is client.ts.
 */
import { AreaError, ForbiddenError, SubscribeTimeoutError, type AbeError } from './errors.ts';
import type { Link, LinkArea } from './link.ts';
import type { Subscription } from './subscription.ts';
import type { LogLevel, Position, ServerFrame } from './types.ts';

export type SubscribedLinkArea = LinkArea & { since: Position | undefined };

/** What the router needs from the client. */
export interface RouterEnv {
  primary(): Link | undefined;
  swap(): Link | undefined;
  openLinks(): Link[];
  /** The token's `subscribe` globs allow the area (true when unknown). */
  maySubscribe(area: string): boolean;
  readonly subscribeTimeout: number;
  /** Wait before resubscribing after log_unavailable. */
  retryDelay(): number;
  areaError(error: AbeError, area: string): void;
  /** A swap link got an area subscribed: it may be ready to take over. */
  swapProgress(): void;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export class AreaRouter {
  readonly subs = new Map<string, Subscription>();
  /** What removed subscriptions had received, per area: a new one starts there if the store is behind. */
  private readonly retired = new Map<string, Position>();
  /** The last removed subscription per area (its queue may still be running: a new one waits for it). */
  private readonly retiredSubs = new Map<string, Subscription>();

  constructor(private readonly env: RouterEnv) {}

  /** Subscriptions that are not leaving. */
  activeCount(): number {
    let n = 0;
    for (const s of this.subs.values()) if (!s.leaving) n++;
    return n;
  }

  /** Subscribes every area on a link that just opened; returns how many. */
  subscribeAll(link: Link): number {
    let sent = 0;
    for (const sub of this.subs.values()) {
      if (sub.leaving) continue;
      this.sendSubscribe(link, sub);
      sent++;
    }
    return sent;
  }

  sendSubscribe(link: Link, sub: Subscription): void {
    if (!link.open || link.areas.get(sub.area)?.leaving === false) return;
    if (!this.env.maySubscribe(sub.area)) {
      // The engine would close the whole connection (4501): refuse this area alone.
      sub.fail(new ForbiddenError(`the token does not allow subscribing to ${sub.area}`));
      return;
    }
    const since = sub.since();
    const la: SubscribedLinkArea = { epoch: '', high: 0, acked: 0, subscribed: false, leaving: false, sentAt: Date.now(), since };
    link.areas.set(sub.area, la);
    // a swap link subscribing does not make the area any less subscribed
    if (sub.state === 'subscribed' && link === this.env.primary()) sub.setState('subscribing');
    link.send(since === undefined ? { type: 'subscribe', area: sub.area } : { type: 'subscribe', area: sub.area, since });
    const ms = this.env.subscribeTimeout;
    const timer = setTimeout(() => {
      if (link.alive && link.areas.get(sub.area) === la && !la.subscribed) link.kill(new SubscribeTimeoutError(sub.area, ms));
    }, ms);
    (timer as { unref?: () => void }).unref?.();
  }

  onFrame(link: Link, frame: ServerFrame): void {
    switch (frame.type) {
      case 'message': {
        const la = link.areas.get(frame.area);
        const sub = this.subs.get(frame.area);
        if (la === undefined || sub === undefined || !la.subscribed) return;
        if (la.leaving && !sub.leaving) return; // unsubscribed by the app: not delivered
        sub.onMessage(link, la, frame);
        return;
      }
      case 'subscribed': {
        const la = link.areas.get(frame.area) as SubscribedLinkArea | undefined;
        const sub = this.subs.get(frame.area);
        if (la === undefined || sub === undefined || la.leaving) return;
        if (la.since === undefined && sub.since() !== undefined) {
          // Subscribed without a position (none was known when it went out) while another link
          // gave the area one meanwhile: start this link from that position, not from its head.
          this.resubscribe(link, sub);
          return;
        }
        sub.onSubscribed(link, la, frame.epoch, frame.offset, frame.recovered);
        if (link === this.env.primary()) this.checkMoves();
        if (link === this.env.swap()) this.env.swapProgress();
        return;
      }
      case 'unsubscribed': {
        const la = link.areas.get(frame.area);
        if (la === undefined || !la.leaving) return;
        link.areas.delete(frame.area);
        const sub = this.subs.get(frame.area);
        if (sub?.leaving && link === this.env.primary()) sub.left();
        return;
      }
      case 'error':
        this.onError(link, frame.code, frame.message, frame.area);
        return;
      case 'pong':
        return;
    }
  }

  /** An `error` frame: per-area errors of a pending subscribe (the others are logged only, e.g. bad_ack). */
  private onError(link: Link, code: string, message: string, area: string | undefined): void {
    this.env.log('warn', 'engine error frame', { code, message, area });
    const sub = area === undefined ? undefined : this.subs.get(area);
    if (sub === undefined) return;
    const la = link.areas.get(sub.area);
    if (la === undefined || la.subscribed) return;
    const what = sub.onAreaError(code);
    if (what === 'ignored') return;
    link.areas.delete(sub.area);
    if (what === 'failed') {
      sub.fail(new AreaError(code, message, sub.area));
      this.env.areaError(sub.error!, sub.area);
      return;
    }
    setTimeout(() => {
      // unless it was unsubscribed, moved or replaced meanwhile (an orphan would count against --max-subscriptions)
      if (this.subs.get(sub.area) === sub && !sub.leaving && link.alive) this.sendSubscribe(link, sub);
    }, code === 'log_unavailable' ? this.env.retryDelay() : 0);
  }

  /** moveTo step 3: once the target is subscribed on the primary link, leave the source area. */
  checkMoves(): void {
    const link = this.env.primary();
    if (link === undefined || !link.open) return;
    for (const sub of this.subs.values()) {
      const target = sub.moveTarget;
      if (target === undefined || sub.leaving) continue;
      if (!link.areas.get(target.to.area)?.subscribed) continue;
      // and `from` itself is attached (after a reconnect its subscribe may still be pending: its replay must come first)
      const fromLa = link.areas.get(sub.area);
      if (fromLa !== undefined && !fromLa.subscribed) continue;
      sub.leave();
      const la = link.areas.get(sub.area);
      if (la === undefined) {
        sub.left();
        continue;
      }
      la.leaving = true;
      link.send({ type: 'unsubscribe', area: sub.area });
      // a swap link in flight: leave there too (its `unsubscribed` is not waited for)
      const swap = this.env.swap();
      const sla = swap?.areas.get(sub.area);
      if (swap !== undefined && sla !== undefined && swap.open) {
        sla.leaving = true;
        swap.send({ type: 'unsubscribe', area: sub.area });
      }
    }
  }

  /** A subscription left the client (unsubscribe, a finished move, a terminal area error). */
  removed(sub: Subscription<never>): void {
    if (this.subs.get(sub.area) !== (sub as Subscription)) return;
    const since = (sub as Subscription).since();
    if (since !== undefined) this.retired.set(sub.area, since);
    if ((sub as Subscription).busy) this.retiredSubs.set(sub.area, sub as Subscription);
    else this.retiredSubs.delete(sub.area);
    if (!sub.leaving) {
      for (const link of this.env.openLinks()) {
        const la = link.areas.get(sub.area);
        if (la === undefined || la.leaving) continue;
        la.leaving = true;
        link.send({ type: 'unsubscribe', area: sub.area });
      }
    }
    this.subs.delete(sub.area);
    this.env.swapProgress(); // a swap may have been waiting for this area only
  }

  predecessor(area: string): Subscription | undefined {
    return this.retiredSubs.get(area);
  }

  /** Where a new subscription of `area` starts: the store's position, or a removed subscription's if newer. */
  startOf(area: string, stored: Position | undefined): Position | undefined {
    const r = this.retired.get(area);
    if (r === undefined) return stored;
    if (stored === undefined || (stored.epoch === r.epoch && stored.offset < r.offset)) return r;
    return stored;
  }

  /** Subscribe the area again on `link`, from the subscription's current `since()`: unsubscribe, then subscribe (one socket, in order). */
  resubscribe(link: Link, sub: Subscription): void {
    const la = link.areas.get(sub.area);
    if (la !== undefined && !la.leaving) {
      la.leaving = true;
      link.send({ type: 'unsubscribe', area: sub.area });
    }
    this.sendSubscribe(link, sub);
  }

  /** The primary link is gone: moves in their leave step are complete (the area is not resubscribed anywhere). */
  completeLeaves(): void {
    for (const sub of [...this.subs.values()]) if (sub.leaving) sub.left();
  }

  /** The connection is lost: every area waits for the next link (a 4000 close is the gap reason then). */
  linkLost(closeCode: number): void {
    for (const sub of this.subs.values()) {
      if (closeCode === 4000) sub.lastCloseSlow = true;
      sub.setState('subscribing');
    }
  }
}
