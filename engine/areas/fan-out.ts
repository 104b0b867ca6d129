/**
 * The hot loop: one pre-encoded frame to every LIVE subscriber of an area, in offset order.
 * Allocation-free: typed-array reads and writes, one native send per socket, no closures
 * [DESIGN "Encode once", DEVELOPERS "keep the fan-out loop allocation-free"].
 *
 * Why a per-socket loop and not uWS's native app.publish: publish silently skips sockets over
 * maxBackpressure, so we could not tell which vehicles missed a message; send() returns
 * WRITE_DROPPED for exactly those, and their virtual cursor simply does not advance
 * (bench/uws-fanout.bench.ts measures both).
 */
import type { RingEntry } from './ring.ts';
import { WRITE_DROPPED, type Subscriber } from './subscriber.ts';
import { CATCHING_UP, LIVE, PAUSED, type VirtualCursors } from './virtual-cursors.ts';

export interface FanOutResult {
  delivered: number;
  /** Slots found behind the previous offset (they need a catch-up). */
  behind: number;
  /** Index into `slots` to go on from when the slice's deadline passed; -1 when the loop got through. */
  next: number;
}

// Reused result object: the loop itself allocates nothing.
const result: FanOutResult = { delivered: 0, behind: 0, next: -1 };

/**
 * A slice of a fan-out: the loops start at `from` and stop (result.next) at the first slot they
 * reach once `performance.now()` is past `deadline`, reading the clock every `checkEvery` slots
 * and never before one slot is done (so a slice always makes progress). Why slices: libuv 1.46
 * accepts one connection per listener per event-loop turn, so a turn that holds a whole 19K
 * fan-out starves the MQTT accept queue (loadtest/results/issue14/summary.md, 2026-12-07).
 */
export interface Slice {
  from: number;
  deadline: number;
  checkEvery: number;
}

/** One slice that never stops early (tests, and the straggler pass after a sliced fan-out). */
export const WHOLE: Readonly<Slice> = Object.freeze({ from: 0, deadline: Number.POSITIVE_INFINITY, checkEvery: 0x3fffffff });

/** The slice's deadline has passed at slot index i (> from): read the clock only every checkEvery slots. */
function outOfTime(i: number, slice: Readonly<Slice>): boolean {
  return (i - slice.from) % slice.checkEvery === 0 && performance.now() >= slice.deadline;
}

export function fanOut(
  entry: RingEntry,
  slots: readonly number[],
  subs: readonly Subscriber[],
  vc: VirtualCursors,
  now: number,
  slice: Readonly<Slice> = WHOLE,
): FanOutResult {
  const off = entry.offset;
  const prev = off - 1;
  const frames = entry.frames;
  // An entry without frames could not be encoded: it is skipped like an expired one, so every
  // slot's cursor still moves past it in order.
  const expired = frames.length === 0 || (entry.expiresAt !== 0 && entry.expiresAt <= now);
  const origin = entry.origin;
  const sent = vc.sent;
  const state = vc.state;
  let delivered = 0;
  let behind = 0;
  result.next = -1;
  for (let i = slice.from, n = slots.length; i < n; i++) {
    if (i !== slice.from && outOfTime(i, slice)) {
      result.next = i;
      break;
    }
    const slot = slots[i];
    if (state[slot] !== LIVE) continue;
    const s = sent[slot];
    if (s !== prev) {
      // Ahead (resumed with an offset this process has not read yet): wait for live to pass it.
      // Behind: a catch-up must send what it is missing first, in order.
      if (s < prev) {
        state[slot] = CATCHING_UP;
        behind++;
      }
      continue;
    }
    if (expired) {
      sent[slot] = off;
      continue;
    }
    const sub = subs[i];
    if (sub.paused) {
      state[slot] = PAUSED;
      continue;
    }
    if (advanceSlot(vc, slot, sub, frames[sub.format], off, origin, now) === WRITTEN) delivered++;
  }
  result.delivered = delivered;
  result.behind = behind;
  return result;
}

/** advanceSlot results. */
export const DROPPED = 0;
export const WRITTEN = 1;
/** Not written (No Local: the subscriber published it) but the slot moved past it. */
export const SKIPPED = 2;

/**
 * THE one way a message reaches a slot, used by live fan-out, catch-up from the ring and replay
 * from the log: the slot is at offset - 1; write `frame` (unless the subscriber published it
 * itself) and advance the virtual cursor, or mark the slot PAUSED when the socket refused it.
 * Allocation-free; the callers have already handled expired and undecodable messages.
 */
export function advanceSlot(vc: VirtualCursors, slot: number, sub: Subscriber, frame: Uint8Array, offset: number, origin: string, now: number): number {
  if (sub.skipOrigin !== undefined && sub.skipOrigin === origin) {
    vc.sent[slot] = offset;
    return SKIPPED;
  }
  if (sub.write(frame, offset) === WRITE_DROPPED) {
    sub.paused = true;
    vc.state[slot] = PAUSED;
    return DROPPED;
  }
  // The resend timer runs from the first unacknowledged send.
  if (vc.acked[slot] === vc.sent[slot]) vc.since[slot] = now;
  vc.sent[slot] = offset;
  return WRITTEN;
}

/**
 * Fan-out of several consecutive entries (a tail batch: the log got ahead of us, e.g. a publish
 * burst). Each subscriber gets all the entries it is missing in one writeMany, i.e. one corked
 * syscall per socket per batch instead of one per message. Entries are contiguous offsets and
 * none is expired or undecodable (the caller falls back to fanOut per entry otherwise).
 * `framesByFormat[f][j]` is entry j's frame for format f, built once per batch.
 */
export function fanOutBatch(
  first: number,
  count: number,
  framesByFormat: readonly (readonly Uint8Array[])[],
  origins: readonly string[],
  slots: readonly number[],
  subs: readonly Subscriber[],
  vc: VirtualCursors,
  now: number,
  slice: Readonly<Slice> = WHOLE,
): FanOutResult {
  const prev = first - 1;
  const sent = vc.sent;
  const acked = vc.acked;
  const since = vc.since;
  const state = vc.state;
  let delivered = 0;
  let behind = 0;
  result.next = -1;
  for (let i = slice.from, n = slots.length; i < n; i++) {
    if (i !== slice.from && outOfTime(i, slice)) {
      result.next = i;
      break;
    }
    const slot = slots[i];
    if (state[slot] !== LIVE) continue;
    const s = sent[slot];
    if (s < prev) {
      state[slot] = CATCHING_UP;
      behind++;
      continue;
    }
    const from = s - prev; // index of the first entry this slot is missing
    if (from >= count) continue;
    const sub = subs[i];
    if (sub.paused) {
      state[slot] = PAUSED;
      continue;
    }
    const frames = framesByFormat[sub.format];
    if (sub.writeMany === undefined || sub.skipOrigin !== undefined) {
      // One advanceSlot per frame (the per-message path's rules, No Local included).
      for (let j = from; j < count; j++) {
        const r = advanceSlot(vc, slot, sub, frames[j], first + j, origins[j], now);
        if (r === DROPPED) break;
        if (r === WRITTEN) delivered++;
      }
      continue;
    }
    const written = sub.writeMany(frames, from, count, first + from);
    if (written > 0) {
      if (acked[slot] === s) since[slot] = now;
      sent[slot] = s + written;
      delivered += written;
    }
    if (from + written < count) {
      sub.paused = true;
      state[slot] = PAUSED;
    }
  }
  result.delivered = delivered;
  result.behind = behind;
  return result;
}
