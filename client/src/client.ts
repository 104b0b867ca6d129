/**
 * The vehicle client: one connection to the engine (two during a token swap), reconnect with
 * full-jitter backoff, resume of every area from its position, liveness, token refresh, moveTo.
 * Delivery rules (dedup, queue, acks, gaps) live in ./subscription.ts.
 */
import { reconnectDelay, reconnectWindow } from './backoff.ts';
import { jsonCodec } from './codec.ts';
import { Emitter } from './emitter.ts';
import { AbeError, AreaError, ForbiddenError, NormalCloseError, SubscribeTimeoutError, UnauthorizedError, UpgradeRefusedError, UsageError } from './errors.ts';
import { fetchHistory, httpBaseOf, type HistoryPage } from './history.ts';
import { Link, type LinkArea } from './link.ts';
import { MemoryPositionStore } from './stores.ts';
import { DEFAULT_HISTORY, Subscription, type SubscriptionHost } from './subscription.ts';
import { decodeToken, maySubscribe, refreshAt, type TokenInfo } from './token.ts';
import type {
  ClientEvents,
  ClientOptions,
  ClientState,
  ClientStats,
  Codec,
  HistoryOptions,
  LogLevel,
  MessageHandler,
  MoveOptions,
  Position,
  PositionStore,
  ServerFrame,
  SubscriptionOptions,
  TokenReason,
  WebSocketCtor,
} from './types.ts';

const AREA_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** A link resets the backoff only once it proved stable: the engine answered and it stayed open this long. */
const STABLE_MS = 5000;

type SubscribedLinkArea = LinkArea & { since: Position | undefined };

function newStats(): ClientStats {
  return {
    connects: 0,
    reconnects: 0,
    connectFailures: 0,
    resumes: 0,
    recovered: 0,
    gaps: 0,
    gapFilled: 0,
    gapLost: 0,
    duplicatesDropped: 0,
    delivered: 0,
    acksSent: 0,
    pings: 0,
    livenessTimeouts: 0,
    tokenRefreshes: 0,
    swaps: 0,
    handlerErrors: 0,
    moves: 0,
  };
}

export class Client extends Emitter<ClientEvents> {
  state: ClientState = 'disconnected';
  lastError: AbeError | undefined;
  readonly store: PositionStore;
  private readonly codec: Codec;
  private readonly subs = new Map<string, Subscription>();
  private link: Link | undefined;
  private swapLink: Link | undefined;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private token: string | undefined;
  private tokenInfo: TokenInfo = { exp: undefined, iat: undefined, subscribe: undefined };
  private retriedUnauthorized = false;
  private everConnected = false;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly counters = newStats();
  private readonly host: SubscriptionHost;
  private readonly opts: ClientOptions;
  private readonly onOnline = () => this.networkOnline();
  private readonly onOffline = () => this.networkOffline();
  private readonly random: () => number;

  constructor(opts: ClientOptions) {
    super();
    this.opts = opts;
    this.codec = opts.codec ?? jsonCodec;
    this.store = opts.store ?? new MemoryPositionStore();
    this.token = opts.token;
    if (opts.token !== undefined) this.tokenInfo = decodeToken(opts.token);
    this.random = opts.random ?? Math.random;
    const acks = opts.acks === true ? { intervalMs: 1000, maxMessages: 100 } : opts.acks ? { intervalMs: opts.acks.intervalMs ?? 1000, maxMessages: opts.acks.maxMessages ?? 100 } : undefined;
    if (acks !== undefined && acks.intervalMs >= 4000) this.log('warn', 'acks.intervalMs should stay below the engine --ack-resend-ms (5000 by default), or every batch triggers a resend', { intervalMs: acks.intervalMs });
    const history: Required<HistoryOptions> | undefined = opts.history === true ? DEFAULT_HISTORY : opts.history ? { ...DEFAULT_HISTORY, ...opts.history } : undefined;
    this.host = {
      store: this.store,
      counters: this.counters,
      acks,
      history,
      primary: () => this.link,
      historyAccess: () => this.historyAccess(),
      log: (l, m, f) => this.log(l, m, f),
      reportError: (type, error, area) => this.emit('error', { type, error, area }),
      removed: (sub) => this.removed(sub),
    };
  }

  // ---- public API ------------------------------------------------------------------------------

  stats(): Readonly<ClientStats> {
    return { ...this.counters };
  }

