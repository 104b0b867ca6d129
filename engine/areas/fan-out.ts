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
}

// Reused result object: the loop itself allocates nothing.
const result: FanOutResult = { delivered: 0, behind: 0 };

export function fanOut(
  entry: RingEntry,
  slots: readonly number[],
  subs: readonly Subscriber[],
  vc: VirtualCursors,
  now: number,
): FanOutResult {
  const off = entry.offset;
  const prev = off - 1;
  const frames = entry.frames;
  // An entry without frames could not be encoded: it is skipped like an expired one, so every
  // slot's cursor still moves past it in order.
  const expired = frames.length === 0 || (entry.expiresAt !== 0 && entry.expiresAt <= now);
  const sent = vc.sent;
  const acked = vc.acked;
  const since = vc.since;
  const state = vc.state;
  let delivered = 0;
  let behind = 0;
  for (let i = 0, n = slots.length; i < n; i++) {
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
    if (sub.write(frames[sub.format]) === WRITE_DROPPED) {
      sub.paused = true;
      state[slot] = PAUSED;
      continue;
    }
    if (acked[slot] === s) since[slot] = now;
    sent[slot] = off;
    delivered++;
  }
  result.delivered = delivered;
  result.behind = behind;
  return result;
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
  slots: readonly number[],
  subs: readonly Subscriber[],
  vc: VirtualCursors,
  now: number,
): FanOutResult {
  const prev = first - 1;
  const sent = vc.sent;
  const acked = vc.acked;
  const since = vc.since;
  const state = vc.state;
  let delivered = 0;
  let behind = 0;
  for (let i = 0, n = slots.length; i < n; i++) {
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
    let written: number;
    if (sub.writeMany !== undefined) {
      written = sub.writeMany(frames, from, count);
    } else {
      // One write per frame; `sent` advances after each, since a transport may derive the offset
      // it is writing from the slot's cursor (MQTT packet ids).
      written = 0;
      for (let j = from; j < count; j++) {
        if (sub.write(frames[j]) === WRITE_DROPPED) break;
        written++;
        sent[slot] = s + written;
      }
    }
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
