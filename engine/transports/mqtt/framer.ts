/**
 * Splits a byte stream (TCP chunks, or WebSocket binary frames: a packet may span frames and a
 * frame may hold several packets) into whole MQTT packets, checking each packet's size from its
 * fixed header BEFORE buffering its body, so an oversize packet costs at most 5 bytes to refuse.
 * The packets then go to mqtt-packet's parser one at a time.
 *
 * The bytes pushed are TRANSIENT: a view of the process's one read buffer (TCP) or of uWS's
 * message buffer, valid only during push(). Whole packets are handed out as views of them (valid
 * during onPacket); only the partial packet left at the end is copied, so the common case (a
 * read holding whole packets) copies nothing.
 */

export type FrameError = 'malformed_packet' | 'packet_too_large';

/** A fixed header: 1 byte of type and flags, at most 4 of Remaining Length [MQTT-1.5.5]. */
const HEADER = new Uint8Array(5);

/**
 * Total size of the packet whose fixed header starts at bytes[at] (bytes before `end` are there):
 * undefined = the header is not complete yet, -1 = a fifth length byte (malformed) [MQTT-1.5.5].
 */
function packetTotal(bytes: Uint8Array, at: number, end: number): number | undefined {
  let multiplier = 1;
  let remaining = 0;
  for (let i = 1; i <= 4; i++) {
    if (at + i >= end) return undefined;
    const b = bytes[at + i];
    remaining += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) return 1 + i + remaining;
    multiplier *= 128;
  }
  return -1;
}

/** The index just past the Variable Byte Integer at bytes[at] (skipped, not decoded) [MQTT-1.5.5]. */
export function afterVarint(bytes: Uint8Array, at: number): number {
  while (at < bytes.length && bytes[at] & 0x80) at++;
  return at + 1;
}

export class PacketFramer {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Total bytes of the packet at the front once its fixed header is known; 0 = not known yet. */
  private need = 0;
  /** Largest packet accepted (the engine's Maximum Packet Size). */
  maxPacket: number;

  constructor(maxPacket: number) {
    this.maxPacket = maxPacket;
  }

  /**
   * Adds bytes; calls onPacket(owner, packet) for each whole packet (stop early by returning
   * false). `owner` is passed through so that callers need no closure per read. Returns an error
   * instead of throwing; after one, the framer must not be used again.
   */
  push<O>(bytes: Buffer, onPacket: (owner: O, packet: Buffer) => boolean, owner: O): FrameError | undefined {
    if (bytes.length === 0) return undefined;
    if (this.length === 0) {
      // The common case, nothing held: packets straight from `bytes`, only a tail is kept.
      const at = this.whole(bytes, onPacket, owner);
      if (typeof at === 'string') return at;
      if (at < 0 || at === bytes.length) return undefined;
      bytes = bytes.subarray(at);
    }
    this.chunks.push(bytes);
    this.length += bytes.length;
    try {
      for (;;) {
        if (this.need === 0) {
          const total = this.headerTotal();
          if (total === undefined) return undefined;
          if (total < 0) return 'malformed_packet';
          if (total > this.maxPacket) return 'packet_too_large';
          this.need = total;
        }
        if (this.length < this.need) return undefined;
        const packet = this.take(this.need);
        this.need = 0;
        if (!onPacket(owner, packet)) return undefined;
        if (this.length === 0) return undefined;
      }
    } finally {
      // What is kept past this call must not alias the caller's transient bytes.
      const last = this.chunks.length - 1;
      if (last >= 0 && this.chunks[last].buffer === bytes.buffer) this.chunks[last] = Buffer.from(this.chunks[last]);
    }
  }

  /**
   * Hands out the whole packets at the start of `bytes`; returns where the rest begins, -1 when
   * onPacket said stop, or an error.
   */
  private whole<O>(bytes: Buffer, onPacket: (owner: O, packet: Buffer) => boolean, owner: O): number | FrameError {
    const n = bytes.length;
    let at = 0;
    while (at < n) {
      const total = packetTotal(bytes, at, n);
      if (total === undefined) return at; // header incomplete
      if (total < 0) return 'malformed_packet';
      if (total > this.maxPacket) return 'packet_too_large';
      if (at + total > n) return at;
      if (!onPacket(owner, bytes.subarray(at, at + total))) return -1;
      at += total;
    }
    return at;
  }

  /** Bytes held (a partial packet). */
  get buffered(): number {
    return this.length;
  }

  /** Packet size from the fixed header: undefined = need more bytes, -1 = malformed length. */
  private headerTotal(): number | undefined {
    // The header may span chunks: its (at most 5) bytes are gathered, then read like whole() reads.
    const end = Math.min(HEADER.length, this.length);
    let k = 0;
    for (const c of this.chunks) {
      for (let j = 0; j < c.length && k < end; j++) HEADER[k++] = c[j];
      if (k === end) break;
    }
    return packetTotal(HEADER, 0, end);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0];
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.length -= n;
    return out;
  }
}
