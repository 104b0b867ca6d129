/**
 * Who may connect how often: what EMQX users rely on in a reconnect storm [issue 13].
 *
 *  - Connection rate per listener (`--max-connect-rate`, like EMQX `max_conn_rate`): a token
 *    bucket per listener per process, refilled continuously, burst = one second's worth. Checked
 *    first, before any token is verified, so a storm costs the engine a bucket test per attempt.
 *  - Flapping detection (`--flapping-*`, EMQX `flapping_detect`: 15 connects a minute -> banned for
 *    5 minutes): per client id, token subject and/or remote address (`--flapping-by`), a fixed
 *    window counter; the connect that goes over `maxConnects` bans that key for `banMs`. A banned
 *    address is refused before auth; a banned client id / subject once they are known.
 *
 * Refusals are coded: HTTP 503 `connect_rate_limited` / `flapping_banned` with Retry-After at a
 * WebSocket upgrade, CONNACK 0x9F (Connection rate exceeded; 3.1.1: 0x03) for MQTT. Each refusal
 * counts in abe_connect_refusals_total{listener,reason}; each ban is one log line and counts in
 * abe_flapping_bans_total{key}. Everything is per process (several workers: each counts its own),
 * state is bounded by the connects of one window and pruned every window.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { AdmissionConfig, FlappingKey } from '../../config.types.ts';
import type { Logger } from '../../logger.ts';
import { refuseHttp, type RefusalSink } from './http-reply.ts';

export type Listener = 'ws' | 'mqtt_tcp' | 'mqtt_ws';
export type AdmissionRefusal = 'connect_rate_limited' | 'flapping_banned';

export interface Refused {
  readonly reason: AdmissionRefusal;
  /** Whole seconds the client should wait (Retry-After; at least 1). */
  readonly retryAfterSeconds: number;
}

export interface AdmissionMetrics {
  refused(listener: Listener, reason: AdmissionRefusal): void;
  banned(key: FlappingKey): void;
}

/** Who is connecting, as far as it is known at the time of the check. */
export interface Identity {
  readonly address: string;
  readonly clientId?: string;
  readonly subject?: string;
}

interface Counter {
  windowStart: number;
  count: number;
}

class Bucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.last = now;
  }

  /** Takes one token; when none is left, the ms until one will be there. */
  take(now: number): number {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return ((1 - this.tokens) * 1000) / this.rate;
  }
}

export class Admission {
  private readonly buckets = new Map<Listener, Bucket>();
  /** key kind + ':' + value -> connects in the current window. */
  private readonly counters = new Map<string, Counter>();
  /** key kind + ':' + value -> banned until (ms). */
  private readonly bans = new Map<string, number>();
  private readonly byClientId: boolean;
  private readonly bySubject: boolean;
  private readonly byAddress: boolean;
  private lastPrune: number;
  /** When the last connect attempt arrived on any listener (ms): fan-outs slice while connects arrive. */
  lastConnectAt = 0;
  /** Whether admitConnect needs the remote address (callers skip reading it otherwise). */
  readonly needsAddress: boolean;
  /** Whether admitIdentity does anything (callers skip building the Identity otherwise: the connect path stays allocation-free). */
  readonly tracksIdentity: boolean;
  /** The same for a connection without a client id (WebSocket vehicles): only subject or address count. */
  readonly tracksSubjectOrAddress: boolean;

  constructor(
    private readonly config: AdmissionConfig,
    private readonly metrics: AdmissionMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    const on = config.flapping.maxConnects > 0;
    this.byClientId = on && config.flapping.by.includes('clientid');
    this.bySubject = on && config.flapping.by.includes('subject');
    this.byAddress = on && config.flapping.by.includes('address');
    this.needsAddress = this.byAddress;
    this.tracksIdentity = this.byClientId || this.bySubject || this.byAddress;
    this.tracksSubjectOrAddress = this.bySubject || this.byAddress;
    this.lastPrune = now();
  }

