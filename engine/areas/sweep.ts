/**
 * The periodic sweep of one area cursor [DESIGN: heavier work happens here, never inside a
 * fan-out]: resume drained sockets, retry catch-ups, resend to laggards (ack mode), close those out
 * of the window or whose acks stopped, and the lag gauge.
 */
import type { AreaCursor } from './area-cursor.ts';
import { catchUp } from './catch-up.ts';
import { CATCHING_UP, LIVE, PAUSED } from './virtual-cursors.ts';

/** Returns the minimum acked offset over subscribers (head when none), for metrics. */
export function sweepCursor(c: AreaCursor, now: number): number {
  const vc = c.deps.cursors;
  const { resendAfterMs, maxResends } = c.deps.settings;
  let minAcked = c.head;
  const lagSink = c.deps.metrics.ackLag;
  let maxLag = 0;
  for (let i = c.slots.length - 1; i >= 0; i--) {
    const slot = c.slots[i];
    const sub = c.subs[i];
    if (sub.closed) continue;
    const st = vc.state[slot];
    if (st === PAUSED && !sub.paused) vc.state[slot] = CATCHING_UP;
    if (vc.ackMode[slot] === 1 && vc.acked[slot] < vc.sent[slot] && now - vc.since[slot] > resendAfterMs) {
      if (vc.resends[slot] >= Math.min(maxResends, 255)) {
        c.deps.metrics.ackTimeoutCloses.inc();
        sub.close('ack_timeout', `area ${c.id}: no ack past ${vc.acked[slot]} after ${maxResends} resends`);
        vc.state[slot] = PAUSED; // closing: no more live sends until the transport detaches it
        continue;
      }
      // Resend from the ack point: rewind the virtual cursor; catch-up re-sends in order.
      c.deps.metrics.resent.inc(vc.sent[slot] - vc.acked[slot]);
      vc.resends[slot]++;
      vc.since[slot] = now;
      if (vc.sent[slot] > vc.highSent[slot]) vc.highSent[slot] = vc.sent[slot];
      vc.sent[slot] = vc.acked[slot];
      if (vc.state[slot] === LIVE) vc.state[slot] = CATCHING_UP;
    }
    if (vc.state[slot] === CATCHING_UP) catchUp(c, slot, sub);
    if (vc.acked[slot] < minAcked) minAcked = vc.acked[slot];
    // Lag against the virtual cursor: the ack once the subscription acks, else what was sent.
    const lag = c.head - (vc.ackMode[slot] === 1 ? vc.acked[slot] : vc.sent[slot]);
    if (lag > maxLag) maxLag = lag;
    lagSink?.observe(lag);
  }
  c.maxLag = maxLag;
  c.replays.sweep(now);
  return minAcked;
}
