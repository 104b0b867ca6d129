/**
 * One WebSocket to the engine: open with a timeout, decode frames, liveness (ping when silent, a
 * deadline for anything to come back), and kill. The client may hold two at once during a token
 * swap; each has an id and its callbacks are ignored once it is dead (centrifuge's _transportId).
 *
 * Compression (./inflate.ts): inflating is asynchronous (DecompressionStream), so while a frame
 * is being inflated every later frame, and the engine's close, waits behind it: frames reach the
 * client in the order they came, and none that came before the engine closed is lost to it (a
 * link the client closes or kills drops what is queued: the resume brings it again).
 */
import { AbnormalCloseError, closeError, ConnectTimeoutError, PingTimeoutError, UpgradeRefusedError, type AbeError } from './errors.ts';
import { FrameError } from './codec.ts';
import { compressedPart, deflateVariant, inflateRaw } from './inflate.ts';
import type { ClientFrame, Codec, ServerFrame, WebSocketCtor, WebSocketLike } from './types.ts';

export interface LinkEvents {
  open(link: Link): void;
  frame(link: Link, frame: ServerFrame): void;
  /** Exactly once per link, whatever ended it. */
  closed(link: Link, code: number, reason: string, error: AbeError | undefined): void;
  badFrame(link: Link, error: Error): void;
  ping(link: Link): void;
  /** A compressed frame was inflated (before it is decoded). */
  inflated(link: Link): void;
}

export interface LinkOptions {
  /** Offer the codec's +deflate subprotocol first. */
  readonly compression: boolean;
  readonly connectTimeout: number;
  readonly pingInterval: number;
  readonly pongTimeout: number;
}

/** Per link, per area: what this link's subscription of the area has shown (acks must stay within it). */
export interface LinkArea {
  /** Epoch from this link's `subscribed`; '' before it. */
  epoch: string;
  /** max(start, highest offset this link delivered): the engine refuses acks above what it sent. */
  high: number;
  /** Highest ack sent on this link. */
  acked: number;
  subscribed: boolean;
  /** `unsubscribe` sent on this link: frames still come until `unsubscribed`. */
  leaving: boolean;
  /** When the subscribe was sent (for subscribeTimeout). */
  sentAt: number;
}

let nextId = 1;

export class Link {
  readonly id = nextId++;
  readonly areas = new Map<string, LinkArea>();
  openedAt = 0;
  /** The engine sent this link a frame (a stable link resets the backoff). */
  answered = false;
  private ws: WebSocketLike | undefined;
  private dead = false;
  private lastRx = 0;
  private pingSentAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private upgradeError: UpgradeRefusedError | undefined;
  /** Frames (and the close) waiting behind an inflate, in arrival order; undefined when none. */
  private behind: Promise<void> | undefined;
  /** The socket closed while frames were still queued: nothing more may be sent or timed out. */
  private closing = false;

  constructor(
    readonly url: string,
    private readonly codec: Codec,
    private readonly options: LinkOptions,
    private readonly events: LinkEvents,
  ) {}

  get open(): boolean {
    return !this.dead && !this.closing && this.openedAt > 0;
  }

  get alive(): boolean {
    return !this.dead;
  }

  get subprotocol(): string {
    return this.ws?.protocol ?? '';
  }

