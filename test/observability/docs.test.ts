/** docs/observability.md documents every metric, label and channel there is, and nothing else under those names. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../../src/index.js';
import { METRICS } from '../../src/observability/metrics.js';

const docs = readFileSync(resolve(import.meta.dirname, '../../docs/observability.md'), 'utf8');

/** The rows of the metric tables: Prometheus name, OpenTelemetry name, type, labels. */
function documentedMetrics(): Map<string, { otelName: string; kind: string; labels: string[] }> {
  const rows = new Map<string, { otelName: string; kind: string; labels: string[] }>();
  for (const line of docs.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`(rollcall_[a-z_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (name === undefined) continue;
    rows.set(name, {
      otelName: (cells[2] ?? '').replaceAll('`', ''),
      kind: cells[3] ?? '',
      labels: [...(cells[4] ?? '').matchAll(/`([a-z_]+)`/g)].map((match) => match[1] as string),
    });
  }
  return rows;
}

describe('docs/observability.md', () => {
  it('lists every metric with its OpenTelemetry name, type and labels, and no other', () => {
    const documented = documentedMetrics();
    expect([...documented.keys()].sort()).toEqual(METRICS.map((metric) => metric.name).sort());
    for (const metric of METRICS) {
      expect(documented.get(metric.name)).toEqual({ otelName: metric.otelName, kind: metric.kind, labels: [...metric.labels] });
    }
  });

  it('names every diagnostics channel', () => {
    for (const name of Object.values(CHANNELS)) expect(docs).toContain(`\`${name}\``);
  });
});
