/**
 * Per-subscription virtual cursors as struct-of-arrays [DESIGN: "an ack is a number written into
 * a typed-array slot"]. A slot is one (connection, area) subscription. Nothing here allocates
 * per message or per ack; arrays grow by doubling when slots run out.
 */

/** Slot states. */
export const FREE = 0;
/** Caught up: receives live fan-out. */
export const LIVE = 1;
/** Behind the area head: the catch-up step sends from the ring (or schedules a log read). */
export const CATCHING_UP = 2;
/** A log read for this slot is in flight. */
export const REPLAYING = 3;
/** Its connection is over the backpressure budget; waits for drain. */
export const PAUSED = 4;

export class VirtualCursors {
  /** Highest offset written to the socket (or skipped as expired). */
  sent: Float64Array;
  /** Highest offset the vehicle acked (cumulative). */
  acked: Float64Array;
  /** Highest `sent` before the last resend rewind (written by the sweep only): acks up to it are valid. */
  highSent: Float64Array;
  /** ms when the oldest unacked message was sent, or the ack last advanced. */
  since: Float64Array;
  /** Resends without the ack advancing. */
  resends: Uint8Array;
  state: Uint8Array;
  /** 1 once the subscription has acked at least once: only those get resends. */
  ackMode: Uint8Array;
  /** Position of the slot in its area's subscriber list (for O(1) removal). */
  index: Int32Array;
  /** Bumped on free: async work (log reads) checks it to drop results for a reused slot. */
  generation: Uint32Array;

  private freeList: number[] = [];
  private next = 0;
  private live = 0;

  constructor(initialCapacity = 1024) {
    const n = Math.max(16, initialCapacity);
    this.sent = new Float64Array(n);
    this.acked = new Float64Array(n);
    this.highSent = new Float64Array(n);
    this.since = new Float64Array(n);
    this.resends = new Uint8Array(n);
    this.state = new Uint8Array(n);
    this.ackMode = new Uint8Array(n);
    this.index = new Int32Array(n);
    this.generation = new Uint32Array(n);
  }

  get capacity(): number {
    return this.sent.length;
  }

  /** Slots in use. */
  get used(): number {
    return this.live;
  }

  /** Bytes held by the typed arrays (for the per-connection memory figure). */
  get byteSize(): number {
    return this.capacity * (8 * 4 + 1 * 3 + 4 * 2);
  }

  alloc(startOffset: number, now: number): number {
    let slot = this.freeList.pop();
    if (slot === undefined) {
      if (this.next === this.capacity) this.grow();
      slot = this.next++;
    }
    this.sent[slot] = startOffset;
    this.acked[slot] = startOffset;
    this.highSent[slot] = startOffset;
    this.since[slot] = now;
    this.resends[slot] = 0;
    this.ackMode[slot] = 0;
    this.state[slot] = CATCHING_UP;
    this.index[slot] = -1;
    this.live++;
    return slot;
  }

  free(slot: number): void {
    if (this.state[slot] === FREE) return;
    this.state[slot] = FREE;
    this.generation[slot]++;
    this.index[slot] = -1;
    this.freeList.push(slot);
    this.live--;
  }

  /**
   * Cumulative ack: O(1), no allocation. Returns false (caller answers bad_ack) for an offset
   * beyond what was sent; an old or repeated ack is accepted and changes nothing.
   */
  ack(slot: number, offset: number, now: number): boolean {
    if (offset > this.sent[slot]) {
      if (offset > this.highSent[slot]) return false;
      // Sent before a resend rewind, so the vehicle has it: do not resend what it just acked.
      this.sent[slot] = offset;
    }
    this.ackMode[slot] = 1;
    if (offset > this.acked[slot]) {
      this.acked[slot] = offset;
      this.since[slot] = now;
      this.resends[slot] = 0;
    }
    return true;
  }

  /**
   * Cumulative ack from a transport that owns redelivery (MQTT resends only when a session
   * resumes [MQTT-4.4.0-1]): records the position WITHOUT ack mode, so the sweep never resends on
   * the live connection and never closes it with ack_timeout. O(1). Returns true if it advanced.
   */
  ackPosition(slot: number, offset: number, now: number): boolean {
    if (offset <= this.acked[slot] || offset > this.sent[slot]) return false;
    this.acked[slot] = offset;
    this.since[slot] = now;
    return true;
  }

  private grow(): void {
    const n = this.capacity * 2;
    this.sent = growF64(this.sent, n);
    this.acked = growF64(this.acked, n);
    this.highSent = growF64(this.highSent, n);
    this.since = growF64(this.since, n);
    this.resends = growU8(this.resends, n);
    this.state = growU8(this.state, n);
    this.ackMode = growU8(this.ackMode, n);
    const idx = new Int32Array(n);
    idx.set(this.index);
    this.index = idx;
    const gen = new Uint32Array(n);
    gen.set(this.generation);
    this.generation = gen;
  }
}

function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

function growU8(a: Uint8Array, n: number): Uint8Array {
  const b = new Uint8Array(n);
  b.set(a);
  return b;
}
