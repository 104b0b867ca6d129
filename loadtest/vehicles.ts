/**
 * What a load-generator process knows about its vehicles, independent of the wire: connection
 * state, the offset check, and the counters and HDR histograms that go into the report.
 *
 * Offset check: after `subscribed` (head H) a vehicle must see H+1, H+2, ... A jump records the
 * missing offsets; one of them arriving later is out-of-order; anything else at or below the
 * last offset is a duplicate. A vehicle that reconnects keeps `last` and resumes with
 * (epoch, last): the engine replays what it missed, so the same check covers the reconnect
 * (a `recovered:false` answer leaves a jump, i.e. lost offsets).
 */
import { build, type Histogram } from 'hdr-histogram-js';
import type { ParsedMessage } from './message-parse.ts';
import type { LoadSocket } from './raw-socket.ts';

// Vehicle states
export const IDLE = 0;
export const CONNECTING = 1; // TCP connect + handshake (WebSocket upgrade / MQTT CONNECT)
export const UPGRADED = 2; // subscribe sent
export const SUBSCRIBED = 3;
export const CLOSED = 4; // was subscribed, socket gone, not coming back
export const FAILED = 5; // never got subscribed
export const DROPPED = 6; // dropped on purpose (storm, churn), reconnecting

/** Holes remembered per vehicle; beyond this a jump is still counted, just not matched later. */
const MAX_GAPS_PER_VEHICLE = 100_000;

export class Vehicle {
  sock: LoadSocket | null = null;
  state = IDLE;
  /** Handshake bytes so far, when the upgrade answer came in pieces (rare). */
  hs: Buffer | null = null;
  /** Bytes of a frame split across reads. */
  rest: Buffer | null = null;
  restLen = 0;
  /** Head at the FIRST subscription (what this vehicle expects starts after it). */
  head = 0;
  last = 0;
  count = 0;
  epoch = '';
  gaps: Set<number> | null = null;
  /** Jumps past MAX_GAPS_PER_VEHICLE: counted as lost, never matched. */
  untrackedGaps = 0;
  attempts = 0;
  lastError = '';
  /** Date.now() by which the attempt in flight must be subscribed (0: none in flight); one periodic scan checks it. */
  deadline = 0;
  /** Highest offset acked on the wire (acks are cumulative: only a higher one is sent). */
  acked = 0;
  everSubscribed = false;
  /** µs when it was dropped on purpose (0 = not dropped). */
  droppedAtUs = 0;
  /** Resubscribed after a drop at least once. */
  resumed = false;
  /** Per-vehicle codec state (MQTT packet ids...). */
  codecState: unknown = undefined;
  constructor(
    readonly id: number,
    readonly area: number,
    /** Destination address (a retry may move it: see ConnectorOptions.retryHosts). */
    public host: string,
    /** Index into the worker's transports. */
    readonly transport: number,
    /** A slow reader: reads in bursts (see connector.ts); kept out of the main latency histogram. */
    readonly slow: boolean,
  ) {}
}

/** Deterministic weighted choice for vehicle g: low-discrepancy sequence over cumulative shares. */
export function pickTransport(g: number, mix: readonly { share: number }[]): number {
  const total = mix.reduce((a, m) => a + m.share, 0);
  const x = ((g * 0.6180339887498949) % 1) * total;
  let acc = 0;
  for (let i = 0; i < mix.length; i++) {
    acc += mix[i].share;
    if (x < acc) return i;
  }
  return mix.length - 1;
}

export const inc = (m: Record<string, number>, k: string, n = 1): void => {
  m[k] = (m[k] ?? 0) + n;
};

const histOpts = { bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3, autoResize: true } as const;
export const newHistogram = (): Histogram => build(histOpts);

/** Counters and histograms of one worker process. */
export class Tally {
  frames = 0;
  bytes = 0;
  unique = 0;
  uniqueMeasured = 0;
  duplicated = 0;
  outOfOrder = 0;
  unstamped = 0;
  negativeLatency = 0;
  subscribed = 0;
  failed = 0;
  open = 0;
  closedAfterSubscribe = 0;
  pingsAnswered = 0;
  acksSent = 0;
  /** MQTT QoS 1 resends of offsets already received: at least once, not duplicates. */
  redelivered = 0;
  /** Of those, the ones without the DUP flag. */
  redeliveredWithoutDup = 0;
  firstConnectUs = 0;
  lastSubscribedUs = 0;
  /** Reconnects after a deliberate drop: count, resubscribed, recovered:false answers, last resubscribe µs. */
  dropped = 0;
  resubscribed = 0;
  recoveredFalse = 0;
  firstDropUs = 0;
  lastResubscribedUs = 0;
  readonly reconnectTime: Histogram = newHistogram();
  /** Resubscribes per whole second of the Unix clock (the reconnect storm's connect rate). */
  readonly resubscribedPerSecond = new Map<number, number>();
  /** Publisher send -> receive, normal readers, before the first drop of this process (the same run's baseline). */
  readonly endToEndBeforeStorm: Histogram = newHistogram();
  /** The same after the first drop, for vehicles that had not dropped (the storm's bystanders). */
  readonly endToEndStayed: Histogram = newHistogram();
  readonly closeCodes: Record<string, number> = {};
  readonly socketErrors: Record<string, number> = {};
  readonly engineErrors: Record<string, number> = {};
  readonly protocolErrors: Record<string, number> = {};
  readonly attemptFailures: Record<string, number> = {};
  /** Publisher send -> receive, µs: vehicles that read normally. */
  readonly endToEnd: Histogram = newHistogram();
  /** The same for slow readers. */
  readonly endToEndSlow: Histogram = newHistogram();
  /** Per transport (normal readers). */
  readonly byTransport = new Map<number, Histogram>();
  /** Engine accept time (ms resolution) -> receive. */
  readonly acceptToReceive: Histogram = newHistogram();
  /** Per measured message (key area * 2^32 + offset): [first receive µs, last receive µs]. */
  readonly spread = new Map<number, [number, number]>();