  /**
   * First check of a connect, before auth: the listener's rate and an address ban. undefined =
   * go on. Takes a token from the bucket (a refused attempt does not).
   */
  admitConnect(listener: Listener, address: string): Refused | undefined {
    const now = this.now();
    this.lastConnectAt = now;
    if (this.byAddress) {
      const banned = this.bannedFor('address', address, now);
      if (banned !== undefined) return this.refuse(listener, 'flapping_banned', banned);
    }
    if (this.config.maxConnectRate > 0) {
      let bucket = this.buckets.get(listener);
      if (bucket === undefined) this.buckets.set(listener, (bucket = new Bucket(this.config.maxConnectRate, now)));
      const waitMs = bucket.take(now);
      if (waitMs > 0) return this.refuse(listener, 'connect_rate_limited', waitMs);
    }
    return undefined;
  }

  /**
   * Second check, once the client id and/or subject are known (after auth): refuses a banned
   * one, else counts this connect for every enabled key and bans the keys that went over.
   */
  admitIdentity(listener: Listener, who: Identity): Refused | undefined {
    if (!this.tracksIdentity) return undefined;
    const now = this.now();
    if (now - this.lastPrune >= this.config.flapping.windowMs) this.prune(now);
    const keys: [FlappingKey, string][] = [];
    if (this.byClientId && who.clientId !== undefined && who.clientId !== '') keys.push(['clientid', who.clientId]);
    if (this.bySubject && who.subject !== undefined) keys.push(['subject', who.subject]);
    if (this.byAddress && who.address !== '') keys.push(['address', who.address]);
    for (const [kind, value] of keys) {
      const banned = this.bannedFor(kind, value, now);
      if (banned !== undefined) return this.refuse(listener, 'flapping_banned', banned);
    }
    let refused: Refused | undefined;
    for (const [kind, value] of keys) {
      if (this.count(kind, value, now) > this.config.flapping.maxConnects) {
        this.ban(kind, value, now, who);
        refused ??= this.refuse(listener, 'flapping_banned', this.config.flapping.banMs);
      }
    }
    return refused;
  }

  private count(kind: FlappingKey, value: string, now: number): number {
    const id = `${kind}:${value}`;
    const c = this.counters.get(id);
    if (c === undefined || now - c.windowStart >= this.config.flapping.windowMs) {
      this.counters.set(id, { windowStart: now, count: 1 });
      return 1;
    }
    return ++c.count;
  }

  private ban(kind: FlappingKey, value: string, now: number, who: Identity): void {
    const id = `${kind}:${value}`;
    this.bans.set(id, now + this.config.flapping.banMs);
    this.counters.delete(id);
    this.metrics.banned(kind);
    this.logger.warn(
      { key: kind, value, address: who.address, maxConnects: this.config.flapping.maxConnects, windowMs: this.config.flapping.windowMs, banMs: this.config.flapping.banMs },
      `flapping: ${kind} ${value} connected more than ${this.config.flapping.maxConnects} times in ${this.config.flapping.windowMs / 1000} s; refused for ${this.config.flapping.banMs / 1000} s`,
    );
  }

  /** ms left on a ban of this key, or undefined. */
  private bannedFor(kind: FlappingKey, value: string, now: number): number | undefined {
    const id = `${kind}:${value}`;
    const until = this.bans.get(id);
    if (until === undefined) return undefined;
    if (now < until) return until - now;
    this.bans.delete(id);
    return undefined;
  }

  private refuse(listener: Listener, reason: AdmissionRefusal, waitMs: number): Refused {
    this.metrics.refused(listener, reason);
    return { reason, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /** Drops counters of past windows and expired bans: state stays bounded by one window's connects. */
  private prune(now: number): void {
    this.lastPrune = now;
    const windowMs = this.config.flapping.windowMs;
    for (const [id, c] of this.counters) if (now - c.windowStart >= windowMs) this.counters.delete(id);
    for (const [id, until] of this.bans) if (now >= until) this.bans.delete(id);
  }
}

/**
 * The WebSocket-upgrade answer to a refused connect: 503 with the code and Retry-After (RFC 9110
 * §10.2.3: seconds). Logged at debug (a storm would flood the log; the metric counts each one and
 * a ban is logged once where it is decided).
 */
export function refuseUpgrade(res: HttpResponse, sink: RefusalSink, refused: Refused, fields: Readonly<Record<string, unknown>>): void {
  refuseHttp(res, sink, refused.reason, { what: 'connect refused', headers: { 'retry-after': String(refused.retryAfterSeconds) }, fields: { ...fields, retryAfterSeconds: refused.retryAfterSeconds } });
}
