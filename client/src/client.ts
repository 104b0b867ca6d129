/**
 * The vehicle client: one connection to the engine (two during a token swap), reconnect with
 * full-jitter backoff, resume of every area from its position, liveness, token refresh, moveTo.
 * Areas on the links: ./area-router.ts; delivery rules (dedup, queue, acks, gaps):
 * ./subscription.ts; the token: ./credentials.ts.
 */
import { AreaRouter } from './area-router.ts';
import { reconnectDelay, reconnectWindow } from './backoff.ts';
import { jsonCodec } from './codec.ts';
import { canInflate } from './inflate.ts';
import { Credentials } from './credentials.ts';
import { Emitter } from './emitter.ts';
import { AbeError, NormalCloseError, PingTimeoutError, SubscribeTimeoutError, UnauthorizedError, UpgradeRefusedError, UsageError } from './errors.ts';
import { fetchHistory, httpBaseOf, type HistoryPage } from './history.ts';
import { Link } from './link.ts';
import { NetworkEvents } from './network.ts';
import { newStats } from './stats.ts';
import { MemoryPositionStore } from './stores.ts';
import { resolveAcks, resolveHistory } from './options.ts';
import { Subscription, type SubscriptionHost } from './subscription.ts';
import { Waiters } from './waiters.ts';
import type { ClientEvents, ClientOptions, ClientState, ClientStats, Codec, HistoryOptions, LogLevel, MessageHandler, MoveOptions, PositionStore, SubscriptionOptions, WebSocketCtor } from './types.ts';

const AREA_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** A link resets the backoff only once it proved stable: the engine answered and it stayed open this long. */
const STABLE_MS = 5000;

export class Client extends Emitter<ClientEvents> {
  state: ClientState = 'disconnected';
  lastError: AbeError | undefined;
  readonly store: PositionStore;
  private readonly codec: Codec;
  /** Offer the +deflate subprotocol (ClientOptions.compression). */
  private readonly compression: boolean;
  private readonly router: AreaRouter;
  private readonly credentials: Credentials;
  private readonly network: NetworkEvents;
  private link: Link | undefined;
  private swapLink: Link | undefined;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshFailures = 0;
  private attemptGen = 0;
  /** An attempt is awaiting its token or URL. */
  private attempting = false;
  private retriedUnauthorized = false;
  private everConnected = false;
  private readonly readyWaiters = new Waiters();
  private readonly counters = newStats();
  private readonly host: SubscriptionHost;
  private readonly random: () => number;

  constructor(private readonly opts: ClientOptions) {
    super();
    this.codec = opts.codec ?? jsonCodec;
    const inflates = canInflate();
    this.compression = opts.compression ?? inflates;
    if (this.compression && !inflates) throw new UsageError('no_decompression', "compression: true needs DecompressionStream('deflate-raw') (current browsers; Node 20 has it, checked on 20.20)");
    this.store = opts.store ?? new MemoryPositionStore();
    this.random = opts.random ?? Math.random;
    this.credentials = new Credentials(opts.token, opts.getToken, this.random, (exp, refreshAt) => this.emit('token', { exp, refreshAt }));
    this.network = new NetworkEvents(opts.networkEventTarget, () => this.networkOnline(), () => {
      this.swapLink?.kill(new AbeError('offline', 'the platform went offline'));
      this.link?.kill(new AbeError('offline', 'the platform went offline'));
    });
    const acks = resolveAcks(opts.acks);
    if (acks !== undefined && acks.intervalMs >= 4000) this.log('warn', 'acks.intervalMs should stay below the engine --ack-resend-ms (5000 by default), or every batch triggers a resend', { intervalMs: acks.intervalMs });
    const history = resolveHistory(opts.history);
    this.router = new AreaRouter({
      primary: () => this.link,
      swap: () => this.swapLink,
      openLinks: () => [this.link, this.swapLink].filter((l): l is Link => l?.open === true),
      maySubscribe: (area) => this.credentials.maySubscribe(area),
      subscribeTimeout: opts.subscribeTimeout ?? 10_000,
      retryDelay: () => reconnectDelay(1, this.minDelay(), this.maxDelay(), true, this.random),
      areaError: (error, area) => this.emit('error', { type: 'area', error, area }),
      swapProgress: () => this.checkSwap(),
      log: (l, m, f) => this.log(l, m, f),
    });
    this.host = {
      store: this.store,
      counters: this.counters,
      acks,
      history,
      primary: () => this.link,
      historyAccess: () => this.historyAccess(),
      log: (l, m, f) => this.log(l, m, f),
      reportError: (type, error, area) => this.emit('error', { type, error, area }),
      removed: (sub) => this.router.removed(sub),
      startOf: (area) => this.router.startOf(area, this.store.get(area)),
      predecessor: (area) => this.router.predecessor(area) as Subscription<never> | undefined,
      resubscribe: (sub) => {
        if (this.link?.open) this.router.resubscribe(this.link, sub as Subscription);
      },
    };
  }

