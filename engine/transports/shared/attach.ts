/**
 * THE way a transport attaches a subscriber to an area's cursor (WebSocket subscribe, MQTT
 * SUBSCRIBE, session resume, wildcard expansion): without waiting when the registry can answer at
 * once (the common connect: the cursor is open, no offset to check against the log), else through
 * the log; after the wait, a subscription its connection no longer wants gives its slot back. The
 * subscribe counters are counted here, once, for every transport. Errors (bad_offset,
 * log_unavailable) are the caller's to answer: each transport says them its own way.
 */
import type { CounterLike } from '../../areas/metrics.ts';
import type { AreaRegistry, Since, Subscription } from '../../areas/registry.ts';
import type { Subscriber } from '../../areas/subscriber.ts';

export interface AttachMetrics {
  readonly subscribes: CounterLike;
  readonly subscriptions: { inc(): void };
  readonly recoveredFalse: CounterLike;
  /** Subscribes with a position to resume from. */
  readonly resumes?: CounterLike;
}

/**
 * The subscription, or a promise of it (undefined when `stillWanted()` turned false meanwhile).
 * Throws (or rejects) with the registry's error.
 */
export function attachArea(
  areas: AreaRegistry,
  metrics: AttachMetrics,
  sub: Subscriber,
  area: string,
  since: Since | undefined,
  stillWanted: () => boolean,
): Subscription | Promise<Subscription | undefined> {
  const now = areas.subscribeNow(sub, area, since);
  if (now !== undefined) return counted(metrics, now, since);
  return areas.subscribe(sub, area, since).then((res) => {
    if (!stillWanted()) {
      res.cursor.detach(res.slot);
      return undefined;
    }
    return counted(metrics, res, since);
  });
}

function counted(metrics: AttachMetrics, res: Subscription, since: Since | undefined): Subscription {
  metrics.subscribes.inc();
  metrics.subscriptions.inc();
  if (since !== undefined) {
    metrics.resumes?.inc();
    if (!res.recovered) metrics.recoveredFalse.inc();
  }
  return res;
}