  /**
   * One message frame for `v`, read at `readUs`. Returns true when it was new (not a duplicate):
   * the caller acks then.
   */
  message(v: Vehicle, p: ParsedMessage, size: number, readUs: number): boolean {
    this.frames++;
    this.bytes += size;
    if (v.state !== SUBSCRIBED) {
      inc(this.protocolErrors, 'message before subscribed');
      return false;
    }
    const off = p.offset;
    if (off === v.last + 1) {
      v.last = off;
    } else if (off > v.last + 1) {
      let gaps = v.gaps;
      if (gaps === null) gaps = v.gaps = new Set();
      for (let o = v.last + 1; o < off; o++) {
        if (gaps.size < MAX_GAPS_PER_VEHICLE) gaps.add(o);
        else v.untrackedGaps++;
      }
      v.last = off;
    } else if (off > v.head && v.gaps !== null && v.gaps.delete(off)) {
      this.outOfOrder++;
    } else {
      this.duplicated++;
      return false;
    }
    v.count++;
    this.unique++;
    if (p.warm !== 0) return true;
    this.uniqueMeasured++;
    if (Number.isNaN(p.sentAtUs)) this.unstamped++;
    else {
      const lat = readUs - p.sentAtUs;
      if (lat < 0) this.negativeLatency++;
      else if (v.slow) this.endToEndSlow.recordValue(lat);
      else {
        this.endToEnd.recordValue(lat);
        if (this.firstDropUs === 0) this.endToEndBeforeStorm.recordValue(lat);
        else if (v.droppedAtUs === 0 && !v.resumed) this.endToEndStayed.recordValue(lat);
        let h = this.byTransport.get(v.transport);
        if (h === undefined) this.byTransport.set(v.transport, (h = newHistogram()));
        h.recordValue(lat);
        // Spread = one live message over the vehicles that got it live (not replays after a drop).
        if (!v.resumed) {
          const key = v.area * 2 ** 32 + off;
          const sp = this.spread.get(key);
          if (sp === undefined) this.spread.set(key, [readUs, readUs]);
          else sp[1] = readUs;
        }
      }
    }
    if (!Number.isNaN(p.time)) this.acceptToReceive.recordValue(Math.max(0, readUs - p.time * 1000));
    return true;
  }

  /** `subscribed` (head) for `v`: the first one sets what it expects; a later one is a resume. */
  onSubscribed(v: Vehicle, head: number, epoch: string, recovered: boolean, readUs: number): void {
    if (!v.everSubscribed) {
      v.head = head;
      v.last = head;
      v.epoch = epoch;
      v.everSubscribed = true;
      this.subscribed++;
      if (readUs > this.lastSubscribedUs) this.lastSubscribedUs = readUs;
    } else {
      this.resubscribed++;
      v.resumed = true;
      if (!recovered) this.recoveredFalse++;
      // Not recovered: delivery restarts after the head, so what lies between shows up as a jump (lost).
      if (v.droppedAtUs > 0) this.reconnectTime.recordValue(Math.max(1, readUs - v.droppedAtUs));
      v.droppedAtUs = 0;
      if (readUs > this.lastResubscribedUs) this.lastResubscribedUs = readUs;
      const second = Math.floor(readUs / 1e6);
      this.resubscribedPerSecond.set(second, (this.resubscribedPerSecond.get(second) ?? 0) + 1);
      if (epoch !== v.epoch) inc(this.protocolErrors, 'epoch changed on resume');
    }
    v.state = SUBSCRIBED;
  }
}

/** Offsets `v` still lacks against `target` (its area's last published offset). */
export function pendingOf(v: Vehicle, target: number): number {
  let pending = target > v.last ? target - v.last : 0;
  if (v.gaps !== null) pending += v.gaps.size;
  return pending + v.untrackedGaps;
}
