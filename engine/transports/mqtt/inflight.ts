/**
 * A connection's QoS 1 messages awaiting PUBACK: at most `capacity` entries (the client's
 * Receive Maximum for 5.0, --mqtt-inflight-window for 3.1.1), scanned linearly (capacity is
 * small). When it is full, or a message's derived packet id is already in flight, the write is
 * refused (WRITE_DROPPED) and the subscription waits in the area ring until a PUBACK frees it.
 *
 * A PUBACK is cumulative per subscription: clients acknowledge QoS 1 messages in the order they
 * received them [MQTT-4.6.0-2], so acking offset N also settles older in-flight offsets of the
 * same subscription.
 *
 * QoS 2: a PUBREC settles the message the same way (the client owns it now), but its packet id
 * stays taken, and counts against the send quota, until the PUBCOMP [MQTT-4.9.0-2]: `releasing`.
 */
export class InFlight<S> {
  private readonly ids: number[] = [];
  private readonly subs: S[] = [];
  private readonly offsets: number[] = [];
  /** QoS 2 packet ids PUBREC'd, awaiting PUBCOMP (we owe or resend PUBREL for each). */
  readonly releasing: number[] = [];
  /** Set by ack(): the settled subscription and offset (no allocation per PUBACK). */
  ackedSub: S | undefined;
  ackedOffset = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.ids.length + this.releasing.length;
  }

  get full(): boolean {
    return this.ids.length + this.releasing.length >= this.capacity;
  }

  has(id: number): boolean {
    return this.ids.indexOf(id) >= 0 || this.releasing.indexOf(id) >= 0;
  }

  /** true when `id` is a message awaiting its PUBACK / PUBREC (not one being released). */
  awaiting(id: number): boolean {
    return this.ids.indexOf(id) >= 0;
  }

  /**
   * PUBREC for `id`: settles it (and older entries of its subscription) like ack(), and moves
   * every settled id to `releasing`. Returns the ids to send PUBREL for, oldest first.
   */
  received(id: number): number[] {
    const i = this.ids.indexOf(id);
    if (i < 0) return [];
    const sub = this.subs[i];
    const offset = this.offsets[i];
    const moved: number[] = [];
    for (let r = 0; r < this.ids.length; r++) if (this.subs[r] === sub && this.offsets[r] <= offset) moved.push(this.ids[r]);
    this.ack(id);
    this.releasing.push(...moved);
    return moved;
  }

  /** PUBCOMP for `id`: false when it was not being released. */
  completed(id: number): boolean {
    const i = this.releasing.indexOf(id);
    if (i < 0) return false;
    this.releasing.splice(i, 1);
    return true;
  }

  add(id: number, sub: S, offset: number): void {
    this.ids.push(id);
    this.subs.push(sub);
    this.offsets.push(offset);
  }

  /**
   * Settles packet `id` and every older entry of the same subscription. Returns false for an id
   * not in flight (a late or duplicate PUBACK: ignored). On true, ackedSub/ackedOffset are set.
   */
  ack(id: number): boolean {
    const i = this.ids.indexOf(id);
    if (i < 0) return false;
    const sub = this.subs[i];
    const offset = this.offsets[i];
    let w = 0;
    for (let r = 0; r < this.ids.length; r++) {
      if (this.subs[r] === sub && this.offsets[r] <= offset) continue;
      this.ids[w] = this.ids[r];
      this.subs[w] = this.subs[r];
      this.offsets[w] = this.offsets[r];
      w++;
    }
    this.ids.length = w;
    this.subs.length = w;
    this.offsets.length = w;
    this.ackedSub = sub;
    this.ackedOffset = offset;
    return true;
  }

  /** Forgets a subscription's entries (unsubscribe): their PUBACKs will be ignored. */
  removeSub(sub: S): void {
    for (let r = this.ids.length - 1; r >= 0; r--) {
      if (this.subs[r] !== sub) continue;
      this.ids.splice(r, 1);
      this.subs.splice(r, 1);
      this.offsets.splice(r, 1);
    }
  }

  /** Highest in-flight offset of a subscription, or 0. */
  highest(sub: S): number {
    let h = 0;
    for (let r = 0; r < this.ids.length; r++) if (this.subs[r] === sub && this.offsets[r] > h) h = this.offsets[r];
    return h;
  }
}

/**
 * Session resume (pure, property-tested): where delivery restarts and which resends carry DUP.
 * QoS 1 restarts after the last acknowledged offset; QoS 0 after the last sent one (no
 * redelivery). Offsets up to the highest ever sent are resends: DUP=1 [MQTT-4.4.0-1].
 */
export function resumeFrom(qos: 0 | 1 | 2, acked: number, sent: number): { since: number; dupUpTo: number } {
  return qos !== 0 ? { since: acked, dupUpTo: sent } : { since: Math.max(acked, sent), dupUpTo: 0 };
}

/**
 * What to store for a subscription at a checkpoint: the acked offset, and the highest offset
 * ever sent, which must not shrink when a connection drops in the middle of a resend (those
 * offsets are still resends next time).
 */
export function checkpoint(qos: 0 | 1 | 2, acked: number, sent: number, dupUpTo: number): { acked: number; sent: number } {
  const highest = Math.max(sent, dupUpTo);
  return qos !== 0 ? { acked: Math.min(acked, highest), sent: highest } : { acked: highest, sent: highest };
}
