/**
 * The narrow surface areas/ use to reach a vehicle connection, whatever its transport
 * (centrifuge's Transport: write, close). Implemented by transports/ws (and MQTT later).
 */
import type { CloseReason } from '../errors.ts';

/** Results of Subscriber.write, mirroring uWS's send() return values. */
export const WRITE_OK = 1;
/** Accepted but buffered: the socket has backpressure that will drain. */
export const WRITE_BUFFERED = 0;
/** Not sent: the socket is over its backpressure budget. */
export const WRITE_DROPPED = 2;

export interface Subscriber {
  /** Index of this connection's wire format in the area's frame table (see MessageEncoder). */
  readonly format: number;
  /** Set by areas when a write was dropped; no live sends until the transport calls resume. */
  paused: boolean;
  /** true once closed or closing; areas never write to it again. */
  readonly closed: boolean;
  /**
   * Messages whose publisher (RecordHeaders.origin) is this are not written to this subscriber,
   * yet its cursor moves past them as if they had been (MQTT No Local [MQTT-3.8.3-3]).
   * Undefined for subscribers that want everything.
   */
  readonly skipOrigin?: string;
  /**
   * Writes one pre-encoded frame, the message at `offset` (always the slot's position + 1).
   * Returns WRITE_OK, WRITE_BUFFERED or WRITE_DROPPED.
   */
  write(frame: Uint8Array, offset: number): number;
  /**
   * Optional batch write (centrifuge's writeMany): frames[from..to) in order, in ONE corked
   * syscall where the transport can. Returns how many were written before one was dropped
   * (to - from when all went out). Without it, areas call write() per frame. Never called for a
   * subscriber with skipOrigin (those get write() per frame). `firstOffset` is the offset of
   * frames[from] (the rest follow one by one).
   */
  writeMany?(frames: readonly Uint8Array[], from: number, to: number, firstOffset: number): number;
  /** Bytes buffered in user space for this socket. */
  bufferedAmount(): number;
  /**
   * Closes with a registry reason. Must be safe to call while areas iterate their subscriber
   * lists: implementations defer the actual close (and the detach it causes) to a later tick.
   */
  close(reason: CloseReason, detail: string): void;
}
