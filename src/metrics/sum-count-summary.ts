/**
 * A Prometheus summary of only `_sum` and `_count`, read at scrape time.
 * The native side keeps a latency's total and count, not the observations,
 * so prom-client's Summary (which takes observations) cannot express it;
 * the mean over any window is rate(_sum) / rate(_count).
 */
import type { Metric, Registry } from 'prom-client';

export interface SumCount<L extends string> {
  readonly labels: Readonly<Record<L, string>>;
  readonly sum: number;
  readonly count: number;
}

export class SumCountSummary<L extends string> {
  readonly type = 'summary';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => Iterable<SumCount<L>>,
  ) {}

  /** The shape prom-client's registry renders (`metricName` per value). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; labels: Record<string, string>; value: number }> }> {
    const values: Array<{ metricName: string; labels: Record<string, string>; value: number }> = [];
    for (const s of this.read()) {
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Nothing to reset: the values are read, not kept (Registry.resetMetrics calls this). */
  reset(): void {}

  registerWith(registry: Registry): this {
    // The registry needs only name and get(); its Metric type lists its own classes.
    registry.registerMetric(this as unknown as Metric);
    return this;
  }
}
