/**
 * Connecting, reconnecting and reading for one load-generator process's vehicles (any
 * transport: the wire is the codec's, ./vehicle-codec.ts).
 *
 *   - At most `connectConcurrency` attempts in flight (TCP connect + handshake + subscribe); a
 *     failed attempt is retried `connectRetries` times with a short backoff.
 *   - No bind() to a source address: connect()'s own port choice shares ports across destinations
 *     and reuses TIME_WAIT ports on loopback; bind(addr, 0) would reserve each port for everyone.
 *   - drop(share): a reconnect storm / churn. The chosen vehicles lose their socket at once and
 *     come back after a random delay (0..jitter ms) with (epoch, last offset); the engine replays
 *     what they missed. Vehicles the engine closes come back the same way if `reconnectOnClose`.
 *   - Slow readers stop reading for `pauseMs` out of every `periodMs` (socket paused: the kernel
 *     buffers fill and the engine sees backpressure), phase-shifted per vehicle.
 *   - Per connection as little as possible: raw libuv handles (./raw-socket.ts) with callbacks
 *     shared by all sockets (no closures, listeners or timers per socket); the attempt timeout is
 *     a deadline on the vehicle that one periodic scan checks; the codec's handshake bytes are
 *     prebuilt per destination.
 *   - Acks (`acks`): at most one per socket read, for the highest contiguous offset after that
 *     read (acks are cumulative), and only when it is above the last one acked.
 */
import { nowUs, type ParsedMessage } from './message-parse.ts';
import { openSocket, type LoadSocket, type SocketHooks } from './raw-socket.ts';
import type { CodecHost, VehicleCodec } from './vehicle-codec.ts';
import { CLOSED, CONNECTING, DROPPED, FAILED, IDLE, inc, SUBSCRIBED, Tally, UPGRADED, type Vehicle } from './vehicles.ts';
import { releaseRest } from './ws-vehicle.ts';
import { WsProtocolError } from './ws-codec.ts';
import { MqttProtocolError } from './mqtt-codec.ts';

export interface ConnectorOptions {
  readonly port: number;
  readonly areaNames: readonly string[];
  readonly token: string | undefined;
  readonly acks: boolean;
  readonly maxFrameBytes: number;
  readonly connectConcurrency: number;
  readonly attemptTimeoutMs: number;
  readonly connectRetries: number;
  /** Retries for a vehicle coming back after a drop (it keeps trying longer than at the start). */
  readonly reconnectRetries: number;
  readonly reconnectOnClose: boolean;
  /**
   * Destinations a failed attempt retries at, in turn (the engine listens on 0.0.0.0). On loopback a
   * retry to the same address tends to get the same source port back, so SO_REUSEPORT hashes it
   * to the same engine process every time: a process that is full (after a worker restart the
   * survivors fill up first) would refuse the same vehicle forever, which real vehicles, with new
   * ports and addresses, do not see.
   */
  readonly retryHosts?: readonly string[];
  readonly slowReaders?: { readonly pauseMs: number; readonly periodMs: number };
}

/** Every socket reads into this one buffer; a read is handled synchronously before the next (exported for tests). */
export const READ_BUF = Buffer.allocUnsafe(256 * 1024);

/** How often attempt deadlines are checked (a timeout fires up to this much late). */
const DEADLINE_SCAN_MS = 250;

export class Connector implements CodecHost, SocketHooks<Vehicle> {
  readonly tally = new Tally();
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly acks: boolean;
  readonly areaNames: readonly string[];
  readonly token: string | undefined;
  private readUsNow = 0;
  private nextToConnect = 0;
  private inFlight = 0;
  private readonly queue: Vehicle[] = [];
  private initialDone = false;
  private slowTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** Set by message() when the read being handled brought a new offset (acks on): ack after the read. */
  private ackDue = false;

  constructor(
    readonly vehicles: readonly Vehicle[],
    private readonly codecs: readonly VehicleCodec[],
    private readonly o: ConnectorOptions,
    /** Called once, when every vehicle is subscribed or given up. */
    private readonly onInitialDone: () => void,
  ) {
    this.port = o.port;
    this.maxFrameBytes = o.maxFrameBytes;
    this.acks = o.acks;
    this.areaNames = o.areaNames;
    this.token = o.token;
    if (o.slowReaders !== undefined && vehicles.some((v) => v.slow)) this.slowTimer = setInterval(() => this.slowTick(), 50);
    this.slowTimer?.unref();
  }

