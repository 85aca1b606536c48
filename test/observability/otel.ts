/**
 * OpenTelemetry SDK pieces for tests: an in-memory metric reader (a pull reader whose collect()
 * the test calls), and a tracer provider exporting to memory with W3C propagation and an
 * AsyncLocalStorage context manager.
 */
import { context, propagation, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { DataPointType, MeterProvider, MetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A reader the test collects from when it wants. */
export class InMemoryReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Every metric of the `rollcall` meter, by instrument name. */
  async metrics(): Promise<Map<string, MetricData>> {
    const { resourceMetrics, errors } = await this.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    const found = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) {
      if (scope.scope.name !== 'rollcall') continue;
      for (const metric of scope.metrics) found.set(metric.descriptor.name, metric);
    }
    return found;
  }
}

export function meterProviderWith(reader: MetricReader): MeterProvider {
  return new MeterProvider({ readers: [reader] });
}

function render(attributes: Attributes): string {
  return Object.keys(attributes)
    .sort()
    .map((key) => `${key}=${String(attributes[key])}`)
    .join(',');
}

/** A metric's points as `attributes → value` (histograms: their count). */
export function pointsOf(metric: MetricData | undefined): Record<string, number> {
  if (metric === undefined) return {};
  const points = metric.dataPoints as DataPoint<number | Histogram>[];
  return Object.fromEntries(
    points.map((point) => [render(point.attributes), metric.dataPointType === DataPointType.HISTOGRAM ? (point.value as Histogram).count : (point.value as number)]),
  );
}

/** Turns on W3C propagation and the AsyncLocalStorage context manager for the test; returns how to turn them off. */
export function globalContextAndPropagation(): () => void {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return () => {
    context.disable();
    propagation.disable();
  };
}

export function tracing(): { provider: BasicTracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { provider, exporter };
}
