/**
 * Reading what an exporter produced: a prom-client registry's scrape as a lookup of values by
 * metric name and labels.
 */
import type { Registry } from 'prom-client';

export interface Scrape {
  /** The value of `name` (for histograms: `name_count`, `name_sum`, `name_bucket`) with exactly `labels`; undefined when absent. */
  value(name: string, labels?: Record<string, string | number>): number | undefined;
  /** Every series of `name` as `labels → value`, labels rendered `a=x,b=y` in key order. */
  series(name: string): Record<string, number>;
  /** Names of the metrics the scrape holds. */
  readonly names: readonly string[];
}

interface JsonValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

function render(labels: Record<string, string | number>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${String(labels[key])}`)
    .join(',');
}

export async function scrape(registry: Registry): Promise<Scrape> {
  const metrics = (await registry.getMetricsAsJSON()) as unknown as Array<{ name: string; values: JsonValue[] }>;
  const byName = new Map<string, JsonValue[]>();
  for (const metric of metrics) {
    for (const value of metric.values) {
      const name = value.metricName ?? metric.name;
      byName.set(name, [...(byName.get(name) ?? []), value]);
    }
    if (metric.values.length === 0) byName.set(metric.name, []);
  }
  return {
    names: metrics.map((metric) => metric.name),
    value(name, labels = {}) {
      const wanted = render(labels);
      return byName.get(name)?.find((value) => render(value.labels) === wanted)?.value;
    },
    series(name) {
      return Object.fromEntries((byName.get(name) ?? []).map((value) => [render(value.labels), value.value]));
    },
  };
}