  readUs(): number {
    return this.readUsNow;
  }

  start(): void {
    if (this.deadlineTimer === undefined) {
      this.deadlineTimer = setInterval(() => this.scanDeadlines(), DEADLINE_SCAN_MS);
      this.deadlineTimer.unref();
    }
    this.pump();
  }

  /** Attempts past their deadline fail with 'timeout' (one scan instead of a timer per attempt). */
  private scanDeadlines(): void {
    const now = Date.now();
    for (const v of this.vehicles) {
      if (v.deadline !== 0 && v.deadline <= now) {
        v.deadline = 0;
        this.attemptFailed(v, 'timeout');
      }
    }
  }

  private pump(): void {
    const t = this.tally;
    while (this.inFlight < this.o.connectConcurrency) {
      const v = this.queue.shift() ?? (this.nextToConnect < this.vehicles.length ? this.vehicles[this.nextToConnect++] : undefined);
      if (v === undefined) break;
      this.inFlight++;
      this.startAttempt(v);
    }
    if (!this.initialDone && this.nextToConnect === this.vehicles.length && t.subscribed + t.failed === this.vehicles.length) {
      this.initialDone = true;
      this.onInitialDone();
    }
  }

  private startAttempt(v: Vehicle): void {
    v.state = CONNECTING;
    v.attempts++;
    v.lastError = '';
    if (this.tally.firstConnectUs === 0) this.tally.firstConnectUs = nowUs();
    v.deadline = Date.now() + this.o.attemptTimeoutMs;
    v.sock = openSocket(v.host, this.codecs[v.transport].port ?? this.port, READ_BUF, v, this);
  }

  // SocketHooks: shared by every socket; a socket no longer the vehicle's (replaced, dropped) is ignored.
  connected(v: Vehicle, s: LoadSocket): void {
    if (v.sock === s) s.write(this.codecs[v.transport].hello(v, this));
  }

  error(v: Vehicle, s: LoadSocket, code: string): void {
    inc(this.tally.socketErrors, code);
    if (v.sock === s && v.lastError === '') v.lastError = code;
  }

  closed(v: Vehicle, s: LoadSocket): void {
    this.onSocketClose(v, s);
  }

  read(v: Vehicle, s: LoadSocket, n: number): void {
    if (v.sock !== s) return;
    this.readUsNow = nowUs();
    this.ackDue = false;
    try {
      this.codecs[v.transport].onData(v, READ_BUF, 0, n, this);
    } catch (err) {
      inc(this.tally.protocolErrors, err instanceof WsProtocolError || err instanceof MqttProtocolError ? err.message : `exception: ${(err as Error).message}`);
      s.destroy();
    }
    if (this.ackDue) {
      this.ackDue = false;
      if (v.sock === s) this.sendAck(v);
    }
  }

  /** One cumulative ack for the highest contiguous offset v has, if above what it acked already. */
  private sendAck(v: Vehicle): void {
    if (v.sock === null || v.state !== SUBSCRIBED) return;
    let upTo = v.last;
    if (v.gaps !== null && v.gaps.size > 0) for (const g of v.gaps) if (g <= upTo) upTo = g - 1;
    if (upTo <= v.acked || upTo <= v.head) return;
    const ack = this.codecs[v.transport].ack(v, upTo, this);
    if (ack === undefined) return;
    v.acked = upTo;
    v.sock.write(ack);
    this.tally.acksSent++;
  }

  upgraded(v: Vehicle): void {
    v.state = UPGRADED;
    this.tally.open++;
    const sub = this.codecs[v.transport].subscribe(v, this);
    if (sub !== undefined) v.sock?.write(sub);
  }

  subscribed(v: Vehicle, head: number, epoch: string, recovered: boolean): void {
    v.deadline = 0;
    v.attempts = 0;
    this.tally.onSubscribed(v, head, epoch, recovered, this.readUsNow);
    this.inFlight--;
    this.pump();
  }

  message(v: Vehicle, p: ParsedMessage, size: number): void {
    // New offsets are acked once, after the whole read (see read()).
    if (this.tally.message(v, p, size, this.readUsNow) && this.acks) this.ackDue = true;
  }