  connect(): void {
    if (this.state !== 'disconnected') return;
    this.lastError = undefined;
    this.attempt = 0;
    this.retriedUnauthorized = false;
    this.setState('connecting');
    this.listenNetwork(true);
    this.emit('connecting', { code: 0, reason: 'connect_called', attempt: 0, delayMs: 0 });
    void this.startAttempt();
  }

  /** Flushes acks, closes (1000), stops retrying and flushes the position store. */
  async disconnect(): Promise<void> {
    for (const sub of this.subs.values()) sub.flushAck();
    this.stopTimers();
    this.listenNetwork(false);
    // Detach the links first, so their close is not taken for a lost connection.
    const links = [this.link, this.swapLink];
    this.link = this.swapLink = undefined;
    for (const l of links) l?.close(1000, 'normal');
    for (const sub of [...this.subs.values()]) if (sub.leaving) sub.left();
    this.toDisconnected(1000, 'disconnect_called', undefined);
    await this.store.flush();
  }

  /** Resolves once connected; rejects when the client stops for good (a terminal close). */
  ready(timeoutMs = 30_000): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'disconnected' && this.lastError !== undefined) return Promise.reject(this.lastError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not connected within ${timeoutMs} ms`)), timeoutMs);
      this.readyWaiters.push({
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  subscribe<T = unknown>(area: string, handler?: MessageHandler<T>, options: SubscriptionOptions = {}): Subscription<T> {
    if (!AREA_ID_RE.test(area)) throw new UsageError('invalid_area', `invalid area id ${JSON.stringify(area)}`);
    const existing = this.subs.get(area);
    if (existing !== undefined && !existing.leaving) throw new UsageError('already_subscribed', `${area} already has a subscription`);
    if (this.activeCount() >= (this.opts.maxSubscriptions ?? 32)) throw new UsageError('too_many_subscriptions', `at most ${this.opts.maxSubscriptions ?? 32} subscriptions per connection`);
    const sub = new Subscription<T>(area, handler, options, this.host);
    this.subs.set(area, sub as Subscription);
    for (const link of this.openLinks()) this.sendSubscribe(link, sub as Subscription);
    return sub;
  }

  getSubscription(area: string): Subscription | undefined {
    const s = this.subs.get(area);
    return s !== undefined && !s.leaving ? s : undefined;
  }

  /**
   * Area handover for a vehicle crossing a boundary: subscribe `toArea` first, and leave
   * `fromArea` only once the engine has attached the new one (make-before-break: the engine reads
   * one socket in order, so it attaches `toArea` strictly before it detaches `fromArea`). Nothing
   * is lost or duplicated in either area. Resolves with the new subscription once `fromArea` is left.
   */
  moveTo<T = unknown>(fromArea: string, toArea: string, opts: MoveOptions = {}): Promise<Subscription<T>> {
    const from = this.subs.get(fromArea);
    if (from === undefined || from.leaving) return Promise.reject(new UsageError('not_subscribed', `${fromArea} is not subscribed`));
    if (from.moveTarget !== undefined) return Promise.reject(new UsageError('already_moving', `${fromArea} is already moving`));
    let to = this.getSubscription(toArea);
    if (to === undefined) {
      const { handler, resume, ...subOpts } = opts;
      const since = resume === 'fresh' ? undefined : (opts.since ?? this.store.get(toArea));
      // one spare slot for the overlap: count `from` as leaving
      to = this.subscribe(toArea, (handler ?? from.handler) as MessageHandler, { ...from.options, ...subOpts, since });
    }
    this.counters.moves++;
    const target = to;
    return new Promise<Subscription<T>>((resolve, reject) => {
      from.moveTarget = { to: target, resolve: resolve as (s: Subscription) => void, reject };
      target.once('unsubscribed', (c) => {
        if (from.moveTarget?.to === target) {
          from.moveTarget = undefined;
          reject(c.error ?? new UsageError('unsubscribed', `${toArea} was unsubscribed`));
        }
      });
      this.checkMoves();
    });
  }

  /** One page of an area's history (REST, with the current token). */
  async history(area: string, q: { from?: number; limit?: number } = {}): Promise<HistoryPage> {
    const access = this.historyAccess();
    if (access === undefined) throw new UsageError('no_fetch', 'no fetch available: pass options.fetch');
    return fetchHistory(access.fetch, access.httpUrl, access.token, area, q.from ?? 0, q.limit ?? 100);
  }

  /** A token pushed by the app: used from the next connect (or refresh) on. */
  setToken(token: string): void {
    this.acceptToken(token);
  }

  // ---- connecting ------------------------------------------------------------------------------

  private async startAttempt(): Promise<void> {
    this.retryTimer = undefined;
    if (this.state !== 'connecting') return;
    let url: string;
    try {
      if (this.token === undefined || this.expiredLocally()) {
        const reason = this.nextTokenReason ?? (this.token === undefined ? 'initial' : 'expired');
        this.nextTokenReason = undefined;
        await this.fetchToken(reason);
      }
      url = typeof this.opts.url === 'function' ? await this.opts.url() : this.opts.url;
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        this.toDisconnected(4500, 'unauthorized', err);
        return;
      }
      this.emit('error', { type: 'token', error: err as Error });
      this.scheduleRetry(0, 'token_failed', undefined);
      return;
    }
    if (this.state !== 'connecting') return;
    const link = this.newLink(url);
    this.link = link;
    link.start(this.ctor());
  }

  private newLink(url: string): Link {
    const full = this.token === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(this.token)}`;
    return new Link(
      full,
      this.codec,
      { connectTimeout: this.opts.connectTimeout ?? 10_000, pingInterval: this.opts.pingInterval ?? 10_000, pongTimeout: this.opts.pongTimeout ?? 5000 },
      {
        open: (l) => this.linkOpen(l),
        frame: (l, f) => this.linkFrame(l, f),
        closed: (l, code, reason, error) => this.linkClosed(l, code, reason, error),
        badFrame: (l, err) => {
          this.emit('error', { type: 'transport', error: err });
          this.log('warn', 'bad frame from the engine', { link: l.id, error: err.message });
        },
        ping: () => {
          this.counters.pings++;
        },
      },
    );
  }

  private ctor(): WebSocketCtor {
    const c = this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (c === undefined) throw new UsageError('no_websocket', 'no WebSocket: pass options.WebSocket (in Node 20: WebSocket from the ws package)');
    return c;
  }

  private linkOpen(link: Link): void {
    if (link === this.swapLink) {
      this.log('debug', 'swap link open', { link: link.id });
      for (const sub of this.subs.values()) if (!sub.leaving) this.sendSubscribe(link, sub);
      this.checkSwap();
      return;
    }
    if (link !== this.link) return;
    this.retriedUnauthorized = false;
    this.counters.connects++;
    if (this.everConnected) this.counters.reconnects++;
    this.everConnected = true;
    this.setState('connected');
    this.emit('connected', { url: link.url.replace(/access_token=[^&]*/, 'access_token=…'), subprotocol: link.subprotocol });
    for (const w of this.readyWaiters.splice(0)) w.resolve();
    let sent = 0;
    for (const sub of this.subs.values()) {
      if (sub.leaving) continue;
      this.sendSubscribe(link, sub);
      sent++;
    }
    // With nothing to subscribe, a ping gets the engine to answer (what makes a link "stable").
    if (sent === 0) link.send({ type: 'ping' });
    this.scheduleRefresh();
  }

  private sendSubscribe(link: Link, sub: Subscription): void {
    if (!link.open || link.areas.get(sub.area)?.leaving === false) return;
    if (!maySubscribe(this.tokenInfo, sub.area)) {
      // The engine would close the whole connection (4501): refuse this area alone.
      sub.fail(new ForbiddenError(`the token does not allow subscribing to ${sub.area}`));
      return;
    }
    const since = sub.since();
    const la: SubscribedLinkArea = { epoch: '', high: 0, acked: 0, subscribed: false, leaving: false, sentAt: Date.now(), since };
    link.areas.set(sub.area, la);
    if (sub.state === 'subscribed') sub.setState('subscribing');
    link.send(since === undefined ? { type: 'subscribe', area: sub.area } : { type: 'subscribe', area: sub.area, since });
    const ms = this.opts.subscribeTimeout ?? 10_000;
    const timer = setTimeout(() => {
      if (link.alive && link.areas.get(sub.area) === la && !la.subscribed) link.kill(new SubscribeTimeoutError(sub.area, ms));
    }, ms);
    (timer as { unref?: () => void }).unref?.();
  }

  private linkFrame(link: Link, frame: ServerFrame): void {
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
        sub.onSubscribed(link, la, frame.epoch, frame.offset, frame.recovered);
        if (link === this.link) this.checkMoves();
        if (link === this.swapLink) this.checkSwap();
        return;
      }
      case 'unsubscribed': {
        const la = link.areas.get(frame.area);
        if (la === undefined || !la.leaving) return;
        link.areas.delete(frame.area);
        const sub = this.subs.get(frame.area);
        if (sub?.leaving && link === this.link) sub.left();
        return;
      }
      case 'error': {
        const sub = frame.area === undefined ? undefined : this.subs.get(frame.area);
        this.log('warn', 'engine error frame', { code: frame.code, message: frame.message, area: frame.area });
        if (sub === undefined) return;
        const la = link.areas.get(sub.area);
        if (la === undefined || la.subscribed) return; // e.g. bad_ack about a live subscription: keep going
        const what = sub.onAreaError(frame.code);
        if (what === 'ignored') return;
        link.areas.delete(sub.area);
        if (what === 'failed') {
          sub.fail(new AreaError(frame.code, frame.message, sub.area));
          this.emit('error', { type: 'area', error: sub.error!, area: sub.area });
          return;
        }
        const delay = frame.code === 'log_unavailable' ? reconnectDelay(1, this.minDelay(), this.maxDelay(), true, this.random) : 0;
        setTimeout(() => this.sendSubscribe(link, sub), delay);
        return;
      }
      case 'pong':
        return;
    }
  }

  private linkClosed(link: Link, code: number, reason: string, error: AbeError | undefined): void {
    this.log('debug', 'link closed', { link: link.id, code, reason });
    if (link === this.swapLink) {
      this.swapLink = undefined;
      if (this.link !== undefined) this.retryRefresh();
      return;
    }
    if (link !== this.link) return;
    this.link = undefined;
    // moveTo: a leave in flight is complete (the new link does not resubscribe the old area).
    for (const sub of [...this.subs.values()]) if (sub.leaving) sub.left();
    if (this.swapLink?.open) {
      // The old link died during a swap: the new one takes over at once.
      this.promoteSwap();
      return;
    }
    if (this.swapLink !== undefined) {
      const half = this.swapLink;
      this.swapLink = undefined;
      half.close(1000, 'normal');
    }
    if (this.state === 'disconnected') return;
    if (this.state === 'connected') this.setState('connecting');
    for (const sub of this.subs.values()) {
      if (code === 4000) sub.lastCloseSlow = true;
      sub.setState('subscribing');
    }
    if (link.answered && link.openedAt > 0 && Date.now() - link.openedAt >= STABLE_MS) this.attempt = 0;
    if (link.openedAt === 0) this.counters.connectFailures++;
    if (error instanceof PingTimeoutLike) this.counters.livenessTimeouts++;
    this.afterClose(code, reason, error);
  }

  /** What a close means: stop (terminal), refresh the token, or retry with backoff. */
  private afterClose(code: number, reason: string, error: AbeError | undefined): void {
    const unauthorized = code === 4500 || (error instanceof UpgradeRefusedError && error.status === 401);
    if (unauthorized && this.opts.getToken !== undefined && !this.retriedUnauthorized) {
      this.retriedUnauthorized = true;
      this.token = undefined;
      void this.fetchToken('unauthorized').then(
        () => this.scheduleRetry(0, reason, error, 0),
        (err: unknown) => (err instanceof UnauthorizedError ? this.toDisconnected(4500, 'unauthorized', err) : this.scheduleRetry(code, reason, error)),
      );
      return;
    }
    if (unauthorized || (code >= 4500 && code <= 4999) || code === 1007) {
      this.toDisconnected(code, reason, error ?? new NormalCloseError(reason));
      return;
    }
    if (code === 4005) {
      // token_expired: a fresh token, then back at once (a small jitter spreads a fleet).
      this.token = undefined;
      this.nextTokenReason = 'expired';
      this.scheduleRetry(code, reason, error, Math.floor(this.random() * 250));
      return;
    }
    let floor = 0;
    if (code === 4002) floor = reconnectWindow(3, this.minDelay(), this.maxDelay()) / 2;
    if (error instanceof UpgradeRefusedError && error.retryAfterMs !== undefined) floor = error.retryAfterMs;
    this.scheduleRetry(code, reason, error, undefined, floor);
  }

  private scheduleRetry(code: number, reason: string, error: AbeError | undefined, fixedDelay?: number, floor = 0): void {
    if (this.state === 'disconnected') return;
    if (this.state !== 'connecting') this.setState('connecting');
    const delay = Math.max(floor, fixedDelay ?? reconnectDelay(this.attempt, this.minDelay(), this.maxDelay(), this.opts.jitter ?? true, this.random));
    this.attempt++;
    this.log('debug', 'reconnect scheduled', { code, reason, attempt: this.attempt, delayMs: delay });
    this.emit('connecting', { code, reason, error, attempt: this.attempt, delayMs: delay });
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.startAttempt(), delay);
  }

  private toDisconnected(code: number, reason: string, error: AbeError | undefined): void {
    this.stopTimers();
    this.listenNetwork(false);
    if (error !== undefined) this.lastError = error;
    const was = this.state;
    this.setState('disconnected');
    if (was !== 'disconnected') this.emit('disconnected', { code, reason, error });
    for (const w of this.readyWaiters.splice(0)) w.reject(error ?? new AbeError('disconnected', 'disconnected'));
  }

  private stopTimers(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.retryTimer = this.refreshTimer = undefined;
  }

  // ---- tokens ----------------------------------------------------------------------------------

  private async fetchToken(reason: TokenReason): Promise<void> {
    if (this.opts.getToken === undefined) {
      if (this.token === undefined && reason === 'initial') return; // an engine without auth
      if (reason === 'expired' && this.token !== undefined) return; // nothing better to offer
      return;
    }
    const token = await this.opts.getToken({ reason });
    this.acceptToken(token);
    if (reason !== 'initial') this.counters.tokenRefreshes++;
  }

  private acceptToken(token: string): void {
    this.token = token;
    this.tokenInfo = decodeToken(token);
    this.tokenReceivedAt = Date.now();
    this.emit('token', { exp: this.tokenInfo.exp, refreshAt: refreshAt(this.tokenInfo, this.tokenReceivedAt, this.random) });
  }

  private tokenReceivedAt = 0;
  /** Why the next getToken call happens (a 4005 makes it 'expired'). */
  private nextTokenReason: TokenReason | undefined;

  private expiredLocally(): boolean {
    return this.tokenInfo.exp !== undefined && this.tokenInfo.exp * 1000 <= Date.now();
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (this.opts.getToken === undefined) return;
    const at = refreshAt(this.tokenInfo, this.tokenReceivedAt || Date.now(), this.random);
    if (at === undefined) return;
    this.refreshTimer = setTimeout(() => void this.refresh(), Math.max(0, at - Date.now()));
  }

  private refreshFailures = 0;

  private retryRefresh(): void {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    const delay = reconnectDelay(this.refreshFailures++, this.minDelay(), this.maxDelay(), true, this.random);
    this.refreshTimer = setTimeout(() => void this.refresh(), delay);
  }

  /** Before exp: a new token, then a new link made before the old one is broken (or a reconnect). */
  private async refresh(): Promise<void> {
    this.refreshTimer = undefined;
    if (this.state !== 'connected' || this.link === undefined) return;
    try {
      await this.fetchToken('refresh');
    } catch (err) {
      this.emit('error', { type: 'token', error: err as Error });
      this.retryRefresh();
      return;
    }
    const current = this.link;
    if (current === undefined || this.state !== 'connected') return;
    if (this.opts.tokenRefresh === 'reconnect') {
      current.close(1000, 'token_refresh');
      return;
    }
    const base = current.url.replace(/[?&]access_token=[^&]*/, '');
    this.swapLink = this.newLink(base);
    this.swapLink.start(this.ctor());
    const swap = this.swapLink;
    const ms = this.opts.subscribeTimeout ?? 10_000;
    setTimeout(() => {
      if (this.swapLink === swap) swap.kill(new SubscribeTimeoutError('(swap)', ms));
    }, (this.opts.connectTimeout ?? 10_000) + ms).unref?.();
  }

  /** The swap link has every area subscribed: it becomes the primary link. */
  private checkSwap(): void {
    const swap = this.swapLink;
    if (swap === undefined || !swap.open) return;
    for (const sub of this.subs.values()) {
      if (sub.leaving) continue;
      if (!swap.areas.get(sub.area)?.subscribed) return;
    }
    this.promoteSwap();
  }

  private promoteSwap(): void {
    const swap = this.swapLink;
    if (swap === undefined) return;
    const old = this.link;
    for (const sub of this.subs.values()) sub.flushAck();
    this.swapLink = undefined;
    this.link = swap;
    this.counters.swaps++;
    this.refreshFailures = 0;
    this.log('info', 'token swap: new link is primary', { old: old?.id, link: swap.id });
    old?.close(1000, 'token_refresh');
    this.checkMoves();
    this.scheduleRefresh();
  }

  // ---- moves and removal -----------------------------------------------------------------------

  /** moveTo step 3: once the target is subscribed on the primary link, leave the source area. */
  private checkMoves(): void {
    const link = this.link;
    if (link === undefined || !link.open) return;
    for (const sub of this.subs.values()) {
      const target = sub.moveTarget;
      if (target === undefined || sub.leaving) continue;
      if (!link.areas.get(target.to.area)?.subscribed) continue;
      sub.leave();
      const la = link.areas.get(sub.area);
      if (la === undefined) {
        sub.left();
        continue;
      }
      la.leaving = true;
      link.send({ type: 'unsubscribe', area: sub.area });
      // a swap link in flight: leave there too (its `unsubscribed` is not waited for)
      const sla = this.swapLink?.areas.get(sub.area);
      if (sla !== undefined && this.swapLink!.open) {
        sla.leaving = true;
        this.swapLink!.send({ type: 'unsubscribe', area: sub.area });
      }
    }
  }

  private removed(sub: Subscription<never>): void {
    if (this.subs.get(sub.area) !== (sub as Subscription)) return;
    if (!sub.leaving) {
      for (const link of this.openLinks()) {
        const la = link.areas.get(sub.area);
        if (la === undefined || la.leaving) continue;
        la.leaving = true;
        link.send({ type: 'unsubscribe', area: sub.area });
      }
    }
    this.subs.delete(sub.area);
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private openLinks(): Link[] {
    const out: Link[] = [];
    if (this.link?.open) out.push(this.link);
    if (this.swapLink?.open) out.push(this.swapLink);
    return out;
  }

  private activeCount(): number {
    let n = 0;
    for (const s of this.subs.values()) if (!s.leaving) n++;
    return n;
  }

  private historyAccess(): { fetch: typeof globalThis.fetch; httpUrl: string; token: string | undefined } | undefined {
    const f = this.opts.fetch ?? globalThis.fetch;
    if (f === undefined) return undefined;
    let httpUrl = this.opts.httpUrl;
    if (httpUrl === undefined) {
      const url = this.link?.url ?? (typeof this.opts.url === 'string' ? this.opts.url : undefined);
      if (url === undefined) return undefined;
      httpUrl = httpBaseOf(url);
    }
    return { fetch: f.bind(globalThis), httpUrl, token: this.token };
  }

  private minDelay(): number {
    return this.opts.minReconnectDelay ?? 1000;
  }

  private maxDelay(): number {
    return this.opts.maxReconnectDelay ?? 30_000;
  }

  private setState(next: ClientState): void {
    if (next === this.state) return;
    const old = this.state;
    this.state = next;
    this.log('debug', 'state', { from: old, to: next });
    this.emit('state', { newState: next, oldState: old });
  }

  private log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(level, msg, fields);
  }

  // ---- network events (browsers) -----------------------------------------------------------------

  private listening = false;

  private listenNetwork(on: boolean): void {
    const target = this.opts.networkEventTarget === undefined ? ((globalThis as { addEventListener?: unknown }).addEventListener !== undefined ? (globalThis as unknown as NonNullable<ClientOptions['networkEventTarget']>) : null) : this.opts.networkEventTarget;
    if (target === null || on === this.listening) return;
    this.listening = on;
    if (on) {
      target.addEventListener('online', this.onOnline);
      target.addEventListener('offline', this.onOffline);
    } else {
      target.removeEventListener('online', this.onOnline);
      target.removeEventListener('offline', this.onOffline);
    }
  }

  /** Back online: retry now-ish (a small jitter: a cell recovering brings many vehicles back at once). */
  private networkOnline(): void {
    if (this.state !== 'connecting' || this.link !== undefined) return;
    this.attempt = 0;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.startAttempt(), Math.floor(this.random() * this.minDelay()));
  }

  private networkOffline(): void {
    this.link?.kill(new AbeError('offline', 'the platform went offline'));
  }
}

/** PingTimeoutError without a value import cycle in the instanceof check above. */
import { PingTimeoutError as PingTimeoutLike } from './errors.ts';
