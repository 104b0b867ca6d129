/**
 * One (connection, area) subscription: the Subscriber the area cursor writes to, with the MQTT
 * Subscription Options that hold for it [MQTT-3.8.3.1]: granted QoS, No Local (skipOrigin: the
 * cursor passes the client's own messages without writing them [MQTT-3.8.3-3]) and Retain As
 * Published (part of its format).
 */
import type { AreaCursor } from '../../areas/area-cursor.ts';
import { WRITE_DROPPED, type Subscriber } from '../../areas/subscriber.ts';
import type { CloseReason } from '../../errors.ts';
import type { StoredSubscription } from '../../sessions/types.ts';
import type { MqttConnection } from './connection.ts';
import type { Qos } from './encoders.ts';
import type { SharedGroup } from './shared-group.ts';

/** Subscription Options kept for the life of the subscription (and in the stored session). */
export interface SubscriptionOptions {
  readonly qos: Qos;
  /** No Local [MQTT-3.8.3-3]. */
  readonly nl: boolean;
  /** Retain As Published [MQTT-3.3.1-13]. */
  readonly rap: boolean;
  /** Payloads compressed when it pays (5.0: SUBSCRIBE User Property accept-encoding: deflate). */
  readonly deflate: boolean;
}

export class MqttSubscription implements Subscriber {
  /** Virtual-cursor slot; -1 until the area cursor attached it. */
  slot = -1;
  cursor: AreaCursor | undefined;
  epoch = '';
  /** Offsets up to this are resends of a resumed session: sent with DUP=1. */
  dupUpTo = 0;
  /** Paused from creation until delivery starts (after SUBACK / CONNACK): catch-up waits for it. */
  paused = true;
  detached = false;
  /** Delivery began (start()); before that, only start() may unpause it. */
  started = false;
  /** While a resumed subscription is being re-attached: what the store had (kept by snapshots). */
  stored: StoredSubscription | undefined;
  readonly qos: Qos;
  readonly skipOrigin: string | undefined;
  /** Set for a member of a shared subscription: the group owns the cursor slot (shared-group.ts). */
  group: SharedGroup | undefined = undefined;

  constructor(
    readonly conn: MqttConnection,
    readonly area: string,
    readonly options: SubscriptionOptions,
    /** FormatTable index (encoders.ts: version, qos, rap, lean). */
    readonly format: number,
    /** The wildcard filter this subscription came from; undefined for an exact `areas/{area}`. */
    readonly via?: string,
  ) {
    this.qos = options.qos;
    this.skipOrigin = options.nl ? conn.clientId : undefined;
  }

  get closed(): boolean {
    return this.detached || this.conn.closed;
  }

  write(frame: Uint8Array, offset: number): number {
    return this.conn.writeMessage(this, frame, offset);
  }

  /** A run of messages (a tail batch) in one corked write: one syscall instead of one per message. */
  writeMany(frames: readonly Uint8Array[], from: number, to: number, firstOffset: number): number {
    batchSub = this;
    batchFrames = frames;
    batchFrom = from;
    batchTo = to;
    batchOffset = firstOffset;
    batchWritten = 0;
    this.conn.transport.corked(writeBatch);
    batchSub = undefined;
    batchFrames = NO_FRAMES;
    return batchWritten;
  }

  bufferedAmount(): number {
    return this.conn.transport.buffered();
  }

  close(reason: CloseReason, detail: string): void {
    this.conn.close(reason, `area ${this.area}: ${detail}`);
  }

  /** Delivery may begin: replay what the slot is missing, then live. */
  start(): void {
    if (this.cursor === undefined || this.closed) return;
    this.started = true;
    this.paused = false;
    this.cursor.start(this.slot, this);
  }
}

// writeMany's arguments for the corked callback: module state, not a closure per call (the
// WebSocket connection does the same).
const NO_FRAMES: readonly Uint8Array[] = [];
let batchSub: MqttSubscription | undefined;
let batchFrames: readonly Uint8Array[] = NO_FRAMES;
let batchFrom = 0;
let batchTo = 0;
let batchOffset = 0;
let batchWritten = 0;

function writeBatch(): void {
  const sub = batchSub!;
  for (let j = batchFrom; j < batchTo; j++) {
    if (sub.conn.writeMessage(sub, batchFrames[j], batchOffset + (j - batchFrom)) === WRITE_DROPPED) return;
    batchWritten++;
  }
}