  attemptFailed(v: Vehicle, reason: string): void {
    if (v.state !== CONNECTING && v.state !== UPGRADED) return;
    inc(this.tally.attemptFailures, reason);
    v.deadline = 0;
    if (v.state === UPGRADED) this.tally.open--;
    const sock = v.sock;
    v.sock = null;
    sock?.destroy();
    releaseRest(v);
    const retries = v.everSubscribed ? this.o.reconnectRetries : this.o.connectRetries;
    if (v.attempts <= retries) {
      v.state = IDLE;
      const alt = this.o.retryHosts;
      if (alt !== undefined && alt.length > 0) v.host = alt[(v.id + v.attempts) % alt.length];
      setTimeout(() => this.startAttempt(v), Math.min(2000, 100 * v.attempts) + Math.random() * 100);
      return;
    }
    this.inFlight--;
    if (v.everSubscribed) {
      v.state = CLOSED;
      this.tally.closedAfterSubscribe++;
    } else {
      v.state = FAILED;
      this.tally.failed++;
    }
    this.pump();
  }

  private onSocketClose(v: Vehicle, sock: LoadSocket): void {
    if (v.sock !== sock) return;
    if (v.state === CONNECTING || v.state === UPGRADED) {
      this.attemptFailed(v, v.lastError === '' ? 'closed' : v.lastError);
      return;
    }
    v.sock = null;
    if (v.state !== SUBSCRIBED) return;
    this.tally.open--;
    releaseRest(v);
    if (this.o.reconnectOnClose) {
      inc(this.tally.closeCodes, 'reconnected after close');
      // An engine-side storm (restart, kill -9) counts like a deliberate drop: when it began, how many.
      const now = nowUs();
      if (this.tally.firstDropUs === 0) this.tally.firstDropUs = now;
      this.tally.dropped++;
      v.droppedAtUs = now;
      this.comeBack(v, 0);
      return;
    }
    v.state = CLOSED;
    this.tally.closedAfterSubscribe++;
  }

  /** Drops `share` of the subscribed vehicles at once; each comes back within `jitterMs`. Returns how many. */
  drop(share: number, jitterMs: number): number {
    const t = this.tally;
    const now = nowUs();
    let n = 0;
    for (const v of this.vehicles) {
      if (v.state !== SUBSCRIBED || Math.random() >= share) continue;
      const sock = v.sock;
      v.sock = null;
      t.open--;
      releaseRest(v);
      sock?.destroy();
      if (t.firstDropUs === 0) t.firstDropUs = now;
      v.droppedAtUs = now;
      t.dropped++;
      n++;
      this.comeBack(v, Math.random() * jitterMs);
    }
    return n;
  }

  private comeBack(v: Vehicle, delayMs: number): void {
    v.state = DROPPED;
    v.attempts = 0;
    if (v.droppedAtUs === 0) v.droppedAtUs = nowUs();
    setTimeout(() => {
      this.queue.push(v);
      this.pump();
    }, delayMs);
  }

  /** Slow readers: paused during the first pauseMs of every periodMs (phase by vehicle id). */
  private slowTick(): void {
    const s = this.o.slowReaders!;
    const now = Date.now();
    for (const v of this.vehicles) {
      if (!v.slow || v.sock === null || v.state !== SUBSCRIBED) continue;
      const paused = (now + v.id * 7919) % s.periodMs < s.pauseMs;
      if (paused && !v.sock.isPaused()) v.sock.pause();
      else if (!paused && v.sock.isPaused()) v.sock.resume();
    }
  }

  /** Offsets still missing against the per-area targets (vehicles that are or will be subscribed). */
  pending(target: readonly number[]): number {
    let pending = 0;
    for (const v of this.vehicles) {
      // Subscribed, or coming back after a drop; not the ones that gave up (they count as lost).
      if (!v.everSubscribed || v.state === CLOSED || v.state === FAILED) continue;
      const t = target[v.area];
      if (t > v.last) pending += t - v.last;
      if (v.gaps !== null) pending += v.gaps.size;
      pending += v.untrackedGaps;
    }
    return pending;
  }

  /** Per area: the lowest last offset over subscribed normal readers (max-rate feeding). */
  floors(): number[] {
    const out = this.areaNames.map(() => Infinity);
    for (const v of this.vehicles) if (v.state === SUBSCRIBED && !v.slow && v.last < out[v.area]) out[v.area] = v.last;
    return out.map((x) => (x === Infinity ? -1 : x));
  }

  stop(): void {
    if (this.slowTimer !== undefined) clearInterval(this.slowTimer);
    if (this.deadlineTimer !== undefined) clearInterval(this.deadlineTimer);
    for (const v of this.vehicles) v.sock?.destroy();
  }
}
