/**
 * TEST HELPERS ONLY: the vehicle client of the e2e suites, on the `ws` package. Records every
 * server frame (decoded per subprotocol, with arrival time) and awaits conditions with timeouts.
 * The `+deflate` subprotocols are decoded with Node's zlib (inflateRaw after the 0xC1 marker):
 * a decoder written by others, so the engine's frames are checked against the format, not
 * against the engine's own idea of it.
 */
import { inflateRawSync } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';

/** Default bound for every wait in the e2e suites. */
export const WAIT_MS = 10_000;

export type Protocol = 'v1.json' | 'v1.msgpack' | 'v1.json+deflate' | 'v1.msgpack+deflate';

export interface VehicleOptions {
  /** Subprotocol(s) offered, in order; default v1.json. `null` offers none. */
  protocol?: Protocol | string | readonly string[] | null;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Sent as `?access_token=`. */
  queryToken?: string;
}

/** Any decoded server frame. */
export type Frame = Record<string, unknown> & { type: string };
export interface MessageFrame {
  type: 'message';
  area: string;
  offset: number;
  time: number;
  data: unknown;
  encoding?: string;
}
export interface CloseInfo {
  code: number;
  reason: string;
}

interface Waiter {
  check: () => boolean;
  resolve: () => void;
}

export function vehicleUrl(wsUrl: string, queryToken?: string): string {
  return queryToken === undefined ? wsUrl : `${wsUrl}?access_token=${encodeURIComponent(queryToken)}`;
}

export class Vehicle {
  /** Every server frame in arrival order (decoded per the subprotocol). */
  readonly frames: Frame[] = [];
  /** isBinary of each frame, parallel to `frames`. */
  readonly binary: boolean[] = [];
  /** Date.now() when each frame arrived, parallel to `frames`. */
  readonly arrivals: number[] = [];
  /** Bytes of each frame as it came over the wire, parallel to `frames`. */
  readonly sizes: number[] = [];
  /** Whether each frame came compressed (0xC1 + raw DEFLATE), parallel to `frames`. */
  readonly compressed: boolean[] = [];
  closeInfo: CloseInfo | undefined;
  private readonly waiters = new Set<Waiter>();

