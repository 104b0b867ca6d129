/**
 * One vehicle's WebSocket: the Subscriber areas/ write to, plus the per-connection state the
 * handlers need (subscriptions, frame-rate window, principal). Handlers reach it through these
 * public members only.
 *
 * Kept small on purpose [issue 6: <= 2 KB per idle connection, uWS included]: 100K of these live
 * in one machine. Nearly every vehicle has exactly one subscription, so the first one is held in
 * two fields and a Map exists only from the second on; the remote address is read from the socket
 * when a log line needs it instead of being stored.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { AreaCursor } from '../../areas/area-cursor.ts';
import { WRITE_DROPPED, type Subscriber } from '../../areas/subscriber.ts';
import type { Principal } from '../../auth/types.ts';
import { CLOSE, type CloseReason, type ErrorCode } from '../../errors.ts';
import { encodeControl, type ServerControl, type Subprotocol } from './protocol.ts';

export interface SubscriptionRef {
  readonly cursor: AreaCursor;
  readonly slot: number;
}

/** A subscription: resolved (SubscriptionRef), or waiting for the log (the attempt's id). */
export type SubscriptionEntry = SubscriptionRef | number;

/**
 * What uWS stores as the socket's user data. uWS.js v20 copies its properties onto the WebSocket
 * object itself (getUserData() returns the socket), so this stays one property.
 */
export interface WsUserData {
  readonly conn: WsConnection;
}

export type CloseListener = (conn: WsConnection, reason: CloseReason, detail: string) => void;

let nextId = 1;

// writeMany's arguments for the corked callback. Module state instead of a closure per call or
// per connection: the callback runs synchronously inside cork(), on the one JS thread.
let batchWs: WebSocket<WsUserData> | undefined;
let batchFrames: readonly Uint8Array[] = [];
let batchFrom = 0;
let batchTo = 0;
let batchBinary = false;
let batchWritten = 0;

function writeBatchCorked(): void {
  const ws = batchWs!;
  for (let i = batchFrom; i < batchTo; i++) {
    if (ws.send(batchFrames[i], batchBinary, false) === WRITE_DROPPED) return;
    batchWritten++;
  }
}

export class WsConnection implements Subscriber {
  readonly id = nextId++;
  ws: WebSocket<WsUserData> | undefined;
  paused = false;
  closed = false;
  /** Frame-rate limiter: window start (ms modulo 2^30: a small integer, no heap number) and frames in it. */
  frameWindowStart = 0;
  frameCount = 0;
  /**
   * First subscription: its area (the cursor's own string once resolved) and entry. An entry is
   * the SubscriptionRef, or while the subscribe waits for the log, a number: that attempt's id, so
   * a late answer can tell whether the entry is still its own (see handlers/subscribe.ts).
   */
  private area0: string | undefined = undefined;
  private entry0: SubscriptionEntry = 0;
  /** Second and later subscriptions, created on demand and dropped again when empty. */
  private more: Map<string, SubscriptionEntry> | undefined = undefined;
  private attempts = 0;

  constructor(
    readonly principal: Principal,
    /** The negotiated subprotocol (shared object: one pointer per connection). */
    readonly wire: Subprotocol,
    /** Index into the FormatTable for this subprotocol's message frames. */
    readonly format: number,
    private readonly onClose: CloseListener,
  ) {}

  /** The peer's address for log lines ('' once the socket is gone). */
  get remoteAddress(): string {
    if (this.ws === undefined) return '';
    try {
      return Buffer.from(this.ws.getRemoteAddressAsText()).toString();
    } catch {
      return ''; // closed by the peer in this tick
    }
  }

  // --- subscriptions: area -> SubscriptionRef, or a pending attempt id ---

  get subscriptionCount(): number {
    return (this.area0 === undefined ? 0 : 1) + (this.more === undefined ? 0 : this.more.size);
  }

  hasSubscription(area: string): boolean {
    return this.area0 === area || (this.more !== undefined && this.more.has(area));
  }

  /** The ref, a pending attempt id (number), or undefined when not subscribed. */
  subscription(area: string): SubscriptionEntry | undefined {
    if (this.area0 === area) return this.entry0;
    return this.more?.get(area);
  }

