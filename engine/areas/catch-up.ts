/**
 * Catch-up: what a slot is missing, sent in order from the ring where it holds the frames and from
 * the log otherwise, until the slot is LIVE (fan-out takes over at exactly its next offset), its
 * socket is over budget (PAUSED) or a log read is in flight (REPLAYING). Every frame goes through
 * advanceSlot, the one write-and-advance of areas/ [DESIGN "Offsets are the contract"].
 */
import type { AreaCursor } from './area-cursor.ts';
import { NOT_ENCODED } from './encoding.ts';
import { advanceSlot, DROPPED, WRITTEN } from './fan-out.ts';
import type { Subscriber } from './subscriber.ts';
import { CATCHING_UP, LIVE, PAUSED, REPLAYING } from './virtual-cursors.ts';

/**
 * Sends sent+1 .. head to one slot, from the ring where possible and from the log otherwise,
 * until it is caught up (LIVE), its socket is over budget (PAUSED) or a log read is in flight.
 */
export function catchUp(c: AreaCursor, slot: number, sub: Subscriber): void {
  const vc = c.deps.cursors;
  const now = c.deps.now();
  let sent = 0;
  for (;;) {
    if (sub.closed || c.closed) return;
    if (sub.paused) {
      vc.state[slot] = PAUSED;
      return;
    }
    const next = vc.sent[slot] + 1;
    if (next > c.head) {
      vc.state[slot] = LIVE;
      break;
    }
    if (next < c.first) {
      fellBehind(c, slot, sub, next);
      return;
    }
    const e = c.ring.get(next);
    // Not in the ring, or read before this (lazy) format was activated: read it from the log.
    if (e === undefined || e.frames[sub.format] === NOT_ENCODED) {
      replayFromLog(c, slot, sub, next);
      break;
    }
    if (e.frames.length === 0 || (e.expiresAt !== 0 && e.expiresAt <= now)) {
      vc.sent[slot] = next;
      continue;
    }
    const res = advanceSlot(vc, slot, sub, e.frames[sub.format], next, e.origin, now);
    if (res === DROPPED) break;
    if (res === WRITTEN) sent++;
  }
  if (sent > 0) c.deps.metrics.replayed.inc(sent);
}

function fellBehind(c: AreaCursor, slot: number, sub: Subscriber, next: number): void {
  c.deps.metrics.slowConsumerCloses.inc();
  sub.close('slow_consumer', `area ${c.id}: needs offset ${next}, oldest retained is ${c.first}`);
  c.deps.cursors.state[slot] = PAUSED;
}

function replayFromLog(c: AreaCursor, slot: number, sub: Subscriber, from: number): void {
  const vc = c.deps.cursors;
  vc.state[slot] = REPLAYING;
  const generation = vc.generation[slot];
  const { log, settings } = c.deps;
  c.deps.metrics.logReads.inc();
  log.read(c.id, from, settings.replayBatch).then(
    (records) => {
      if (vc.generation[slot] !== generation || sub.closed || c.closed) return;
      const now = c.deps.now();
      let sent = 0;
      vc.state[slot] = CATCHING_UP;
      for (const r of records) {
        if (sub.paused) {
          vc.state[slot] = PAUSED;
          break;
        }
        if (r.offset <= vc.sent[slot]) continue;
        // Beyond what the tail has delivered (e.g. not yet durable): live fan-out sends it.
        if (r.offset > c.head) break;
        if (r.offset !== vc.sent[slot] + 1) break; // trimmed under us: catchUp sees next < first
        if (r.expiresAt !== 0 && r.expiresAt <= now) {
          vc.sent[slot] = r.offset;
          continue;
        }
        let frame: Uint8Array;
        try {
          frame = c.replays.frame(sub.format, c.id, r);
        } catch (err) {
          c.deps.onError(c.id, `encode offset ${r.offset}`, err);
          vc.sent[slot] = r.offset;
          continue;
        }
        const res = advanceSlot(vc, slot, sub, frame, r.offset, r.headers?.origin ?? '', now);
        if (res === DROPPED) break;
        if (res === WRITTEN) sent++;
      }
      c.deps.metrics.replayed.inc(sent);
      // The log answers from its first retained offset: anything it skipped is gone.
      const retainedFrom = records.length > 0 ? records[0].offset : from + 1;
      if (retainedFrom > from && retainedFrom > c.first) c.first = retainedFrom;
      if (vc.state[slot] === CATCHING_UP) catchUp(c, slot, sub);
    },
    (err: unknown) => {
      // Leave it CATCHING_UP: the next sweep retries the read.
      if (vc.generation[slot] === generation) vc.state[slot] = CATCHING_UP;
      c.deps.onError(c.id, `replay read from ${from}`, err);
    },
  );
}
