/**
 * SUBSCRIBE: `areas/{area}` granted the QoS asked for (0, 1 or 2), with its Subscription Options:
 * No Local [MQTT-3.8.3-3], Retain As Published [MQTT-3.3.1-13], Retain Handling
 * [MQTT-3.3.1-9..11]; wildcard filters expand over areas (../wildcards.ts); `$share/{group}/`
 * filters join a group (../shared-group.ts). Failures per filter: 3.1.1 0x80; 5.0 0x8F invalid
 * filter, 0xA2 a shared filter over a wildcard, 0x87 not allowed by the token, 0x97 over
 * --max-subscriptions, 0x80 log unavailable,
 * and 0xA1 for every filter of a SUBSCRIBE carrying a Subscription Identifier (not supported,
 * announced in CONNACK, MQTT 5 §3.2.2.3.12: it would make the shared bytes differ per subscriber).
 * A No Local subscription on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
 * After the SUBACK: the area's retained message, then the cursor replays/delivers.
 *
 * Compression [issue 16]: a 5.0 SUBSCRIBE carrying the User Property `accept-encoding` with the
 * token `deflate` (comma-separated, case-insensitive, as HTTP's Accept-Encoding) gets compressed
 * payloads on every filter it subscribes (properties belong to the packet, MQTT 5 §3.8.2.1);
 * each compressed PUBLISH says so with `content-encoding: deflate` (../encoders.ts).
 */
import type { ISubscribePacket } from 'mqtt-packet';
import type { Since } from '../../../areas/registry.ts';
import { MQTT_REASON, type MqttReason } from '../../../errors.ts';
import { acceptsCoding } from '../../shared/accept-encoding.ts';
import { attachSubscription } from '../attach.ts';
import type { MqttConnection } from '../connection.ts';
import type { MqttContext } from '../context.ts';
import type { Qos } from '../encoders.ts';
import { sendRetained } from '../retained.ts';
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

/** What one SUBSCRIBE asks for, filter by filter (planSubscribe), before anything is attached. */
interface Plan {
  readonly codes: number[];
  readonly granted: Granted[];
  readonly wildcards: { filter: string; options: SubscriptionOptions; retainHandling: number }[];
  readonly shares: { filter: string; member: MqttSubscription; group: string; index: number }[];
}

export async function handleSubscribe(ctx: MqttContext, conn: MqttConnection, p: ISubscribePacket): Promise<void> {
  if (p.subscriptions.length === 0) return conn.fail('protocol_error', 'SUBSCRIBE without a topic filter [MQTT-3.8.3-2]');
  const v5 = conn.version === 5;
  if (v5 && p.properties?.subscriptionIdentifier !== undefined) {
    ctx.metrics.badInput('subscription_identifiers_not_supported').inc();
    conn.send({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map(() => MQTT_REASON.subscription_identifiers_not_supported.v5) });
    return;
  }
  const plan = planSubscribe(ctx, conn, p);
  if (plan === undefined) return; // a Protocol Error closed the connection
  const { codes, granted, wildcards, shares } = plan;
  const [attached, joined] = await Promise.all([
    Promise.all(granted.map((g) => (g.attach ? attachSubscription(ctx, conn, g.sub, g.since) : Promise.resolve(true)))),
    Promise.all(shares.map((s) => joinShared(ctx, s.member, s.group, undefined))),
  ]);
  if (conn.closed) return;
  const failed = v5 ? MQTT_REASON.unspecified_error.v5 : V4_FAILURE;
  for (let i = 0; i < shares.length; i++) {
    if (joined[i]) continue;
    conn.detach(shares[i].member);
    conn.shares?.delete(shares[i].filter);
    codes[shares[i].index] = failed;
  }
  for (let i = 0; i < granted.length; i++) {
    if (attached[i]) continue;
    if (!granted[i].sub.detached) conn.detach(granted[i].sub);
    codes[granted[i].index] = failed;
  }
  conn.send({ cmd: 'suback', messageId: p.messageId, granted: codes });
  await afterSuback(ctx, conn, plan, attached, joined);
}