  start(Ctor: WebSocketCtor): void {
    let ws: WebSocketLike;
    try {
      const plain = this.codec.subprotocol;
      ws = new Ctor(this.url, this.options.compression ? [deflateVariant(plain), plain] : plain);
    } catch (err) {
      queueMicrotask(() => this.die(1006, 'transport_closed', new AbnormalCloseError(String(err))));
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    // `ws` in Node: a refused upgrade's status and Retry-After (a browser only sees 1006).
    ws.on?.('unexpected-response', ((_req: unknown, res: { statusCode?: number; headers?: Record<string, string | undefined> }) => {
      const status = res.statusCode ?? 0;
      const retry = Number(res.headers?.['retry-after']);
      this.upgradeError = new UpgradeRefusedError(status, status === 401 ? 'unauthorized' : status === 503 ? 'unavailable' : 'upgrade_refused', Number.isFinite(retry) ? retry * 1000 : undefined);
      ws.terminate?.();
    }) as never);
    ws.onopen = () => {
      if (this.dead) return;
      this.openedAt = Date.now();
      this.lastRx = this.openedAt;
      this.arm(this.options.pingInterval);
      this.events.open(this);
    };
    ws.onmessage = (ev) => {
      if (this.dead) return;
      this.lastRx = Date.now();
      this.pingSentAt = 0;
      const packed = ws.protocol.endsWith('+deflate') ? compressedPart(ev.data) : undefined;
      if (packed === undefined && this.behind === undefined) return this.decoded(ev.data);
      this.after(async () => {
        let data: unknown = ev.data;
        if (packed !== undefined) {
          try {
            data = await inflateRaw(packed);
            this.events.inflated(this);
          } catch (err) {
            if (!this.dead) this.events.badFrame(this, new FrameError(`compressed frame does not inflate: ${(err as Error).message}`));
            return;
          }
        }
        this.decoded(data);
      });
    };
    ws.onclose = (ev) => {
      const end = (): void => {
        if (this.upgradeError !== undefined) this.die(1006, this.upgradeError.code, this.upgradeError);
        else this.die(ev.code, ev.reason, closeError(ev.code, ev.reason));
      };
      if (this.behind === undefined) end();
      else {
        this.closing = true;
        if (this.timer !== undefined) clearTimeout(this.timer);
        this.timer = undefined;
        this.after(end);
      }
    };
    ws.onerror = () => {
      // onclose follows; nothing to do here (the error event carries no detail in browsers)
    };
    this.arm(this.options.connectTimeout);
  }

  /** One frame's bytes (inflated where it was compressed) -> the client. */
  private decoded(data: unknown): void {
    if (this.dead) return;
    let frame: ServerFrame;
    try {
      frame = this.codec.decode(data);
    } catch (err) {
      this.events.badFrame(this, err as Error);
      return;
    }
    this.answered = true;
    this.events.frame(this, frame);
  }

  /**
   * Runs `step` once everything queued before it is done. An error escaping a step is a bug of the
   * client's own (inflate and decode errors are reported as bad frames where they happen): it is
   * thrown again outside the queue, as it would be from a frame handled at once.
   */
  private after(step: () => void | Promise<void>): void {
    const run = (this.behind ?? Promise.resolve()).then(step).catch((err: unknown) => {
      queueMicrotask(() => {
        throw err;
      });
    });
    this.behind = run;
    void run.then(() => {
      if (this.behind === run) this.behind = undefined;
    });
  }

  send(frame: ClientFrame): boolean {
    if (!this.open || this.ws === undefined) return false;
    try {
      this.ws.send(this.codec.encode(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Closes politely (the engine sees the close frame); the link is dead at once. */
  close(code: number, reason: string, error?: AbeError): void {
    if (this.dead) return;
    try {
      this.ws?.close(code, reason);
    } catch {
      // already closing
    }
    this.die(code, reason, error);
  }

  /** Drops the connection without waiting: a dead TCP link may take minutes to report its close. */
  kill(error: AbeError): void {
    if (this.dead) return;
    const ws = this.ws;
    if (ws?.terminate !== undefined) ws.terminate();
    else {
      try {
        ws?.close(1000, error.code);
      } catch {
        // ignore
      }
    }
    this.die(1006, error.code, error);
  }

  /** The one timer: connect timeout before open; after it, ping when silent and the pong deadline. */
  private arm(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), Math.max(1, ms));
    (this.timer as { unref?: () => void }).unref?.();
  }

  private tick(): void {
    this.timer = undefined;
    if (this.dead) return;
    const now = Date.now();
    if (this.openedAt === 0) {
      this.kill(new ConnectTimeoutError(this.options.connectTimeout));
      return;
    }
    // Checked against timestamps, so a throttled timer (background tab) never causes a false timeout.
    if (this.pingSentAt !== 0) {
      if (now - this.pingSentAt >= this.options.pongTimeout) {
        this.kill(new PingTimeoutError(this.options.pongTimeout));
        return;
      }
      this.arm(this.pingSentAt + this.options.pongTimeout - now);
      return;
    }
    const silent = now - this.lastRx;
    if (silent >= this.options.pingInterval) {
      this.pingSentAt = now;
      this.send({ type: 'ping' });
      this.events.ping(this);
      this.arm(this.options.pongTimeout);
      return;
    }
    this.arm(this.options.pingInterval - silent);
  }

  private die(code: number, reason: string, error: AbeError | undefined): void {
    if (this.dead) return;
    this.dead = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const ws = this.ws;
    if (ws !== undefined) {
      ws.onopen = null;
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = () => {};
    }
    this.events.closed(this, code, reason, error);
  }
}
