/**
 * One (connection, area) subscription: the Subscriber the area cursor writes to. A connection has
 * one per area so a write knows its area and slot without parsing the frame: the offset being
 * written is always the slot's `sent + 1` (AreaCursor's invariant: a slot gets offset N only when
 * its `sent` is N-1).
 */
import type { AreaCursor } from '../../areas/area-cursor.ts';
import type { Subscriber } from '../../areas/subscriber.ts';
import type { CloseReason } from '../../errors.ts';
import type { StoredSubscription } from '../../sessions/types.ts';
import type { MqttConnection } from './connection.ts';
import type { Qos } from './encoders.ts';

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

  constructor(
    readonly conn: MqttConnection,
    readonly area: string,
    readonly qos: Qos,
    /** FormatTable index: (protocol version, qos). */
    readonly format: number,
  ) {}

  get closed(): boolean {
    return this.detached || this.conn.closed;
  }

  write(frame: Uint8Array): number {
    return this.conn.writeMessage(this, frame);
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
