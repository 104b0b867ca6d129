/**
 * Gauges whose values are computed when scraped (top-N areas, sweep snapshots, probes of the
 * engine's state). Registered as prom-client metrics (name, help, type, aggregator, get()), so
 * registry.metrics() renders them and AggregatorRegistry.aggregate() combines them across
 * processes with the aggregator given here (issue 6).
 */
import type { Aggregator, Metric, Registry } from 'prom-client';

export type Labels = Record<string, string | number>;

export interface ComputedGaugeConfig {
  readonly name: string;
  readonly help: string;
  /** How the primary combines this gauge over worker processes: sum (default), max, min... */
  readonly aggregator?: Aggregator;
  /** Current values: [labels, value] pairs (labels {} for an unlabelled gauge). */
  readonly values: () => Iterable<readonly [Labels, number]>;
}

export class ComputedGauge {
  readonly name: string;
  readonly help: string;
  readonly type = 'gauge';
  readonly aggregator: Aggregator;
  private readonly values: ComputedGaugeConfig['values'];

  constructor(config: ComputedGaugeConfig, registers: readonly Registry[]) {
    this.name = config.name;
    this.help = config.help;
    this.aggregator = config.aggregator ?? 'sum';
    this.values = config.values;
    for (const r of registers) r.registerMetric(this as unknown as Metric);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: Aggregator; values: { value: number; labels: Labels }[] }> {
    const values: { value: number; labels: Labels }[] = [];
    for (const [labels, value] of this.values()) values.push({ labels, value });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {}
}

/** A single unlabelled computed value. */
export function computedValue(name: string, help: string, value: () => number, registers: readonly Registry[], aggregator?: Aggregator): ComputedGauge {
  return new ComputedGauge({ name, help, aggregator, values: () => [[{}, value()]] }, registers);
}
