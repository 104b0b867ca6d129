/**
 * Node's libuv TCP handles without `net.Socket`: the `tcp_wrap` / `stream_wrap` bindings that
 * `net` itself is built on. A `net.Socket` is a Duplex stream (two stream states, an event
 * emitter, a write queue in JavaScript) around one of these handles; at 19,000 MQTT connections
 * that wrapper was most of the memory per connection and of the user CPU per read and write
 * (loadtest/results/issue14). Used by the engine's MQTT/TCP listener (mqtt/raw-tcp.ts) and by the
 * load generator's vehicles (loadtest/raw-socket.ts).
 *
 * Node 20's `process.binding` still hands these out (both are on its allow list). Where it does
 * not, `libuv()` is undefined and callers use `net` (same behaviour, only heavier).
 */
import { getSystemErrorName } from 'node:util';

/** A libuv TCP handle as the binding exposes it (tcp_wrap.cc / stream_wrap.cc). */
export interface TcpHandle {
  /** Called with `this` = the handle; the byte count or a negative errno is in state[kReadBytesOrError]. */
  onread: (() => void) | null;
  /** Bytes libuv holds that the kernel has not taken yet. */
  readonly writeQueueSize: number;
  connect(req: object, host: string, port: number): number;
  getpeername(out: SockAddr): number;
  useUserBuffer(buf: Uint8Array): void;
  setNoDelay(on: boolean): number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, buf: Uint8Array): number;
  writev(req: WriteReq, chunks: readonly Uint8Array[], allBuffers: true): number;
  shutdown(req: ShutdownReq): number;
  close(cb?: () => void): void;
}

export interface SockAddr {
  address?: string;
  port?: number;
  family?: string;
}

/** A write request: must keep what it writes alive until oncomplete (libuv points into it). */
export interface WriteReq {
  handle: TcpHandle | null;
  buffer: Uint8Array | undefined;
  chunks: readonly Uint8Array[] | undefined;
  oncomplete: (this: WriteReq, status: number) => void;
}

export interface ShutdownReq {
  handle: TcpHandle | null;
  oncomplete: (this: ShutdownReq, status: number) => void;
}

export interface Libuv {
  /** A TCP socket handle, to connect (accepted ones come from a listener). */
  newTcp(): TcpHandle;
  newConnectReq(): { oncomplete: (status: number, handle: TcpHandle) => void };
  newWriteReq(oncomplete: WriteReq['oncomplete']): WriteReq;
  newShutdownReq(oncomplete: ShutdownReq['oncomplete']): ShutdownReq;
  /** After onread: the byte count (> 0), UV_EOF or another negative errno. */
  readResult(): number;
  /** After writeBuffer/writev: true when libuv kept part of the write (it completes later). */
  lastWriteWasAsync(): boolean;
}

/** libuv's end of stream. */
export const UV_EOF = -4095;

/** `ECONNRESET` for an errno returned by a binding call (negative numbers). */
export function errnoName(code: number): string {
  try {
    return getSystemErrorName(code);
  } catch {
    return `errno ${code}`;
  }
}

interface RawBindings {
  tcp: {
    TCP: new (type: number) => TcpHandle;
    TCPConnectWrap: new () => { oncomplete: (status: number, handle: TcpHandle) => void };
    constants: { SOCKET: number };
  };
  sw: {
    WriteWrap: new () => WriteReq;
    ShutdownWrap: new () => ShutdownReq;
    streamBaseState: Int32Array;
    kReadBytesOrError: number;
    kLastWriteWasAsync: number;
  };
}

function load(): Libuv | undefined {
  let b: RawBindings;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    b = { tcp: binding('tcp_wrap') as RawBindings['tcp'], sw: binding('stream_wrap') as RawBindings['sw'] };
  } catch {
    return undefined;
  }
  const { tcp, sw } = b;
  if (
    typeof tcp?.TCP !== 'function' ||
    typeof tcp.TCPConnectWrap !== 'function' ||
    typeof sw?.WriteWrap !== 'function' ||
    typeof sw.ShutdownWrap !== 'function' ||
    !(sw.streamBaseState instanceof Int32Array) ||
    typeof sw.kReadBytesOrError !== 'number' ||
    typeof sw.kLastWriteWasAsync !== 'number'
  ) {
    return undefined;
  }
  const state = sw.streamBaseState;
  const kRead = sw.kReadBytesOrError;
  const kAsync = sw.kLastWriteWasAsync;
  return {
    newTcp: () => new tcp.TCP(tcp.constants.SOCKET),
    newConnectReq: () => new tcp.TCPConnectWrap(),
    newWriteReq(oncomplete) {
      const req = new sw.WriteWrap();
      req.handle = null;
      req.buffer = undefined;
      req.chunks = undefined;
      req.oncomplete = oncomplete;
      return req;
    },
    newShutdownReq(oncomplete) {
      const req = new sw.ShutdownWrap();
      req.handle = null;
      req.oncomplete = oncomplete;
      return req;
    },
    readResult: () => state[kRead],
    lastWriteWasAsync: () => state[kAsync] !== 0,
  };
}

let loaded: Libuv | undefined | null = null;

/** The bindings, or undefined when this Node does not hand them out. */
export function libuv(): Libuv | undefined {
  if (loaded === null) loaded = load();
  return loaded;
}

/** HandleWriter's answer for a write libuv kept: its request completes later (`done` is called). */
export const WRITE_PENDING = 1;

/**
 * Writes on TCP handles with ONE reusable request while writes complete at once (the usual case:
 * the kernel takes a small write whole). A write libuv keeps part of holds its request, and the
 * request holds the bytes until it completes (libuv points into them; Node's writeGeneric keeps
 * `req.buffer` for the same reason: without it, at 100K MQTT vehicles a collected PUBACK's memory
 * was sent reused, issue 14); a new spare request is made then.
 */
export class HandleWriter {
  private spare: WriteReq;
  private readonly oncomplete: WriteReq['oncomplete'];

  constructor(
    private readonly uv: Libuv,
    /** A kept write completed (status < 0: it failed). */
    done: (handle: TcpHandle, status: number) => void,
  ) {
    this.oncomplete = function (this: WriteReq, status: number): void {
      const handle = this.handle!;
      this.handle = null;
      this.buffer = undefined;
      this.chunks = undefined;
      done(handle, status);
    };
    this.spare = uv.newWriteReq(this.oncomplete);
  }

  /** 0: written at once; WRITE_PENDING: libuv keeps the rest; < 0: an errno (nothing pending). */
  buffer(handle: TcpHandle, bytes: Uint8Array): number {
    const req = this.spare;
    req.handle = handle;
    req.buffer = bytes;
    return this.after(req, handle.writeBuffer(req, bytes));
  }

  /** As buffer(), for several buffers in one writev. */
  chunks(handle: TcpHandle, chunks: readonly Uint8Array[]): number {
    const req = this.spare;
    req.handle = handle;
    req.chunks = chunks;
    return this.after(req, handle.writev(req, chunks, true));
  }

  private after(req: WriteReq, err: number): number {
    if (err >= 0 && this.uv.lastWriteWasAsync()) {
      this.spare = this.uv.newWriteReq(this.oncomplete);
      return WRITE_PENDING;
    }
    req.handle = null;
    req.buffer = undefined;
    req.chunks = undefined;
    return err < 0 ? err : 0;
  }
}
