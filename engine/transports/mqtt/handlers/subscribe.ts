/**
 * SUBSCRIBE: `areas/{area}` only, granted QoS min(requested, 1). Failures per filter: 3.1.1 0x80;
 * 5.0 0x8F invalid filter, 0xA2 wildcard, 0x9E shared, 0x87 not allowed by the token, 0x97 over
 * --max-subscriptions, 0x80 log unavailable. After the SUBACK: the area's retained message
 * (retain flag set), then the cursor replays/delivers.
 */
import type { ISubscribePacket } from 'mqtt-packet';
import type { Since } from '../../../areas/registry.ts';
import { MQTT_REASON, type MqttReason } from '../../../errors.ts';
import { attachSubscription } from '../attach.ts';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import { encodePublish, type Qos } from '../encoders.ts';
import { MqttSubscription } from '../subscription.ts';
import { parseFilter } from '../topics.ts';

/** 3.1.1 has one SUBACK failure code. */
const V4_FAILURE = 0x80;

interface Granted {
  readonly sub: MqttSubscription;
  /** Needs attaching (a new subscription, or a new QoS for an existing one). */
  readonly attach: boolean;
  readonly since?: Since;
  /** 5.0 Retain Handling: 0 always send retained, 1 only for a new subscription, 2 never. */
  readonly retainHandling: number;
  readonly isNew: boolean;
  readonly index: number;
}

export async function handleSubscribe(ctx: MqttContext, conn: MqttConnection, p: ISubscribePacket): Promise<void> {
  if (p.subscriptions.length === 0) return conn.fail('protocol_error', 'SUBSCRIBE without a topic filter [MQTT-3.8.3-2]');
  const v5 = conn.version === 5;
  const codes: number[] = [];
  const granted: Granted[] = [];
  const refuse = (reason: MqttReason): void => {
    ctx.metrics.badInput(reason).inc();
    codes.push(v5 ? MQTT_REASON[reason].v5 : V4_FAILURE);
  };
  for (const req of p.subscriptions) {
    const f = parseFilter(req.topic);
    if (f.kind === 'shared') refuse('shared_subscriptions_not_supported');
    else if (f.kind === 'wildcard') refuse('wildcard_subscriptions_not_supported');
    else if (f.kind === 'invalid' || f.area === undefined) refuse('topic_filter_invalid');
    else if (!conn.principal!.canSubscribe(f.area)) refuse('not_authorized');
    else if (!conn.subs.has(f.area) && conn.subs.size >= ctx.settings.maxSubscriptions) refuse('quota_exceeded');
    else {
      const area = f.area;
      const qos: Qos = req.qos >= 1 ? 1 : 0;
      const retainHandling = req.rh ?? 0;
      const existing = conn.subs.get(area);
      codes.push(qos);
      if (existing !== undefined && existing.qos === qos) {
        granted.push({ sub: existing, attach: false, retainHandling, isNew: false, index: codes.length - 1 });
        continue;
      }
      let since: Since | undefined;
      const sub = new MqttSubscription(conn, area, qos, ctx.formats.format(conn.version, qos));
      if (existing !== undefined) {
        // Same area, other QoS: the new subscription continues where the old one was acked.
        if (existing.slot >= 0) {
          const vc = ctx.areas.cursors;
          since = { epoch: existing.epoch, offset: existing.qos === 1 ? vc.acked[existing.slot] : vc.sent[existing.slot] };
          sub.dupUpTo = vc.sent[existing.slot];
        }
        conn.detach(existing);
      }
      conn.subs.set(area, sub);
      granted.push({ sub, attach: true, since, retainHandling, isNew: existing === undefined, index: codes.length - 1 });
    }
  }
  const attached = await Promise.all(granted.map((g) => (g.attach ? attachSubscription(ctx, conn, g.sub, g.since) : Promise.resolve(true))));
  if (conn.closed) return;
  for (let i = 0; i < granted.length; i++) {
    if (attached[i]) continue;
    const g = granted[i];
    if (!g.sub.detached) conn.detach(g.sub);
    codes[g.index] = v5 ? MQTT_REASON.unspecified_error.v5 : V4_FAILURE;
  }
  conn.send({ cmd: 'suback', messageId: p.messageId, granted: codes });
  for (let i = 0; i < granted.length; i++) {
    const g = granted[i];
    if (!attached[i] || g.sub.detached) continue;
    if (g.retainHandling === 0 || (g.retainHandling === 1 && g.isNew)) sendRetained(ctx, conn, g.sub.area);
    if (g.attach) g.sub.start();
  }
  if (granted.length > 0) conn.saveSession();
}

/**
 * The area's retained message, before anything else of the area [issue 3]. Sent at QoS 0 with
 * the retain flag: it is state, re-sent on every SUBSCRIBE, and has no place in the offset
 * sequence the QoS 1 window and the cumulative acks track.
 */
export function sendRetained(ctx: MqttContext, conn: MqttConnection, area: string): void {
  const r = ctx.sessions.getRetained(area);
  const now = ctx.now();
  if (r === undefined || (r.expiresAt !== 0 && r.expiresAt <= now)) return;
  const frame = encodePublish(area, r, conn.version, 0, true, now);
  if (frame.byteLength > conn.clientMaxPacket) return;
  conn.transport.write(frame);
  ctx.metrics.retainedSent.inc();
}