/** Classifies each filter: SUBACK code, and what to attach, join or expand. undefined: the connection was closed. */
function planSubscribe(ctx: MqttContext, conn: MqttConnection, p: ISubscribePacket): Plan | undefined {
  const v5 = conn.version === 5;
  const plan: Plan = { codes: [], granted: [], wildcards: [], shares: [] };
  const { codes } = plan;
  const refuse = (reason: MqttReason): void => {
    ctx.metrics.badInput(reason).inc();
    codes.push(v5 ? MQTT_REASON[reason].v5 : V4_FAILURE);
  };
  const deflate = v5 && acceptsDeflate(p.properties?.userProperties);
  for (const req of p.subscriptions) {
    const f = parseFilter(req.topic);
    const options = { qos: req.qos as Qos, nl: v5 && req.nl === true, rap: v5 && req.rap === true, deflate };
    if (f.kind === 'shared') {
      if (f.area === undefined) refuse('wildcard_subscriptions_not_supported');
      else if (options.nl) return void conn.fail('protocol_error', 'No Local on a shared subscription [MQTT-3.8.3-4]');
      else if (!conn.principal!.canSubscribe(f.area)) refuse('not_authorized');
      else if (conn.shares?.has(req.topic) === true) codes.push(conn.shares.get(req.topic)!.qos);
      else if (conn.subs.size + (conn.shares?.size ?? 0) >= ctx.settings.maxSubscriptions) refuse('quota_exceeded');
      else {
        // At most QoS 1 (shared-group.ts: QoS 2 would tie a message to one member across reconnects).
        const o = { ...options, qos: Math.min(req.qos, 1) as Qos };
        const member = new MqttSubscription(conn, f.area, o, ctx.formats.format(conn, o));
        (conn.shares ??= new Map()).set(req.topic, member);
        codes.push(o.qos);
        plan.shares.push({ filter: req.topic, member, group: f.group!, index: codes.length - 1 });
      }
    } else if (f.kind === 'wildcard') {
      // Kept as a filter; it expands to the matching areas after the SUBACK (../wildcards.ts).
      const existed = conn.wildcards?.has(req.topic) === true;
      (conn.wildcards ??= new Map()).set(req.topic, options);
      codes.push(options.qos);
      // Retain Handling 1: retained messages only for a subscription that did not exist [MQTT-3.3.1-10].
      plan.wildcards.push({ filter: req.topic, options, retainHandling: existed && req.rh === 1 ? 2 : (req.rh ?? 0) });
    } else if (f.kind === 'invalid' || f.area === undefined) refuse('topic_filter_invalid');
    else if (!conn.principal!.canSubscribe(f.area)) refuse('not_authorized');
    else if (!conn.subs.has(f.area) && conn.subs.size >= ctx.settings.maxSubscriptions) refuse('quota_exceeded');
    else {
      codes.push(options.qos);
      plan.granted.push(exact(ctx, conn, f.area, options, req.rh ?? 0, codes.length - 1));
    }
  }
  return plan;
}

/**
 * The User Property accept-encoding lists deflate: any occurrence (mqtt-packet folds repeats into
 * an array), the name in any case, the value as HTTP's Accept-Encoding (../../shared/accept-encoding.ts).
 */
export function acceptsDeflate(user: Readonly<Record<string, string | string[]>> | undefined): boolean {
  if (user === undefined) return false;
  for (const name of Object.keys(user)) {
    if (name.toLowerCase() !== 'accept-encoding') continue;
    const v = user[name];
    for (const value of Array.isArray(v) ? v : [v]) if (acceptsCoding(String(value), 'deflate')) return true;
  }
  return false;
}

/** An exact `areas/{area}` filter: the same subscription again, or a new one (with other options, continuing where the old one was acked). */
function exact(ctx: MqttContext, conn: MqttConnection, area: string, options: SubscriptionOptions, retainHandling: number, index: number): Granted {
  const existing = conn.subs.get(area);
  if (existing !== undefined && existing.via === undefined && sameOptions(existing.options, options)) {
    return { sub: existing, attach: false, retainHandling, isNew: false, index };
  }
  let since: Since | undefined;
  const sub = new MqttSubscription(conn, area, options, ctx.formats.format(conn, options));
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
  return { sub, attach: true, since, retainHandling, isNew: existing === undefined, index };
}

/** After the SUBACK: retained messages, then delivery; groups start; wildcards expand. */
async function afterSuback(ctx: MqttContext, conn: MqttConnection, plan: Plan, attached: readonly boolean[], joined: readonly boolean[]): Promise<void> {
  for (let i = 0; i < plan.granted.length; i++) {
    const g = plan.granted[i];
    if (!attached[i] || g.sub.detached) continue;
    if (g.retainHandling === 0 || (g.retainHandling === 1 && g.isNew)) sendRetained(ctx, conn, g.sub);
    if (g.attach) g.sub.start();
  }
  // No retained message on a shared subscription (MQTT 5 §4.8.2).
  for (let i = 0; i < plan.shares.length; i++) if (joined[i] && plan.shares[i].member.group !== undefined) startShared(plan.shares[i].member.group!);
  if (plan.wildcards.length > 0) {
    const areas = await ctx.wildcards.areas(ctx).catch((err: unknown) => {
      ctx.logger.error({ err, clientId: conn.clientId }, 'mqtt wildcard: listing the areas failed');
      return [];
    });
    for (const w of plan.wildcards) expandWildcard(ctx, conn, w.filter, w.options, areas, undefined, w.retainHandling);
  }
  if (plan.granted.length > 0 || plan.wildcards.length > 0 || plan.shares.length > 0) conn.saveSession();
}

function sameOptions(a: MqttSubscription['options'], b: MqttSubscription['options']): boolean {
  return a.qos === b.qos && a.nl === b.nl && a.rap === b.rap && a.deflate === b.deflate;
}
