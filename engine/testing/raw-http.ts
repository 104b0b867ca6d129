/**
 * TEST HELPERS ONLY: HTTP/1.1 over a raw node:net socket, for input no client library sends
 * (a negative Content-Length, a WebSocket version 8 handshake, a garbage request line) and for
 * seeing exactly what comes back: the bytes, and when the engine closed the socket.
 */
import { connect } from 'node:net';
import { HOST } from './child-engine.ts';

export interface RawExchange {
  /** Everything the engine sent. */
  readonly bytes: Buffer;
  /** ms from sending to the engine's FIN/RST; undefined if the socket was still open at the end. */
  readonly closedAfterMs: number | undefined;
  /** ms from sending to the first byte received; undefined if nothing came. */
  readonly firstByteMs: number | undefined;
}

export interface RawOptions {
  /** Give up (and destroy the socket) after this long. Default 5000. */
  readonly waitMs?: number;
  /** Stop as soon as this holds for what was received (e.g. a complete response on a kept-alive socket). */
  readonly done?: (received: Buffer) => boolean;
}

/**
 * Sends `request` as is (several pieces: one event-loop turn apart, so they tend to arrive in
 * separate reads) and collects the answer until the engine closes, `done` holds, or `waitMs`.
 */
export function rawExchange(port: number, request: string | Buffer | readonly Buffer[], opts: RawOptions = {}): Promise<RawExchange> {
  const waitMs = opts.waitMs ?? 5000;
  return new Promise((resolve, reject) => {
    const socket = connect(port, HOST);
    const chunks: Buffer[] = [];
    let sentAt = 0;
    let firstByteMs: number | undefined;
    let closedAfterMs: number | undefined;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closedAfterMs, firstByteMs });
    };
    const timer = setTimeout(finish, waitMs);
    socket.setNoDelay(true);
    socket.on('connect', async () => {
      sentAt = Date.now();
      const pieces = Array.isArray(request) ? (request as readonly Buffer[]) : [request as string | Buffer];
      for (const [i, p] of pieces.entries()) {
        if (settled || socket.destroyed) return;
        if (i > 0) await new Promise((r) => setImmediate(r));
        socket.write(p);
      }
    });
    socket.on('data', (b: Buffer) => {
      firstByteMs ??= Date.now() - sentAt;
      chunks.push(b);
      if (opts.done?.(Buffer.concat(chunks)) === true) finish();
    });
    socket.on('end', () => {
      closedAfterMs = Date.now() - sentAt;
      finish();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (sentAt === 0) return reject(err);
      closedAfterMs ??= Date.now() - sentAt; // ECONNRESET: closed too
      finish();
    });
  });
}

export interface RawResponse {
  readonly status: number;
  /** Header names lower-cased; repeated headers joined with ', '. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
  /** Bytes after this response (a following response on the same socket, or stray bytes). */
  readonly rest: Buffer;
}

/** One response from the start of `buf`. `head`: the answer to a HEAD request (no body, whatever Content-Length says). */
export function parseResponse(buf: Buffer, head = false): RawResponse | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3})/.exec(statusLine);
  if (m === null) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  const length = head ? 0 : Number(headers.get('content-length') ?? '0');
  const bodyStart = end + 4;
  if (buf.length < bodyStart + length) return undefined;
  return { status: Number(m[1]), headers, body: buf.subarray(bodyStart, bodyStart + length), rest: buf.subarray(bodyStart + length) };
}

/** A `done` for rawExchange: `count` complete responses received (`head` marks which are answers to HEAD). */
export function responsesComplete(head: readonly boolean[]): (received: Buffer) => boolean {
  return (received) => {
    let rest = received;
    for (const h of head) {
      const r = parseResponse(rest, h);
      if (r === undefined) return false;
      rest = r.rest;
    }
    return true;
  };
}

/** A WebSocket handshake request (RFC 6455 §4.1) with the given Sec-WebSocket-Version (undefined: none). */
export function wsHandshake(path: string, version: string | undefined, extra: Record<string, string> = {}): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...(version === undefined ? [] : [`Sec-WebSocket-Version: ${version}`]),
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}
