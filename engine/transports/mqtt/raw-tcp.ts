/**
 * MQTT/TCP connections on bare libuv handles (../shared/libuv.ts), with no `net.Socket` per
 * connection: what uWS does in C++ for the WebSocket path, done here with the handles Node's own
 * `net` wraps. Per connection there is the handle and one small RawTcpTransport; every connection
 * shares the read buffer, the callbacks (they find their connection through the handle) and one
 * HandleWriter (one write request while writes complete at once).
 *
 * Behaviour matches the `net` path it replaces (tcp-listen.ts keeps that one as the fallback):
 * - reads: into ONE buffer per process; the bytes handed on are valid only during the call;
 * - writes: in order; a write the kernel cannot take whole stays queued in libuv (`buffered()`),
 *   and `drain` fires when that queue empties;
 * - corked(): the writes of one call leave in one writev;
 * - end(): queued writes go out, then FIN; the socket closes when the peer's FIN arrives or 2 s
 *   later (a peer that never reads must not hold it half-open);
 * - the peer's FIN closes the socket once our queued writes are out (allowHalfOpen false).
 */
import { WRITE_BUFFERED, WRITE_DROPPED, WRITE_OK } from '../../areas/subscriber.ts';
import { errnoName, HandleWriter, libuv, UV_EOF, WRITE_PENDING, type Libuv, type ShutdownReq, type SockAddr, type TcpHandle } from '../shared/libuv.ts';
import type { MqttConnection } from './connection.ts';
import type { MqttTransport } from './transport.ts';

/** What the listener's owner does with connections; one object for all of them. */
export interface RawTcpEvents {
  /** false refuses the connection (it is closed at once, before a byte is read). */
  admit(): boolean;
  /** A new connection: create its MqttConnection and set `t.owner`. */
  open(t: MqttTransport & { owner: MqttConnection }): void;
  /** Bytes read; valid only during the call. */
  bytes(owner: MqttConnection, bytes: Buffer): void;
  /** The write queue emptied after a write had to wait. */
  drain(owner: MqttConnection): void;
  /** The socket is closed (peer, error, end() or destroy()); once per connection. */
  closed(owner: MqttConnection): void;
  /** accept(2) or the listener failed (EMFILE...). */
  acceptError(code: string): void;
}

/** Handles carry their transport; `owner` is taken by Node's own TCPWrap. */
type Handle = TcpHandle & { abe?: RawTcpTransport };

const OPEN = 0;
const ENDING = 1;
const CLOSED = 2;
/** How long end() waits for the peer's FIN. */
const END_TIMEOUT_MS = 2000;
/**
 * The process's ONE MQTT/TCP read buffer, for both socket kinds (tcp-accept.ts too). 64 KiB: a
 * read never exceeds it; a larger packet arrives in several reads (the framer joins them).
 */
export const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

let uv: Libuv;
let writer: HandleWriter;

// corked(): the writes of one call, collected and sent in one writev. Module state: one call at a time.
let corkOwner: RawTcpTransport | undefined;
let corkChunks: Uint8Array[] = [];
let spareChunks: Uint8Array[] = [];
let corkBytes = 0;

