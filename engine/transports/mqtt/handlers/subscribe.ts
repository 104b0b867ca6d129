/**
 * SUBSCRIBE: `areas/{area}` only, granted the QoS asked for (0, 1 or 2), with its Subscription
 * Options: No Local [MQTT-3.8.3-3], Retain As Published [MQTT-3.3.1-13], Retain Handling
 * [MQTT-3.3.1-9..11]. Failures per filter: 3.1.1 0x80; 5.0 0x8F invalid filter, 0xA2 wildcard,
 * 0x9E shared, 0x87 not allowed by the token, 0x97 over --max-subscriptions, 0x80 log unavailable,
 * and 0xA1 for every filter of a SUBSCRIBE carrying a Subscription Identifier (not supported,
 * announced in CONNACK, MQTT 5 §3.2.2.3.12: it would make the shared bytes differ per subscriber).
 * A No Local subscription on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
 * After the SUBACK: the area's retained message, then the cursor replays/delivers.
 */
import type { ISubscribePacket } from 'mqtt-packet';
import type { Since } from '../../../areas/registry.ts';
import { MQTT_REASON, type MqttReason } from '../../../errors.ts';
import { attachSubscription } from '../attach.ts';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import { encodePublish, packetIdOf, type Qos } from '../encoders.ts';
import { MqttSubscription, type SubscriptionOptions } from '../subscription.ts';
import { joinShared, startShared } from '../shared-group.ts';
import { expandWildcard } from '../wildcards.ts';
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
  if (v5 && p.properties?.subscriptionIdentifier !== undefined) {
    ctx.metrics.badInput('subscription_identifiers_not_supported').inc();
    conn.send({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map(() => MQTT_REASON.subscription_identifiers_not_supported.v5) });
    return;
  }
  const codes: number[] = [];
  const granted: Granted[] = [];
  const wildcards: { filter: string; options: SubscriptionOptions; retainHandling: number }[] = [];
  const shares: { filter: string; member: MqttSubscription; group: string; index: number }[] = [];
  const refuse = (reason: MqttReason): void => {
    ctx.metrics.badInput(reason).inc();
    codes.push(v5 ? MQTT_REASON[reason].v5 : V4_FAILURE);
  };
  for (const req of p.subscriptions) {
    const f = parseFilter(req.topic);
    if (f.kind === 'shared') {
      if (f.area === undefined) refuse('wildcard_subscriptions_not_supported');
      else if (v5 && req.nl === true) return conn.fail('protocol_error', 'No Local on a shared subscription [MQTT-3.8.3-4]');
      else if (!conn.principal!.canSubscribe(f.area)) refuse('not_authorized');
      else if (conn.shares?.has(req.topic) === true) codes.push(conn.shares.get(req.topic)!.qos);
      else if (conn.subs.size + (conn.shares?.size ?? 0) >= ctx.settings.maxSubscriptions) refuse('quota_exceeded');
      else {
        // At most QoS 1 (shared-group.ts: QoS 2 would tie a message to one member across reconnects).
        const options = { qos: Math.min(req.qos, 1) as Qos, nl: false, rap: v5 && req.rap === true };
        const member = new MqttSubscription(conn, f.area, options, ctx.formats.format({ version: conn.version, qos: options.qos, rap: options.rap, lean: conn.lean }));
        (conn.shares ??= new Map()).set(req.topic, member);
        codes.push(options.qos);
        shares.push({ filter: req.topic, member, group: f.group!, index: codes.length - 1 });
      }
    } else if (f.kind === 'wildcard') {
      // Kept as a filter; it expands to the matching areas after the SUBACK (../wildcards.ts).
      const options = { qos: req.qos as Qos, nl: v5 && req.nl === true, rap: v5 && req.rap === true };
      const existed = conn.wildcards?.has(req.topic) === true;
      (conn.wildcards ??= new Map()).set(req.topic, options);
      codes.push(options.qos);
      // Retain Handling 1: retained messages only for a subscription that did not exist [MQTT-3.3.1-10].
      wildcards.push({ filter: req.topic, options, retainHandling: existed && req.rh === 1 ? 2 : (req.rh ?? 0) });
    } else if (f.kind === 'invalid' || f.area === undefined) refuse('topic_filter_invalid');
    else if (!conn.principal!.canSubscribe(f.area)) refuse('not_authorized');
    else if (!conn.subs.has(f.area) && conn.subs.size >= ctx.settings.maxSubscriptions) refuse('quota_exceeded');
    else {
      const area = f.area;
      const qos = req.qos as Qos;
      const options = { qos, nl: v5 && req.nl === true, rap: v5 && req.rap === true };
      const retainHandling = req.rh ?? 0;
      const existing = conn.subs.get(area);
      codes.push(qos);
      if (existing !== undefined && sameOptions(existing.options, options)) {
        granted.push({ sub: existing, attach: false, retainHandling, isNew: false, index: codes.length - 1 });
        continue;
      }
      let since: Since | undefined;
      const sub = new MqttSubscription(conn, area, options, ctx.formats.format({ version: conn.version, qos, rap: options.rap, lean: conn.lean }));
      if (existing !== undefined) {
        // Same area, other options [MQTT-3.8.4-3]: the new subscription continues where the old one was acked.
        if (existing.slot >= 0 && existing.cursor !== undefined) {
          const pos = existing.cursor.positionOf(existing.slot);
          since = { epoch: existing.epoch, offset: existing.qos !== 0 ? pos.acked : pos.sent };
          sub.dupUpTo = pos.sent;
        }
        conn.detach(existing);
      }
      conn.subs.set(area, sub);
      granted.push({ sub, attach: true, since, retainHandling, isNew: existing === undefined, index: codes.length - 1 });
    }
  }
  const [attached, joined] = await Promise.all([
    Promise.all(granted.map((g) => (g.attach ? attachSubscription(ctx, conn, g.sub, g.since) : Promise.resolve(true)))),
    Promise.all(shares.map((s) => joinShared(ctx, s.member, s.group, undefined))),
  ]);
  if (conn.closed) return;
  for (let i = 0; i < shares.length; i++) {
    if (joined[i]) continue;
    const s = shares[i];
    conn.detach(s.member);
    conn.shares?.delete(s.filter);
    codes[s.index] = v5 ? MQTT_REASON.unspecified_error.v5 : V4_FAILURE;
  }
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
    if (g.retainHandling === 0 || (g.retainHandling === 1 && g.isNew)) sendRetained(ctx, conn, g.sub);
    if (g.attach) g.sub.start();
  }
  // No retained message on a shared subscription (MQTT 5 §4.8.2).
  for (let i = 0; i < shares.length; i++) if (joined[i] && shares[i].member.group !== undefined) startShared(shares[i].member.group!);
  if (wildcards.length > 0) {
    const areas = await ctx.wildcards.areas(ctx).catch((err: unknown) => {
      ctx.logger.error({ err, clientId: conn.clientId }, 'mqtt wildcard: listing the areas failed');
      return [];
    });
    for (const w of wildcards) expandWildcard(ctx, conn, w.filter, w.options, areas, undefined, w.retainHandling);
  }
  if (granted.length > 0 || wildcards.length > 0 || shares.length > 0) conn.saveSession();
}

