/**
 * Lag figures computed by the periodic sweep [issue 5]:
 *
 * - SubscriberLag: the distribution of lag over every subscription, where lag is the area head
 *   minus the subscription's virtual cursor (its ack offset once it acks, else what was sent).
 *   The sweep observes each subscription; endSweep() publishes the finished snapshot, exposed as
 *   the gauge `abe_subscriber_lag_messages{le}` (subscriptions at most `le` messages behind,
 *   cumulative like histogram buckets, so histogram_quantile() works on it) and
 *   `abe_subscriber_lag_max_messages`.
 * - AreaTop: the latest per-area figures (head, minimum ack, subscribers, max lag) for every
 *   open area, exported as `abe_area_*{area}` for the top N areas by subscribers and the top N by
 *   lag only, so the series count stays bounded however many areas are open.
 */
import type { Registry } from 'prom-client';
import { ComputedGauge, type Labels } from './custom.ts';

export const LAG_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000] as const;

export class SubscriberLag {
  private readonly bounds = Float64Array.from(LAG_BUCKETS);
  /** Being filled by the running sweep (non-cumulative; the last is > every bound). */
  private readonly current = new Float64Array(LAG_BUCKETS.length + 1);
  private currentMax = 0;
  /** The last complete sweep (cumulative). */
  private readonly published = new Float64Array(LAG_BUCKETS.length + 1);
  private publishedMax = 0;

  constructor(registers: readonly Registry[]) {
    new ComputedGauge(
      {
        name: 'abe_subscriber_lag_messages',
        help: 'Subscriptions at most `le` messages behind their area head (head minus ack offset, or minus sent offset before the first ack), as of the last sweep',
        values: () => this.buckets(),
      },
      registers,
    );
    new ComputedGauge(
      { name: 'abe_subscriber_lag_max_messages', help: 'Largest lag of any subscription at the last sweep', aggregator: 'max', values: () => [[{}, this.publishedMax]] },
      registers,
    );
  }

  /** Called by the sweep for each subscription: allocation-free. */
  observe(lag: number): void {
    if (!(lag > 0)) {
      this.current[0]++; // the common case: caught up
      return;
    }
    const b = this.bounds;
    let i = 0;
    while (i < b.length && lag > b[i]) i++;
    this.current[i]++;
    if (lag > this.currentMax) this.currentMax = lag;
  }

  /** The sweep went over every area: publish the snapshot, start the next. */
  endSweep(): void {
    let acc = 0;
    for (let i = 0; i < this.current.length; i++) {
      acc += this.current[i];
      this.published[i] = acc;
    }
    this.publishedMax = this.currentMax;
    this.current.fill(0);
    this.currentMax = 0;
  }

  get max(): number {
    return this.publishedMax;
  }

  /** Cumulative counts of the last sweep, `le` as Prometheus writes it. */
  *buckets(): Iterable<readonly [Labels, number]> {
    for (let i = 0; i < this.published.length; i++) {
      yield [{ le: i < this.bounds.length ? this.bounds[i] : '+Inf' }, this.published[i]];
    }
  }

  /** [le, cumulative count] for the dashboard (le Infinity for the last). */
  distribution(): [number, number][] {
    return Array.from(this.published, (v, i) => [i < this.bounds.length ? this.bounds[i] : Infinity, v]);
  }
}

export interface AreaStat {
  readonly area: string;
  head: number;
  minAcked: number;
  subscribers: number;
  maxLag: number;
}

export class AreaTop {
  private readonly stats = new Map<string, AreaStat>();
  private cache: { at: number; list: AreaStat[] } | undefined;

  constructor(
    /** Areas exported per ranking (by subscribers, by lag): at most 2N series per gauge. */
    readonly n: number,
    registers: readonly Registry[],
  ) {
    const gauge = (name: string, help: string, aggregator: 'max' | 'min' | 'sum', pick: (s: AreaStat) => number): void => {
      new ComputedGauge({ name, help: `${help} (top ${n} areas by subscribers and by lag in this process)`, aggregator, values: () => this.series(pick) }, registers);
    };
    gauge('abe_area_head_offset', 'Newest offset read by this process', 'max', (s) => s.head);
    gauge('abe_area_min_acked_offset', "Lowest virtual-cursor ack offset of the area's subscribers in this process", 'min', (s) => s.minAcked);
    gauge('abe_area_subscribers', 'Subscribers of the area in this process', 'sum', (s) => s.subscribers);
    gauge('abe_area_max_lag_messages', 'Largest lag (head minus virtual cursor) of a subscriber of the area', 'max', (s) => s.maxLag);
  }

  /** AreaGaugeSink.report: called by the sweep for each open area. */
  report(area: string, head: number, minAcked: number, subscribers: number, maxLag = Math.max(0, head - minAcked)): void {
    let s = this.stats.get(area);
    if (s === undefined) {
      s = { area, head, minAcked, subscribers, maxLag };
      this.stats.set(area, s);
      return;
    }
    s.head = head;
    s.minAcked = minAcked;
    s.subscribers = subscribers;
    s.maxLag = maxLag;
  }

  forget(area: string): void {
    this.stats.delete(area);
  }

  get size(): number {
    return this.stats.size;
  }

  /** The n areas with the largest lag (then most subscribers). */
  byLag(n = this.n): AreaStat[] {
    return this.ranked(n, (a, b) => b.maxLag - a.maxLag || b.subscribers - a.subscribers);
  }

  bySubscribers(n = this.n): AreaStat[] {
    return this.ranked(n, (a, b) => b.subscribers - a.subscribers || b.maxLag - a.maxLag);
  }

  /** Union of both rankings: the areas exported (computed once per scrape, not per gauge). */
  selected(): AreaStat[] {
    const now = performance.now();
    if (this.cache !== undefined && now - this.cache.at < 100) return this.cache.list;
    const out = new Set(this.bySubscribers());
    for (const s of this.byLag()) out.add(s);
    this.cache = { at: now, list: [...out] };
    return this.cache.list;
  }

  private ranked(n: number, cmp: (a: AreaStat, b: AreaStat) => number): AreaStat[] {
    const all = [...this.stats.values()];
    if (all.length <= n) return all.sort(cmp);
    return all.sort(cmp).slice(0, n);
  }

  private *series(pick: (s: AreaStat) => number): Iterable<readonly [Labels, number]> {
    for (const s of this.selected()) yield [{ area: s.area }, pick(s)];
  }
}