  private constructor(
    readonly ws: WebSocket,
    readonly protocol: string,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const deflate = ws.protocol.endsWith('+deflate');
      const compressed = deflate && isBinary && data[0] === 0xc1;
      let f: Frame;
      try {
        const bytes = compressed ? inflateRawSync(data.subarray(1)) : data;
        // +deflate: every frame is binary, its format is the base subprotocol's; v1: binary = msgpack.
        const msgpack = deflate ? ws.protocol.startsWith('v1.msgpack') : isBinary;
        f = (msgpack ? unpack(bytes) : JSON.parse(bytes.toString('utf8'))) as Frame;
      } catch {
        f = { type: '<undecodable>', raw: data.toString('hex') };
      }
      this.frames.push(f);
      this.binary.push(isBinary);
      this.sizes.push(data.byteLength);
      this.compressed.push(compressed);
      this.arrivals.push(Date.now());
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeInfo = { code, reason: reason.toString('utf8') };
      this.wake();
    });
    ws.on('error', () => {
      /* surfaced as close */
    });
  }

  /** Opens a vehicle connection; rejects with UpgradeRefused if the HTTP upgrade is refused. */
  static connect(wsUrl: string, opts: VehicleOptions = {}): Promise<Vehicle> {
    const protocol = opts.protocol === undefined ? 'v1.json' : opts.protocol;
    const headers: Record<string, string> = {};
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    const offered = protocol === null ? [] : typeof protocol === 'string' ? [protocol] : [...protocol];
    const ws = new WebSocket(vehicleUrl(wsUrl, opts.queryToken), offered, { headers });
    const v = new Vehicle(ws, offered.join(', '));
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error('websocket open timed out')), WAIT_MS);
      ws.once('open', () => {
        clearTimeout(timer);
        resolvePromise(v);
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body, res.headers)));
        res.on('error', () => reject(new UpgradeRefused(res.statusCode ?? 0, body)));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Client frames go as msgpack: the subprotocol the engine chose (what was offered until the upgrade). */
  get isMsgpack(): boolean {
    return (this.ws.protocol || this.protocol).startsWith('v1.msgpack');
  }

  /** Sends a client frame encoded per the subprotocol. */
  send(frame: Record<string, unknown>): void {
    if (this.isMsgpack) this.ws.send(pack(frame), { binary: true });
    else this.ws.send(JSON.stringify(frame), { binary: false });
  }

  sendRaw(data: string | Buffer, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  /** Sends subscribe and waits for its `subscribed` (or `error` for that area) frame. */
  async subscribe(area: string, since?: { epoch: string; offset: number }): Promise<Frame> {
    const from = this.frames.length;
    this.send(since === undefined ? { type: 'subscribe', area } : { type: 'subscribe', area, since });
    return this.waitFrame(`subscribed/error for ${area}`, (f) => (f.type === 'subscribed' || f.type === 'error') && f.area === area, from);
  }

  ack(area: string, offset: number): void {
    this.send({ type: 'ack', area, offset });
  }

  /** Message frames, optionally of one area. */
  messages(area?: string): MessageFrame[] {
    const out: MessageFrame[] = [];
    for (const f of this.frames) if (f.type === 'message' && (area === undefined || f.area === area)) out.push(f as unknown as MessageFrame);
    return out;
  }

  offsets(area?: string): number[] {
    return this.messages(area).map((m) => m.offset);
  }

  errors(): Frame[] {
    return this.frames.filter((f) => f.type === 'error');
  }

  /** Resolves when `check` holds (re-checked on every frame and on close). */
  waitFor(what: string, check: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolvePromise, reject) => {
      const w: Waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolvePromise();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        const tail = this.frames.slice(-5).map((f) => JSON.stringify(f).slice(0, 200));
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.frames.length} frames, close=${JSON.stringify(this.closeInfo)}, last: ${tail.join(' | ')}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** The first frame at index >= `from` matching `pred`. */
  async waitFrame(what: string, pred: (f: Frame) => boolean, from = 0, timeoutMs = WAIT_MS): Promise<Frame> {
    let found: Frame | undefined;
    await this.waitFor(
      what,
      () => {
        for (let i = from; i < this.frames.length; i++) {
          if (pred(this.frames[i])) {
            found = this.frames[i];
            return true;
          }
        }
        return false;
      },
      timeoutMs,
    );
    return found!;
  }

  /** Waits until the vehicle has received a message of `area` with offset >= `offset`. */
  async waitOffset(area: string, offset: number, timeoutMs = WAIT_MS): Promise<void> {
    await this.waitFor(`${area} offset ${offset}`, () => this.messages(area).some((m) => m.offset >= offset), timeoutMs);
  }

  /** Waits for `count` message frames of `area`. */
  async waitMessages(area: string, count: number, timeoutMs = WAIT_MS): Promise<MessageFrame[]> {
    await this.waitFor(`${count} messages of ${area}`, () => this.messages(area).length >= count, timeoutMs);
    return this.messages(area);
  }

  waitClose(timeoutMs = WAIT_MS): Promise<CloseInfo> {
    return this.waitFor('close', () => this.closeInfo !== undefined, timeoutMs).then(() => this.closeInfo!);
  }

  /** Round trip through the engine: everything it sent before our ping has arrived after the pong. */
  async sync(timeoutMs = WAIT_MS): Promise<void> {
    const from = this.frames.length;
    this.send({ type: 'ping' });
    await this.waitFrame('pong', (f) => f.type === 'pong', from, timeoutMs);
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      if (w.check()) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Readonly<Record<string, string | string[] | undefined>> = {},
  ) {
    super(`upgrade refused with HTTP ${status}: ${body}`);
  }
}

/** Tries to open a vehicle connection; returns the HTTP status of a refusal, or the open Vehicle. */
export async function tryConnect(wsUrl: string, opts: VehicleOptions = {}): Promise<{ status: number; body: string; headers: Readonly<Record<string, string | string[] | undefined>> } | Vehicle> {
  try {
    return await Vehicle.connect(wsUrl, opts);
  } catch (err) {
    if (err instanceof UpgradeRefused) return { status: err.status, body: err.body, headers: err.headers };
    throw err;
  }
}