function sameOptions(a: MqttSubscription['options'], b: MqttSubscription['options']): boolean {
  return a.qos === b.qos && a.nl === b.nl && a.rap === b.rap;
}

/**
 * The area's retained message, before anything else of the area, RETAIN=1 [MQTT-3.3.1-8], at
 * min(its publish QoS, the granted QoS) [MQTT-3.8.4-8] (a REST publish counts as QoS 1). It is
 * state, outside the offset sequence the cumulative acks track: at QoS 1/2 it takes a packet id of
 * its own in the send quota, with offset 0 so its PUBACK / PUBREC moves no ack point; when the
 * quota is full or its id is taken it goes at QoS 0 rather than wait behind the live stream.
 * No Local applies to it too [MQTT-3.8.3-3].
 */
export function sendRetained(ctx: MqttContext, conn: MqttConnection, sub: MqttSubscription): void {
  const area = sub.area;
  const r = ctx.sessions.getRetained(area);
  const now = ctx.now();
  if (r === undefined || (r.expiresAt !== 0 && r.expiresAt <= now)) return;
  if (sub.skipOrigin !== undefined && r.headers?.origin === sub.skipOrigin) return;
  let qos = Math.min(r.headers?.qos ?? 1, sub.qos) as Qos;
  const id = packetIdOf(r.offset);
  if (qos > 0 && (conn.inflight.full || conn.inflight.has(id))) qos = 0;
  const frame = encodePublish(area, r, { version: conn.version, qos, retain: true, lean: conn.lean }, now);
  if (frame.byteLength > conn.clientMaxPacket) return;
  if (qos > 0) conn.inflight.add(id, sub, 0);
  conn.transport.write(frame);
  ctx.metrics.retainedSent.inc();
}
