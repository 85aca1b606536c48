/**
 * rollcall's metrics through the OpenTelemetry metrics API: the same metrics as
 * `rollcall/prometheus`, as observable instruments read at each collection, and histograms and
 * counters fed from rollcall's diagnostics channels.
 */
import { ValueType, metrics, type Counter, type Histogram, type MeterProvider, type Observable, type ObservableCallback } from '@opentelemetry/api';
import { InvalidArgumentError } from '../core/errors.js';
import { DURATION_BUCKETS_SECONDS, METRICS, subscribeMetricEvents, type MetricDefinition, type MetricSettings } from '../observability/metrics.js';
import { observedParts, type ObservedParts } from '../observability/parts.js';

/** Options of {@link observeRollcallMetrics}. */
export interface OtelMetricsOptions extends ObservedParts {
  /** Where the meter comes from. @default the global MeterProvider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider | undefined;
  /**
   * Adds an `instance` attribute (the instance id) to `rollcall.http.request.duration` and
   * reports the per-instance metrics (`rollcall.instance.*`). @default false
   */
  instanceLabels?: boolean | undefined;
}

/** rollcall's instruments on one meter. */
export interface RollcallOtelMetrics {
  /** Stops reporting: observable callbacks removed, events no longer recorded. Idempotent. */
  close(): void;
  /** {@link close}, for `using`. */
  [Symbol.dispose](): void;
}

/** The meter's instrumentation scope name. */
export const METER_NAME = 'rollcall';

/**
 * Reports rollcall's metrics through the OpenTelemetry metrics API. Without an SDK (no
 * MeterProvider registered, none passed) every instrument is a no-op.
 *
 * @example
 * const meterProvider = new MeterProvider({ readers: [new PrometheusExporter()] });
 * observeRollcallMetrics({ meterProvider, lifespan: app.rollcall });
 */
export function observeRollcallMetrics(options: OtelMetricsOptions = {}): RollcallOtelMetrics {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'observeRollcallMetrics options', options);
  const { meterProvider } = options;
  if (meterProvider !== undefined && typeof meterProvider?.getMeter !== 'function') throw new InvalidArgumentError('meterProvider', 'an OpenTelemetry MeterProvider', meterProvider);
  if (options.instanceLabels !== undefined && typeof options.instanceLabels !== 'boolean') throw new InvalidArgumentError('instanceLabels', 'a boolean', options.instanceLabels);
  const parts = observedParts(options, 'options');
  const settings: MetricSettings = { instanceLabels: options.instanceLabels ?? false };
  const meter = (meterProvider ?? metrics.getMeterProvider()).getMeter(METER_NAME);

  const observed: [Observable, ObservableCallback][] = [];
  const fed = new Map<MetricDefinition, Histogram | Counter>();
  for (const definition of METRICS) {
    if (definition.perInstance === true && !settings.instanceLabels) continue;
    const description = { description: definition.help, unit: definition.unit, valueType: ValueType.DOUBLE };
    const read = definition.read;
    if (definition.kind === 'histogram') {
      fed.set(definition, meter.createHistogram(definition.otelName, { ...description, advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] } }));
    } else if (read === undefined) {
      fed.set(definition, meter.createCounter(definition.otelName, description));
    } else {
      const instrument = definition.kind === 'counter' ? meter.createObservableCounter(definition.otelName, description) : meter.createObservableGauge(definition.otelName, description);
      const callback: ObservableCallback = (result) => {
        for (const sample of read(parts)) result.observe(sample.value, sample.labels);
      };
      instrument.addCallback(callback);
      observed.push([instrument, callback]);
    }
  }
  const stop = subscribeMetricEvents((definition, labels, value) => {
    const instrument = fed.get(definition);
    if (instrument === undefined) return;
    if ('record' in instrument) instrument.record(value, labels);
    else instrument.add(value, labels);
  }, settings);

  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    stop();
    for (const [instrument, callback] of observed) instrument.removeCallback(callback);
  };
  return { close, [Symbol.dispose]: close };
}