  /** The only subscription when there is exactly one and it is resolved (the ack fast path). */
  soleSubscription(): SubscriptionRef | null {
    if (this.more !== undefined || typeof this.entry0 === 'number') return null;
    return this.entry0;
  }

  /** Marks `area` as waiting for the log; returns the attempt id held in its entry. */
  beginSubscribe(area: string): number {
    const id = ++this.attempts;
    this.put(area, id);
    return id;
  }

  /** The subscribe resolved: key by the cursor's area string so the frame's copy can be collected. */
  setSubscription(ref: SubscriptionRef): void {
    this.put(ref.cursor.id, ref);
  }

  private put(area: string, entry: SubscriptionEntry): void {
    if (this.area0 === undefined || this.area0 === area) {
      this.area0 = area;
      this.entry0 = entry;
      return;
    }
    (this.more ??= new Map()).set(area, entry);
  }

  deleteSubscription(area: string): void {
    if (this.area0 === area) {
      this.area0 = undefined;
      this.entry0 = 0;
      // Keep the inline entry filled while other subscriptions remain.
      if (this.more !== undefined) {
        const [nextArea, next] = this.more.entries().next().value as [string, SubscriptionEntry];
        this.more.delete(nextArea);
        this.area0 = nextArea;
        this.entry0 = next;
      }
    } else {
      this.more?.delete(area);
    }
    // A vehicle moving between areas must not keep an empty Map for the rest of its life.
    if (this.more !== undefined && this.more.size === 0) this.more = undefined;
  }

  /** Resolved subscriptions (not the hot path: resume after a drain, close). */
  resolvedSubscriptions(): SubscriptionRef[] {
    const out: SubscriptionRef[] = [];
    if (this.area0 !== undefined && typeof this.entry0 !== 'number') out.push(this.entry0);
    if (this.more !== undefined) for (const e of this.more.values()) if (typeof e !== 'number') out.push(e);
    return out;
  }

  /** Forgets every subscription (the socket closed). Returns the resolved ones to detach. */
  clearSubscriptions(): SubscriptionRef[] {
    const out = this.resolvedSubscriptions();
    this.area0 = undefined;
    this.entry0 = 0;
    this.more = undefined;
    return out;
  }

  // --- Subscriber ---

  write(frame: Uint8Array): number {
    if (this.closed || this.ws === undefined) return WRITE_DROPPED;
    return this.ws.send(frame, this.wire.binary, false);
  }

  /** Several frames in one corked uWS write: one syscall for the whole run. */
  writeMany(frames: readonly Uint8Array[], from: number, to: number): number {
    if (this.closed || this.ws === undefined) return 0;
    batchWs = this.ws;
    batchFrames = frames;
    batchFrom = from;
    batchTo = to;
    batchBinary = this.wire.binary;
    batchWritten = 0;
    this.ws.cork(writeBatchCorked);
    batchWs = undefined;
    batchFrames = [];
    return batchWritten;
  }

  bufferedAmount(): number {
    return this.closed || this.ws === undefined ? 0 : this.ws.getBufferedAmount();
  }

  /** Control frames (subscribed, error, pong). Their delivery is not tracked by any cursor. */
  sendControl(frame: ServerControl): void {
    if (this.closed || this.ws === undefined) return;
    this.ws.send(encodeControl(frame, this.wire.format), this.wire.binary, false);
  }

  sendError(code: ErrorCode, message: string, area?: string): void {
    this.sendControl(area === undefined ? { type: 'error', code, message } : { type: 'error', code, message, area });
  }

  /**
   * Deferred close: areas may call this in the middle of iterating their subscriber lists, and
   * uWS runs the close handler (which detaches subscriptions) synchronously inside end().
   */
  close(reason: CloseReason, detail: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this, reason, detail);
    setImmediate(() => this.endNow(reason));
  }

  /** Closes in this tick. Only for callers that are not iterating subscriber lists. */
  endNow(reason: CloseReason): void {
    this.closed = true;
    const ws = this.ws;
    if (ws === undefined) return;
    this.ws = undefined;
    try {
      ws.end(CLOSE[reason].code, reason);
    } catch {
      // Already closed by the peer: uWS throws on any access after its close handler ran.
    }
  }

  /** Called from the uWS close handler: the socket is gone. */
  markGone(): void {
    this.closed = true;
    this.ws = undefined;
  }
}
