/**
 * The vehicles' sockets: libuv TCP handles driven directly (Node's `tcp_wrap` / `stream_wrap`
 * bindings, the layer under `net.Socket`), because a `net.Socket` costs ~45 µs of CPU per
 * connection in JavaScript alone (a Duplex stream with its two states, event emitters, the connect
 * request, nextTicks) against ~8 µs for the handle itself: measured here, 12,000 connects + one
 * write each cost 50 µs user + 31 µs system per connection through `net`, 8 µs user + 25 µs system
 * on the raw handle. With 100K vehicles on two cores that difference is seconds of connect time.
 *
 * What a vehicle needs and nothing else: connect, write a Buffer, read into ONE shared buffer
 * (`useUserBuffer`), pause / resume reading (slow readers), close. Every socket of a process shares
 * the same callbacks (`SocketHooks`, given the socket's owner), so a socket costs no closures.
 *
 * The bindings come from engine/transports/shared/libuv.ts (the engine's MQTT listener uses them
 * too); should they be missing, or with LOADTEST_SOCKETS=net, the same interface runs on
 * `net.Socket` (the measured difference is then easy to reproduce).
 */
import net from 'node:net';
import { errnoName, HandleWriter, libuv, UV_EOF, type TcpHandle } from '../engine/transports/shared/libuv.ts';

/** What the connector sees of a socket. */
export interface LoadSocket {
  /** Queues bytes (the buffer must not change afterwards: a write the kernel cannot take at once keeps it). */
  write(buf: Buffer): void;
  /** Closes the socket; `closed` follows asynchronously (never from inside this call). */
  destroy(): void;
  pause(): void;
  resume(): void;
  isPaused(): boolean;
}

/** Callbacks shared by every socket of a process; `owner` is what openSocket was given. */
export interface SocketHooks<O> {
  /** TCP connected. */
  connected(owner: O, s: LoadSocket): void;
  /** `n` bytes read into the shared read buffer, at [0, n). */
  read(owner: O, s: LoadSocket, n: number): void;
  /** An error (connect, read, write); `closed` follows. */
  error(owner: O, s: LoadSocket, code: string): void;
  /** Gone (peer closed, error, or destroy()). Called once. */
  closed(owner: O, s: LoadSocket): void;
}

/** Ours, on each handle: the wrapper (set once). */
type Handle = TcpHandle & { s: RawSocket<unknown> };

const B = process.env.LOADTEST_SOCKETS === 'net' ? undefined : libuv();
/** Which implementation this process uses ('raw' = libuv handles, 'net' = net.Socket). */
export const SOCKET_KIND: 'raw' | 'net' = B === undefined ? 'net' : 'raw';

// Writes keep their bytes alive while libuv holds them, with one request while they complete at once.
const writer =
  B === undefined
    ? undefined
    : new HandleWriter(B, (handle, status) => {
        if (status < 0) (handle as Handle).s.fail(status);
      });

function onConnectDone(status: number, handle: TcpHandle): void {
  const s = (handle as Handle).s;
  if (s.closing) return;
  if (status < 0) {
    s.fail(status);
    return;
  }
  const err = handle.readStart();
  if (err < 0) {
    s.fail(err);
    return;
  }
  s.hooks.connected(s.owner, s);
}

function onReadDone(this: Handle): void {
  const n = B!.readResult();
  const s = this.s;
  if (n > 0) {
    if (!s.closing) s.hooks.read(s.owner, s, n);
  } else if (n < 0) {
    // UV_EOF: the peer closed; anything else is an error.
    if (n === UV_EOF) s.destroy();
    else s.fail(n);
  }
}

function onHandleClosed(this: Handle): void {
  const s = this.s;
  s.hooks.closed(s.owner, s);
}

class RawSocket<O> implements LoadSocket {
  closing = false;
  private paused = false;
  private readonly handle: Handle;
  constructor(
    host: string,
    port: number,
    readBuffer: Buffer,
    readonly owner: O,
    readonly hooks: SocketHooks<O>,
  ) {
    const h = (this.handle = B!.newTcp() as Handle);
    h.s = this as RawSocket<unknown>;
    h.useUserBuffer(readBuffer);
    h.onread = onReadDone;
    h.setNoDelay(true); // applied when libuv opens the socket
    const req = B!.newConnectReq();
    req.oncomplete = onConnectDone;
    const err = h.connect(req, host, port);
    if (err < 0) {
      // Report like an asynchronous failure (the caller is still setting up).
      queueMicrotask(() => this.fail(err));
    }
  }
  write(buf: Buffer): void {
    if (this.closing) return;
    const r = writer!.buffer(this.handle, buf);
    if (r < 0) this.fail(r);
  }
  fail(code: number): void {
    if (this.closing) return;
    this.hooks.error(this.owner, this, errnoName(code));
    this.destroy();
  }
  destroy(): void {
    if (this.closing) return;
    this.closing = true;
    this.handle.close(onHandleClosed);
  }
  pause(): void {
    if (this.paused || this.closing) return;
    this.paused = true;
    this.handle.readStop();
  }
  resume(): void {
    if (!this.paused || this.closing) return;
    this.paused = false;
    this.handle.readStart();
  }
  isPaused(): boolean {
    return this.paused;
  }
}

/** The same interface on net.Socket (fallback, and for comparing). */
class NetSocket<O> implements LoadSocket {
  private readonly sock: net.Socket;
  constructor(host: string, port: number, readBuffer: Buffer, owner: O, hooks: SocketHooks<O>) {
    const sock = (this.sock = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (n: number): boolean => {
          hooks.read(owner, this, n);
          return true;
        },
      },
    }));
    sock.once('connect', () => hooks.connected(owner, this));
    sock.on('error', (err: NodeJS.ErrnoException) => hooks.error(owner, this, err.code ?? err.message));
    sock.on('close', () => hooks.closed(owner, this));
  }
  write(buf: Buffer): void {
    if (!this.sock.destroyed) this.sock.write(buf);
  }
  destroy(): void {
    this.sock.destroy();
  }
  pause(): void {
    this.sock.pause();
  }
  resume(): void {
    this.sock.resume();
  }
  isPaused(): boolean {
    return this.sock.isPaused();
  }
}

/** Connects to host:port (an IP address: no lookup); reads go to `readBuffer`. */
export function openSocket<O>(host: string, port: number, readBuffer: Buffer, owner: O, hooks: SocketHooks<O>): LoadSocket {
  return B === undefined ? new NetSocket(host, port, readBuffer, owner, hooks) : new RawSocket(host, port, readBuffer, owner, hooks);
}