  // ---- public API ------------------------------------------------------------------------------

  stats(): Readonly<ClientStats> {
    return { ...this.counters, tokenRefreshes: this.credentials.refreshes };
  }

  connect(): void {
    if (this.state !== 'disconnected') return;
    this.ctor(); // throws now (no WebSocket available) rather than in a retry loop
    this.lastError = undefined;
    this.attempt = 0;
    this.retriedUnauthorized = false;
    this.setState('connecting');
    this.network.listen(true);
    this.emit('connecting', { code: 0, reason: 'connect_called', attempt: 0, delayMs: 0 });
    void this.startAttempt();
  }

  /** Flushes acks, closes (1000), stops retrying and flushes the position store. */
  async disconnect(): Promise<void> {
    for (const sub of this.router.subs.values()) sub.flushAck();
    this.stopTimers();
    this.network.listen(false);
    // Detach the links first, so their close is not taken for a lost connection.
    const links = [this.link, this.swapLink];
    this.link = this.swapLink = undefined;
    for (const l of links) l?.close(1000, 'normal');
    this.router.completeLeaves();
    this.toDisconnected(1000, 'disconnect_called', undefined);
    await this.store.flush();
  }

  /** Resolves once connected; rejects when the client stops for good (a terminal close). */
  ready(timeoutMs = 30_000): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'disconnected' && this.lastError !== undefined) return Promise.reject(this.lastError);
    return this.readyWaiters.wait(timeoutMs, 'not connected');
  }

  subscribe<T = unknown>(area: string, handler?: MessageHandler<T>, options: SubscriptionOptions = {}): Subscription<T> {
    if (!AREA_ID_RE.test(area)) throw new UsageError('invalid_area', `invalid area id ${JSON.stringify(area)}`);
    const existing = this.router.subs.get(area);
    if (existing !== undefined && !existing.leaving) throw new UsageError('already_subscribed', `${area} already has a subscription`);
    // Back into an area still being left: its unsubscribe went out first on the same socket, so the
    // leave is done as far as the engine is concerned; the new subscription starts where it stopped.
    existing?.left();
    const max = this.opts.maxSubscriptions ?? 32;
    if (this.router.activeCount() >= max) throw new UsageError('too_many_subscriptions', `at most ${max} subscriptions per connection`);
    const sub = new Subscription<T>(area, handler, options, this.host);
    this.router.subs.set(area, sub as Subscription);
    for (const link of [this.link, this.swapLink]) if (link?.open) this.router.sendSubscribe(link, sub as Subscription);
    return sub;
  }

  getSubscription(area: string): Subscription | undefined {
    const s = this.router.subs.get(area);
    return s !== undefined && !s.leaving ? s : undefined;
  }

  /**
   * Area handover for a vehicle crossing a boundary: subscribe `toArea` first, and leave
   * `fromArea` only once the engine has attached the new one (make-before-break: the engine reads
   * one socket in order, so it attaches `toArea` strictly before it detaches `fromArea`). Nothing
   * is lost or duplicated in either area. Resolves with the new subscription once `fromArea` is left.
   */
  moveTo<T = unknown>(fromArea: string, toArea: string, opts: MoveOptions = {}): Promise<Subscription<T>> {
    const from = this.router.subs.get(fromArea);
    if (from === undefined || from.leaving) return Promise.reject(new UsageError('not_subscribed', `${fromArea} is not subscribed`));
    if (from.moveTarget !== undefined) return Promise.reject(new UsageError('already_moving', `${fromArea} is already moving`));
    if (fromArea === toArea) return Promise.reject(new UsageError('same_area', `moveTo ${fromArea} -> ${toArea}: the same area`));
    let to = this.getSubscription(toArea);
    if (to?.moveTarget !== undefined) return Promise.reject(new UsageError('already_moving', `${toArea} is itself moving away`));
    if (to === undefined) {
      const { handler, resume, ...subOpts } = opts;
      try {
        // the overlap needs one spare subscription slot (maxSubscriptions); 'stored' (the default)
        // starts where the store, or a subscription of the area still being left, stopped
        to = this.subscribe(toArea, (handler ?? from.handler) as MessageHandler, { ...from.options, ...subOpts, since: opts.since, fromHead: resume === 'fresh' });
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (to.state === 'unsubscribed') return Promise.reject(to.error ?? new UsageError('unsubscribed', `${toArea} could not be subscribed`));
    this.counters.moves++;
    const target = to;
    return new Promise<Subscription<T>>((resolve, reject) => {
      from.moveTarget = { to: target, resolve: resolve as (s: Subscription) => void, reject };
      target.once('unsubscribed', (c) => {
        if (from.moveTarget?.to !== target) return;
        from.moveTarget = undefined;
        reject(c.error ?? new UsageError('unsubscribed', `${toArea} was unsubscribed`));
      });
      this.router.checkMoves();
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
    this.credentials.accept(token);
  }

  // ---- connecting ------------------------------------------------------------------------------

  private async startAttempt(): Promise<void> {
    this.retryTimer = undefined;
    if (this.state !== 'connecting') return;
    // One attempt at a time: a disconnect()+connect() or an online event while this one awaits
    // its token or URL starts a newer one, and this one must then not open a socket.
    const gen = ++this.attemptGen;
    this.attempting = true;
    let url: string;
    try {
      await this.credentials.ensure();
      url = typeof this.opts.url === 'function' ? await this.opts.url() : this.opts.url;
    } catch (err) {
      if (gen !== this.attemptGen) return;
      this.attempting = false;
      if (err instanceof UnauthorizedError) return this.toDisconnected(4500, 'unauthorized', err);
      this.emit('error', { type: 'token', error: err as Error });
      return this.scheduleRetry(0, 'token_failed', undefined);
    }
    if (gen !== this.attemptGen) return;
    this.attempting = false;
    if (this.state !== 'connecting') return;
    this.link = this.newLink(url);
    this.link.start(this.ctor());
  }

  private newLink(url: string): Link {
    const token = this.credentials.token;
    const full = token === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`;
    const timing = { compression: this.compression, connectTimeout: this.opts.connectTimeout ?? 10_000, pingInterval: this.opts.pingInterval ?? 10_000, pongTimeout: this.opts.pongTimeout ?? 5000 };
    return new Link(full, this.codec, timing, {
      open: (l) => this.linkOpen(l),
      frame: (l, f) => this.router.onFrame(l, f),
      closed: (l, code, reason, error) => this.linkClosed(l, code, reason, error),
      badFrame: (l, err) => {
        this.emit('error', { type: 'transport', error: err });
        this.log('warn', 'bad frame from the engine', { link: l.id, error: err.message });
      },
      ping: () => {
        this.counters.pings++;
      },
      inflated: () => {
        this.counters.inflated++;
      },
    });
  }

  private ctor(): WebSocketCtor {
    const c = this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (c === undefined) throw new UsageError('no_websocket', 'no WebSocket: pass options.WebSocket (in Node 20: WebSocket from the ws package)');
    return c;
  }

  private linkOpen(link: Link): void {
    if (link === this.swapLink) {
      this.log('debug', 'swap link open', { link: link.id });
      this.router.subscribeAll(link);
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
    this.readyWaiters.resolveAll();
    // With nothing to subscribe, a ping gets the engine to answer (what makes a link "stable").
    if (this.router.subscribeAll(link) === 0) link.send({ type: 'ping' });
    this.scheduleRefresh();
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
    this.router.completeLeaves();
    if (this.swapLink?.open) {
      // The old link died during a swap: the new one takes over at once.
      this.promoteSwap();
      return;
    }
    this.swapLink?.close(1000, 'normal');
    this.swapLink = undefined;
    this.router.linkLost(code);
    if (this.state === 'disconnected') return;
    if (this.state === 'connected') this.setState('connecting');
    if (link.answered && link.openedAt > 0 && Date.now() - link.openedAt >= STABLE_MS) this.attempt = 0;
    if (link.openedAt === 0) this.counters.connectFailures++;
    if (error instanceof PingTimeoutError) this.counters.livenessTimeouts++;
    this.afterClose(code, reason, error);
  }

  /** What a close means: stop (terminal), refresh the token, or retry with backoff. */
  private afterClose(code: number, reason: string, error: AbeError | undefined): void {
    const unauthorized = code === 4500 || (error instanceof UpgradeRefusedError && error.status === 401);
    if (unauthorized && this.credentials.refreshable && !this.retriedUnauthorized) {
      this.retriedUnauthorized = true;
      this.credentials.drop('unauthorized');
      return this.scheduleRetry(code, reason, error, 0);
    }
    if (unauthorized || (code >= 4500 && code <= 4999) || code === 1007) return this.toDisconnected(code, reason, error ?? new NormalCloseError(reason));
    if (code === 4005) {
      // token_expired: a fresh token, then back at once (a small jitter spreads a fleet).
      this.credentials.drop('expired');
      return this.scheduleRetry(code, reason, error, Math.floor(this.random() * 250));
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
    this.attemptGen++;
    this.attempting = false;
    // moves still waiting for their target end with the client
    for (const sub of this.router.subs.values()) {
      const target = sub.moveTarget;
      if (target === undefined || sub.leaving) continue;
      sub.moveTarget = undefined;
      target.reject(error ?? new AbeError('disconnected', 'the client disconnected during the move'));
    }
    this.network.listen(false);
    if (error !== undefined) this.lastError = error;
    const was = this.state;
    this.setState('disconnected');
    if (was !== 'disconnected') this.emit('disconnected', { code, reason, error });
    this.readyWaiters.rejectAll(error ?? new AbeError('disconnected', 'disconnected'));
  }

  private stopTimers(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.retryTimer = this.refreshTimer = undefined;
  }

  /** Back online: retry now-ish (a small jitter: a cell recovering brings many vehicles back at once). */
  private networkOnline(): void {
    if (this.state !== 'connecting' || this.link !== undefined || this.attempting) return;
    this.attempt = 0;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.startAttempt(), Math.floor(this.random() * this.minDelay()));
  }

  // ---- token refresh: make-before-break ---------------------------------------------------------

  private scheduleRefresh(): void {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const at = this.credentials.refreshAt();
    if (at !== undefined) this.refreshTimer = setTimeout(() => void this.refresh(), Math.max(0, at - Date.now()));
  }

  private retryRefresh(): void {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    const delay = reconnectDelay(this.refreshFailures++, this.minDelay(), this.maxDelay(), true, this.random);
    this.refreshTimer = setTimeout(() => void this.refresh(), delay);
  }

  /**
   * Before exp: a new token, then a second link with it. Protocol v1 has no refresh frame, so
   * the client resumes every area on the new link and closes the old one once all are subscribed
   * (the overlap is dropped as duplicates); the state stays connected. Or a plain reconnect.
   */
  private async refresh(): Promise<void> {
    this.refreshTimer = undefined;
    if (this.state !== 'connected' || this.link === undefined) return;
    try {
      await this.credentials.fetch('refresh');
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        const l = this.link;
        this.link = undefined; // detached first: its close is not a lost connection
        l?.close(1000, 'normal');
        return this.toDisconnected(4500, 'unauthorized', err);
      }
      this.emit('error', { type: 'token', error: err as Error });
      return this.retryRefresh();
    }
    const current = this.link;
    if (current === undefined || this.state !== 'connected') return;
    if (this.opts.tokenRefresh === 'reconnect') return current.close(1000, 'token_refresh');
    const swap = this.newLink(current.url.replace(/[?&]access_token=[^&]*/, ''));
    this.swapLink = swap;
    swap.start(this.ctor());
    const ms = this.opts.subscribeTimeout ?? 10_000;
    const timer = setTimeout(() => {
      if (this.swapLink === swap) swap.kill(new SubscribeTimeoutError('(swap)', ms));
    }, (this.opts.connectTimeout ?? 10_000) + ms);
    (timer as { unref?: () => void }).unref?.();
  }

  /** The swap link has every area subscribed: it becomes the primary link. */
  private checkSwap(): void {
    const swap = this.swapLink;
    if (swap === undefined || !swap.open) return;
    for (const sub of this.router.subs.values()) if (!sub.leaving && !swap.areas.get(sub.area)?.subscribed) return;
    this.promoteSwap();
  }

  private promoteSwap(): void {
    const swap = this.swapLink;
    if (swap === undefined) return;
    const old = this.link;
    for (const sub of this.router.subs.values()) sub.flushAck();
    this.swapLink = undefined;
    this.link = swap;
    this.counters.swaps++;
    this.refreshFailures = 0;
    this.log('info', 'token swap: new link is primary', { old: old?.id, link: swap.id });
    old?.close(1000, 'token_refresh');
    // leaves whose `unsubscribed` was due on the old link: done unless the new link is leaving too
    for (const sub of [...this.router.subs.values()]) if (sub.leaving && swap.areas.get(sub.area)?.leaving !== true) sub.left();
    this.router.checkMoves();
    this.scheduleRefresh();
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private historyAccess(): { fetch: typeof globalThis.fetch; httpUrl: string; token: string | undefined } | undefined {
    const f = this.opts.fetch ?? globalThis.fetch;
    if (f === undefined) return undefined;
    let httpUrl = this.opts.httpUrl;
    if (httpUrl === undefined) {
      const url = this.link?.url ?? (typeof this.opts.url === 'string' ? this.opts.url : undefined);
      if (url === undefined) return undefined;
      httpUrl = httpBaseOf(url);
    }
    return { fetch: f.bind(globalThis), httpUrl, token: this.credentials.token };
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
}
