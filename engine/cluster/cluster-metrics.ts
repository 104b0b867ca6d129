/**
 * One /metrics for every engine process. The scrape lands on an arbitrary worker (they share the
 * port); that worker asks the primary, the primary asks every ready worker for
 * registry.getMetricsAsJSON() and merges them with prom-client's AggregatorRegistry.aggregate()
 * (each metric carries its aggregator: counters and histograms sum, per-process gauges keep a
 * `worker` label, see engine/metrics/metrics.ts), plus the primary's own abe_cluster_* metrics.
 * A worker that does not answer within the timeout is left out and counted in
 * abe_cluster_scrape_missing_workers, so a dying worker never blocks the scrape.
 */
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { MetricsJson } from './ipc.ts';

export interface WorkerView {
  readonly index: number;
  readonly pid: number | undefined;
  readonly ready: boolean;
  readonly givenUp: boolean;
}

export class ClusterMetrics {
  readonly registry = new Registry();
  private readonly restarts: Counter;
  private readonly crashLoops: Counter;
  private lastMissing = 0;

  constructor(
    private readonly configured: number,
    private readonly view: () => readonly WorkerView[],
  ) {
    const r = [this.registry];
    this.restarts = new Counter({ name: 'abe_cluster_worker_restarts_total', help: 'Engine worker processes restarted by the primary after they died', labelNames: ['worker'], registers: r });
    this.crashLoops = new Counter({ name: 'abe_cluster_crash_loops_total', help: 'Worker slots given up because they kept dying (crash loop)', registers: r });
    const self = this;
    new Gauge({
      name: 'abe_cluster_workers',
      help: 'Engine worker processes: configured, ready (listening), given_up (crash loop)',
      labelNames: ['state'],
      registers: r,
      collect() {
        const v = self.view();
        this.set({ state: 'configured' }, self.configured);
        this.set({ state: 'ready' }, v.filter((w) => w.ready).length);
        this.set({ state: 'given_up' }, v.filter((w) => w.givenUp).length);
      },
    });
    new Gauge({
      name: 'abe_cluster_worker_info',
      help: 'Always 1 per live worker process; labels: worker index and pid',
      labelNames: ['worker', 'pid'],
      registers: r,
      collect() {
        this.reset();
        for (const w of self.view()) if (w.pid !== undefined && w.ready) this.set({ worker: String(w.index), pid: String(w.pid) }, 1);
      },
    });
    new Gauge({
      name: 'abe_cluster_scrape_missing_workers',
      help: 'Ready workers that did not answer the last aggregated scrape in time (their figures are missing from it)',
      registers: r,
      collect() {
        this.set(self.lastMissing);
      },
    });
  }

  restarted(worker: number): void {
    this.restarts.inc({ worker: String(worker) });
  }

  crashLoop(): void {
    this.crashLoops.inc();
  }

  /** Aggregates the workers' registries (as JSON) with the primary's own metrics into one text scrape. */
  async render(workers: readonly (MetricsJson | undefined)[]): Promise<string> {
    this.lastMissing = workers.filter((w) => w === undefined).length;
    const own = await this.registry.getMetricsAsJSON();
    const all: object[] = [...workers.filter((w): w is MetricsJson => w !== undefined), own];
    return AggregatorRegistry.aggregate(all).metrics();
  }
}
