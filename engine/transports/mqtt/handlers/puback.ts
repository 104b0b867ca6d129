/**
 * PUBACK from a subscriber: settles the in-flight entry (and older ones of the same area) and
 * records the offset as the cumulative ack of the subscription's virtual cursor: one typed-array
 * write [DESIGN "acks off the send path"]. The session store gets it from the sweep, not here.
 */
import type { IPubackPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import { overRate } from '../rate.ts';

export function handlePuback(ctx: MqttContext, conn: MqttConnection, p: IPubackPacket): void {
  // ack() finds only messages awaiting their PUBACK/PUBREC (ids being released are apart).
  if (p.messageId === undefined || !conn.inflight.ack(p.messageId)) {
    // Late or unknown: ignored, but counted against the packet rate (no free PUBACK floods).
    overRate(ctx, conn);
    return;
  }
  settled(ctx, conn);
  conn.resumePaused();
}

/** The in-flight entry conn.inflight just settled moves its subscription's ack point. */
export function settled(ctx: MqttContext, conn: MqttConnection): void {
  const sub = conn.inflight.ackedSub!;
  const offset = conn.inflight.ackedOffset;
  if (sub.group !== undefined) {
    if (sub.detached) return;
    sub.group.acked(sub, offset);
    ctx.metrics.acks.inc();
    conn.dirty = true;
    return;
  }
  if (sub.detached || sub.slot < 0 || sub.cursor === undefined) return;
  if (sub.cursor.ackOwned(sub.slot, offset, ctx.now())) {
    ctx.metrics.acks.inc();
    conn.dirty = true;
  }
}
