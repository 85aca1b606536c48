/**
 * `rollcall/prometheus`: rollcall's metrics on a prom-client `Registry` (prom-client is an
 * optional peer dependency, loaded only by this subpath). Counters and gauges are read from the
 * resolvers, registrations and backends you pass when the registry is scraped; durations,
 * retries and ejections are observed from rollcall's diagnostics channels as they happen.
 * docs/observability.md lists every metric.
 *
 * @module rollcall/prometheus
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { InvalidArgumentError } from '../core/errors.js';
import { DURATION_BUCKETS_SECONDS, METRICS, labelsOf, subscribeMetricEvents, type MetricDefinition, type MetricSettings } from '../observability/metrics.js';
import { observedParts, type ObservedParts } from '../observability/parts.js';

/** Options of {@link registerRollcallMetrics}. */
export interface PrometheusMetricsOptions extends ObservedParts {
  /**
   * Adds an `instance` label (the instance id) to `rollcall_http_request_duration_seconds` and
   * exports the per-instance metrics (`rollcall_instance_*`). One series per instance: keep it
   * off where services have many instances or churn through ids. @default false
   */
  instanceLabels?: boolean | undefined;
}

/** rollcall's collectors on one registry. */
export interface RollcallPrometheusMetrics {
  /** Names of the metrics registered. */
  readonly names: readonly string[];
  /** Removes the metrics from the registry and stops observing events. Idempotent. */
  unregister(): void;
  /** {@link unregister}, for `using`. */
  [Symbol.dispose](): void;
}

type Observed = { observe(labels: Record<string, string>, value: number): void } | { inc(labels: Record<string, string>, value: number): void };

/**
 * Registers rollcall's metrics on `registry`. Rejects (throws `INVALID_ARGUMENT`) a registry that
 * already has them: call `unregister()` on the earlier set first, or pass several resolvers,
 * registrations and backends in one call (their series are summed).
 *
 * @example
 * import { Registry, collectDefaultMetrics } from 'prom-client';
 * const registry = new Registry();
 * registerRollcallMetrics(registry, { lifespan: app.rollcall });
 * app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
 */
export function registerRollcallMetrics(registry: Registry, options: PrometheusMetricsOptions = {}): RollcallPrometheusMetrics {
  if (typeof registry?.registerMetric !== 'function' || typeof registry.getSingleMetric !== 'function') {
    throw new InvalidArgumentError('registry', 'a prom-client Registry', registry);
  }
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'registerRollcallMetrics options', options);
  if (options.instanceLabels !== undefined && typeof options.instanceLabels !== 'boolean') {
    throw new InvalidArgumentError('instanceLabels', 'a boolean', options.instanceLabels);
  }
  const parts = observedParts(options, 'options');
  const settings: MetricSettings = { instanceLabels: options.instanceLabels ?? false };
  const definitions = METRICS.filter((definition) => settings.instanceLabels || definition.perInstance !== true);
  const taken = definitions.find((definition) => registry.getSingleMetric(definition.name) !== undefined);
  if (taken !== undefined) {
    throw new InvalidArgumentError('registry', `a Registry without rollcall's metrics (unregister() the earlier set first)`, `a Registry that has ${taken.name}`);
  }

  const fed = new Map<MetricDefinition, Observed>();
  for (const definition of definitions) {
    const config = { name: definition.name, help: definition.help, labelNames: [...labelsOf(definition, settings)], registers: [registry] };
    const read = definition.read;
    if (definition.kind === 'histogram') {
      fed.set(definition, new Histogram({ ...config, buckets: [...DURATION_BUCKETS_SECONDS] }));
    } else if (read === undefined) {
      fed.set(definition, new Counter(config));
    } else if (definition.kind === 'counter') {
      new Counter({
        ...config,
        collect() {
          this.reset();
          for (const sample of read(parts)) this.inc(sample.labels, sample.value);
        },
      });
    } else {
      new Gauge({
        ...config,
        collect() {
          this.reset();
          for (const sample of read(parts)) this.set(sample.labels, sample.value);
        },
      });
    }
  }
  const stop = subscribeMetricEvents((definition, labels, value) => {
    const target = fed.get(definition);
    if (target === undefined) return;
    if ('observe' in target) target.observe(labels, value);
    else target.inc(labels, value);
  }, settings);

  const names = definitions.map((definition) => definition.name);
  let registered = true;
  const unregister = (): void => {
    if (!registered) return;
    registered = false;
    stop();
    for (const name of names) registry.removeSingleMetric(name);
  };
  return { names, unregister, [Symbol.dispose]: unregister };
}

export type { ObservedParts } from '../observability/parts.js';