export class RawTcpTransport implements MqttTransport {
  readonly kind = 'mqtt' as const;
  readonly remoteAddress: string;
  /** Set by RawTcpEvents.open. */
  owner!: MqttConnection;
  private state = OPEN;
  private eof = false;
  private endTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly handle: Handle,
    private readonly events: RawTcpEvents,
  ) {
    handle.abe = this;
    const peer: SockAddr = {};
    handle.getpeername(peer);
    this.remoteAddress = peer.address ?? '';
  }

  write(bytes: Uint8Array): number {
    if (this.state !== OPEN) return WRITE_DROPPED;
    if (corkOwner === this) {
      corkChunks.push(bytes);
      corkBytes += bytes.byteLength;
      return WRITE_OK;
    }
    return this.afterWrite(writer.buffer(this.handle, bytes));
  }

  buffered(): number {
    // After close the native side is gone (writeQueueSize reads undefined).
    if (this.state === CLOSED) return 0;
    return this.handle.writeQueueSize + (corkOwner === this ? corkBytes : 0);
  }

  peerGone(): boolean {
    return this.state !== OPEN || this.eof;
  }

  corked(fn: () => void): void {
    if (corkOwner !== undefined || this.state !== OPEN) return fn();
    corkOwner = this;
    try {
      fn();
    } finally {
      corkOwner = undefined;
      this.flushCorked();
    }
  }

  end(): void {
    if (this.state !== OPEN) return;
    if (corkOwner === this) {
      // end() inside corked(): what the call wrote so far goes out before the FIN (as net's end() does).
      corkOwner = undefined;
      this.flushCorked();
      if (this.state !== OPEN) return;
    }
    this.state = ENDING;
    const req = uv.newShutdownReq(onShutdown);
    req.handle = this.handle;
    if (this.handle.shutdown(req) < 0) return this.destroy();
    this.endTimer = setTimeout(destroyLater, END_TIMEOUT_MS, this).unref();
  }

  destroy(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    if (this.endTimer !== undefined) clearTimeout(this.endTimer);
    this.handle.close(onClosed);
  }

  private flushCorked(): void {
    const n = corkChunks.length;
    if (n === 0) return;
    corkBytes = 0;
    const chunks = corkChunks;
    // The shared array is swapped out before the write: nothing of this call can reach another connection.
    corkChunks = spareChunks;
    let r: number;
    if (this.state !== OPEN) {
      r = WRITE_DROPPED;
    } else if (n === 1) {
      r = this.write(chunks[0]);
    } else {
      r = this.afterWrite(writer.chunks(this.handle, chunks));
    }
    if (r === WRITE_BUFFERED && n > 1) {
      spareChunks = []; // the pending writev keeps `chunks` (libuv points into its buffers)
    } else {
      chunks.length = 0;
      spareChunks = chunks;
    }
    // A write refused inside the batch (over budget while corked) paused a subscription; if the
    // kernel took the batch at once no write completes later to say so: drain now (net does too).
    if (r === WRITE_OK && this.state === OPEN) process.nextTick(drainSoon, this);
  }

  /** A write was handed to libuv: completed at once, pending (WRITE_BUFFERED), or failed (closes). */
  private afterWrite(r: number): number {
    if (r < 0) {
      this.destroy();
      return WRITE_DROPPED;
    }
    return r === WRITE_PENDING ? WRITE_BUFFERED : WRITE_OK;
  }

  /** @internal read callback */
  onRead(n: number): void {
    if (n > 0) {
      if (this.state === OPEN) this.events.bytes(this.owner, READ_BUFFER.subarray(0, n));
      return; // ENDING: what the peer still sends is of no use
    }
    if (n === 0) return;
    // UV_EOF: the peer is done sending. Anything else is a read error: the socket is gone.
    this.eof = true;
    if (n !== UV_EOF || this.handle.writeQueueSize === 0) return this.destroy();
    this.end(); // our queued writes still go out; onShutdown closes
  }

  /** @internal write completion */
  onWriteDone(status: number): void {
    if (status < 0) return this.destroy();
    this.drainIfOpen();
  }

  /** @internal shutdown completion */
  onShutdown(status: number): void {
    if (status < 0 || this.eof) this.destroy();
  }

  /** @internal the write queue may be empty: say so (after a kept write, or a corked batch taken whole) */
  drainIfOpen(): void {
    if (this.state === OPEN && this.handle.writeQueueSize === 0) this.events.drain(this.owner);
  }

  /** @internal close completion */
  onClosed(): void {
    this.events.closed(this.owner);
  }
}

// Shared callbacks: `this` is the handle or the request, which leads to the transport.
function onRead(this: Handle): void {
  this.abe?.onRead(uv.readResult());
}
function onShutdown(this: ShutdownReq, status: number): void {
  (this.handle as Handle | null)?.abe?.onShutdown(status);
  this.handle = null;
}
function drainSoon(t: RawTcpTransport): void {
  t.drainIfOpen();
}
function onClosed(this: Handle): void {
  this.abe?.onClosed();
}
function destroyLater(t: RawTcpTransport): void {
  t.destroy();
}

/**
 * The accept callback for a listening handle (tcp-listen.ts installs it on a `net.Server`'s handle,
 * which in a cluster worker is the handle the primary shares or hands connections to): every
 * accepted connection stays a bare handle. Undefined when this Node does not offer the bindings.
 */
export function rawAccept(events: RawTcpEvents): ((status: number, client: TcpHandle | undefined) => void) | undefined {
  const bindings = libuv();
  if (bindings === undefined) return undefined;
  uv = bindings;
  writer ??= new HandleWriter(uv, (handle, status) => (handle as Handle).abe?.onWriteDone(status));
  return (status, client) => {
    if (status < 0 || client === undefined) return events.acceptError(errnoName(status));
    if (!events.admit()) return client.close();
    client.setNoDelay(true);
    client.useUserBuffer(READ_BUFFER);
    client.onread = onRead;
    const t = new RawTcpTransport(client, events);
    try {
      events.open(t);
    } catch (err) {
      t.destroy();
      throw err;
    }
    if (client.readStart() < 0) t.destroy();
  };
}
