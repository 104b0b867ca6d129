/**
 * Wildcard subscriptions over areas (`areas/+`, `areas/#`, `#`, `+/+`...) for cloud consumers and
 * dashboards: a wildcard is kept on the connection (and in its session) and expands into one
 * per-area subscription for every area it matches that the token may read, each with its own
 * virtual cursor, exactly like an exact `areas/{area}` subscription (so ordering, QoS, resume
 * and acks per area are unchanged) [MQTT-4.7.1].
 *
 * Areas appear over time (on any process, in any log): an area the wildcard meets after it was
 * subscribed is delivered from its first retained message (FROM_START), since everything in it
 * came after the subscription. Areas existing at SUBSCRIBE time start at their head, with their
 * retained message per Retain Handling, like any new subscription. New areas are found by
 * listing the log once a second while some connection holds a wildcard (WildcardDirectory).
 *
 * One delivery per area: a wildcard does not add a second subscription to an area the connection
 * already has (exact or from another wildcard); that one's options hold [MQTT-3.3.4-2 allows
 * either]. Per-area subscriptions count against --max-subscriptions; past it the area is skipped,
 * counted (quota_exceeded) and logged once per connection.
 */
import { FROM_START, type Since } from '../../areas/registry.ts';
import { attachAgain } from './attach.ts';
import type { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';
import { sendRetained } from './retained.ts';
import { MqttSubscription, type SubscriptionOptions } from './subscription.ts';
import { filterMatches, topicOf } from './topics.ts';

/**
 * Attaches `filter`'s subscription to each of `areas` it matches (and may read) that the
 * connection does not have yet. `since`: FROM_START for areas new to the wildcard, undefined (head)
 * for areas that existed when it was subscribed. Delivery starts once attached.
 */
export function expandWildcard(ctx: MqttContext, conn: MqttConnection, filter: string, options: SubscriptionOptions, areas: readonly string[], since: Since | undefined, retainHandling: number): void {
  for (const area of areas) {
    if (conn.closed) return;
    if (conn.subs.has(area) || !filterMatches(filter, topicOf(area)) || !conn.principal!.canSubscribe(area)) continue;
    if (conn.subs.size >= ctx.settings.maxSubscriptions) {
      ctx.metrics.badInput('quota_exceeded').inc();
      if (!conn.wildcardQuotaLogged) {
        conn.wildcardQuotaLogged = true;
        ctx.logger.warn({ clientId: conn.clientId, filter, area, max: ctx.settings.maxSubscriptions }, 'mqtt wildcard: --max-subscriptions reached; further areas are not subscribed');
      }
      return;
    }
    const sub = new MqttSubscription(conn, area, options, ctx.formats.format(conn, options), filter);
    conn.subs.set(area, sub);
    attachAgain(ctx, conn, sub, since, () => {
      // Existing areas behave like a new subscription: retained message per Retain Handling (0 and 1: send).
      if (since === undefined && retainHandling !== 2) sendRetained(ctx, conn, sub);
    });
  }
}

/** Areas known to this process, and the wildcard connections to tell when a new one appears. */
export class WildcardDirectory {
  private readonly known = new Set<string>();
  private loaded = false;
  private polling = false;

  constructor(private readonly connections: ReadonlySet<MqttConnection>) {}

  /** The areas as of now (listing the log the first time). */
  async areas(ctx: MqttContext): Promise<string[]> {
    if (!this.loaded) {
      for (const a of await ctx.service.areas()) this.known.add(a);
      this.loaded = true;
    }
    return [...this.known];
  }

  /** Once a second from the sweep: list the log for areas created elsewhere. */
  poll(ctx: MqttContext): void {
    if (this.polling || !this.anyWildcards()) return;
    this.polling = true;
    ctx.service.areas().then(
      (list) => {
        this.polling = false;
        const fresh = list.filter((a) => !this.known.has(a));
        for (const a of fresh) this.known.add(a);
        this.loaded = true;
        if (fresh.length > 0) this.meet(ctx, fresh);
      },
      (err: unknown) => {
        this.polling = false;
        ctx.logger.warn({ err }, 'mqtt wildcard: listing the areas failed; retrying next second');
      },
    );
  }

  private anyWildcards(): boolean {
    for (const c of this.connections) if (c.wildcards !== undefined && c.wildcards.size > 0) return true;
    return false;
  }

  private meet(ctx: MqttContext, areas: readonly string[]): void {
    for (const conn of this.connections) {
      if (conn.state !== 'connected' || conn.wildcards === undefined) continue;
      for (const [filter, w] of conn.wildcards) expandWildcard(ctx, conn, filter, w, areas, FROM_START, 2);
    }
  }
}
