/**
 * One vehicle's WebSocket: the Subscriber areas/ write to, plus the per-connection state the
 * handlers need (subscriptions, frame-rate window, principal). Handlers reach it through these
 * public members only.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { AreaCursor } from '../../areas/area-cursor.ts';
import { WRITE_DROPPED, type Subscriber } from '../../areas/subscriber.ts';
import type { Principal } from '../../auth/types.ts';
import { CLOSE, type CloseReason, type ErrorCode } from '../../errors.ts';
import { encodeControl, type ServerControl, type WireFormat } from './protocol.ts';

export interface SubscriptionRef {
  readonly cursor: AreaCursor;
  readonly slot: number;
}

/** What uWS stores as the socket's user data. */
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
  /** area -> subscription; `null` while the subscribe is still being resolved. */
  readonly subscriptions = new Map<string, SubscriptionRef | null>();
  /** Frame-rate limiter: frames seen in the current one-second window. */
  frameWindowStart = 0;
  frameCount = 0;
  private readonly binary: boolean;

  constructor(
    readonly principal: Principal,
    readonly wireFormat: WireFormat,
    /** Index into the FormatTable for this wire format. */
    readonly format: number,
    readonly remoteAddress: string,
    private readonly onClose: CloseListener,
  ) {
    this.binary = wireFormat === 'msgpack';
  }

  write(frame: Uint8Array): number {
    if (this.closed || this.ws === undefined) return WRITE_DROPPED;
    return this.ws.send(frame, this.binary, false);
  }

  /** Several frames in one corked uWS write: one syscall for the whole run. */
  writeMany(frames: readonly Uint8Array[], from: number, to: number): number {
    if (this.closed || this.ws === undefined) return 0;
    batchWs = this.ws;
    batchFrames = frames;
    batchFrom = from;
    batchTo = to;
    batchBinary = this.binary;
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
    this.ws.send(encodeControl(frame, this.wireFormat), this.binary, false);
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
