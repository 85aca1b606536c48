/**
 * rollcall's metrics, once, for every exporter: names, help, labels, and how each is obtained.
 * State metrics are read from the objects' own counters and caches when the exporter collects
 * (nothing is counted per call beyond the plain integers those objects keep); event metrics
 * (durations, retries, ejections) are fed by the diagnostics channels.
 *
 * Label cardinality: `service` takes the names a resolver caches (at most its `maxServices`) plus
 * the last 100 it could not resolve, or that registrations and HTTP attempts name; every other
 * label has a fixed set of values, except `instance`, which is opt-in (`instanceLabels`).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { InstanceFigures } from '../balancing/strategy.js';
import { INSTANCE_STATUSES } from '../core/instance.js';
import type { RegistrationState } from '../registration/registration.js';
import type { ResolverStats } from '../resolution/resolver.js';
import { CHANNELS, type EjectionMessage, type HttpAttemptMessage, type HttpRetryMessage, type RegistryCallMessage } from './channels.js';
import type { Parts } from './parts.js';

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** One sample of a state metric. */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Settings shared by the exporters. */
export interface MetricSettings {
  /** Whether per-instance metrics and `instance` labels are on. */
  readonly instanceLabels: boolean;
}

export interface MetricDefinition {
  /** Prometheus name, e.g. `rollcall_resolves_total`. */
  readonly name: string;
  /** OpenTelemetry instrument name, e.g. `rollcall.resolves`; an OTel Prometheus exporter turns it into `name`. */
  readonly otelName: string;
  readonly kind: MetricKind;
  readonly help: string;
  /** UCUM unit for OpenTelemetry (`s`, `{call}`). */
  readonly unit: string;
  /** Label names, `instance` included where `instanceLabels` may add it. */
  readonly labels: readonly string[];
  /** Only exported with `instanceLabels: true`. */
  readonly perInstance?: boolean;
  /** State metrics: the samples now. Event metrics have none. */
  readonly read?: (parts: Parts) => Sample[];
}

/** Bucket bounds of the duration histograms, in seconds: sub-millisecond registry calls to 10 s. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const RESOLVE_SOURCES = ['cache', 'registry', 'stale', 'env', 'unavailable'] as const;
const BREAKER_STATES: readonly ResolverStats['breaker'][] = ['closed', 'open', 'half-open'];
const REGISTRATION_STATES: readonly RegistrationState[] = ['starting', 'registered', 'standalone', 'draining', 'stopped'];

/** Sums samples with equal labels (two resolvers caching one service, say). */
class Samples {
  readonly #byKey = new Map<string, { labels: Record<string, string>; value: number }>();

  add(labels: Record<string, string>, value: number): void {
    if (!Number.isFinite(value)) return;
    const key = Object.values(labels).join('\u0000');
    const existing = this.#byKey.get(key);
    if (existing === undefined) this.#byKey.set(key, { labels, value });
    else existing.value += value;
  }

  list(): Sample[] {
    return [...this.#byKey.values()];
  }
}

function collect(fill: (samples: Samples) => void): Sample[] {
  const samples = new Samples();
  fill(samples);
  return samples.list();
}

/** Figures of every instance of every service the resolvers cache. */
function eachInstanceFigure(parts: Parts, visit: (service: string, figure: InstanceFigures) => void): void {
  for (const resolver of parts.resolvers()) {
    for (const { service } of resolver.statuses()) {
      for (const figure of resolver.instanceFigures(service) ?? []) visit(service, figure);
    }
  }
}

/** Every metric rollcall exports, state metrics first. */
export const METRICS: readonly MetricDefinition[] = [
  {
    name: 'rollcall_resolves_total',
    otelName: 'rollcall.resolves',
    kind: 'counter',
    unit: '{resolve}',
    help: 'Resolves (resolve, pick, resolveAll) by service and by the tier that answered: cache, registry, stale, env, or unavailable.',
    labels: ['service', 'source'],
    read: (parts) =>
      collect((samples) => {
        for (const resolver of parts.resolvers()) {
          for (const counts of resolver.resolveCounts()) {
            for (const source of RESOLVE_SOURCES) samples.add({ service: counts.service, source }, counts[source]);
          }
        }
      }),
  },
  {
    name: 'rollcall_resolver_instances',
    otelName: 'rollcall.resolver.instances',
    kind: 'gauge',
    unit: '{instance}',
    help: "Instances in the resolvers' current answers, by service and status (as the registry listed them).",
    labels: ['service', 'status'],
    read: (parts) =>
      collect((samples) => {
        for (const resolver of parts.resolvers()) {
          for (const status of resolver.statuses()) {
            for (const state of INSTANCE_STATUSES) samples.add({ service: status.service, status: state }, status.counts[state]);
          }
        }
      }),
  },
  {
    name: 'rollcall_resolver_degraded_services',
    otelName: 'rollcall.resolver.degraded_services',
    kind: 'gauge',
    unit: '{service}',
    help: 'Services answered from stale cache or from the environment because the registry failed.',
    labels: ['source'],
    read: (parts) =>
      collect((samples) => {
        samples.add({ source: 'stale' }, 0);
        samples.add({ source: 'env' }, 0);
        for (const resolver of parts.resolvers()) {
          for (const { source } of resolver.statuses()) if (source !== 'cache') samples.add({ source }, 1);
        }
      }),
  },
  {
    name: 'rollcall_registry_breaker_state',
    otelName: 'rollcall.registry.breaker_state',
    kind: 'gauge',
    unit: '{resolver}',
    help: "Resolvers whose registry circuit breaker is in each state (closed, open, half-open).",
    labels: ['state'],
    read: (parts) =>
      collect((samples) => {
        for (const state of BREAKER_STATES) samples.add({ state }, 0);
        for (const resolver of parts.resolvers()) samples.add({ state: resolver.stats().breaker }, 1);
      }),
  },
  {
    name: 'rollcall_resolver_resets_total',
    otelName: 'rollcall.resolver.resets',
    kind: 'counter',
    unit: '{reset}',
    help: 'Losses of registry data the backends reported to the resolvers (onReset).',
    labels: [],
    read: (parts) =>
      collect((samples) => {
        samples.add({}, 0);
        for (const resolver of parts.resolvers()) samples.add({}, resolver.stats().resets);
      }),
  },
  {
    name: 'rollcall_ejected_instances',
    otelName: 'rollcall.ejected_instances',
    kind: 'gauge',
    unit: '{instance}',
    help: 'Instances outlier ejection holds out of rotation (ejected or half-open), by service.',
    labels: ['service'],
    read: (parts) =>
      collect((samples) => {
        eachInstanceFigure(parts, (service, figure) => samples.add({ service }, figure.ejection === undefined ? 0 : 1));
      }),
  },
  {
    name: 'rollcall_registration_state',
    otelName: 'rollcall.registration.state',
    kind: 'gauge',
    unit: '{registration}',
    help: 'Registrations in each state (starting, registered, standalone, draining, stopped), by service.',
    labels: ['service', 'state'],
    read: (parts) =>
      collect((samples) => {
        for (const registration of parts.registrations()) {
          const service = registration.instance.service;
          for (const state of REGISTRATION_STATES) samples.add({ service, state }, registration.state === state ? 1 : 0);
        }
      }),
  },
  {
    name: 'rollcall_heartbeats_total',
    otelName: 'rollcall.heartbeats',
    kind: 'counter',
    unit: '{heartbeat}',
    help: 'Heartbeats by service and outcome: ok (renewed), lost (the registry had lost the instance; registered again), failed.',
    labels: ['service', 'outcome'],
    read: (parts) =>
      collect((samples) => {
        for (const registration of parts.registrations()) {
          const service = registration.instance.service;
          const { heartbeats } = registration.stats();
          samples.add({ service, outcome: 'ok' }, heartbeats.ok);
          samples.add({ service, outcome: 'lost' }, heartbeats.lost);
          samples.add({ service, outcome: 'failed' }, heartbeats.failed);
        }
      }),
  },
  backendCounter('rollcall_malformed_records_total', 'rollcall.malformed_records', '{record}', 'malformedRecords', 'Registry records skipped as malformed (each skip counts, also on re-reads), by backend.'),
  backendCounter('rollcall_watch_reconnects_total', 'rollcall.watch.reconnects', '{reconnect}', 'watchReconnects', 'Times a broken watch got the registry back, by backend.'),
  {
    name: 'rollcall_watches',
    otelName: 'rollcall.watches',
    kind: 'gauge',
    unit: '{watch}',
    help: 'Services with a registry watch running, by backend.',
    labels: ['backend'],
    read: (parts) => backendSamples(parts, 'activeWatches'),
  },
  {
    name: 'rollcall_instance_in_flight',
    otelName: 'rollcall.instance.in_flight',
    kind: 'gauge',
    unit: '{call}',
    help: 'Calls picked through Resolver.pick() and not yet done, by service and instance (instanceLabels).',
    labels: ['service', 'instance'],
    perInstance: true,
    read: (parts) => collect((samples) => eachInstanceFigure(parts, (service, figure) => samples.add({ service, instance: figure.id }, figure.outstanding))),
  },
  {
    name: 'rollcall_instance_calls_total',
    otelName: 'rollcall.instance.calls',
    kind: 'counter',
    unit: '{call}',
    help: 'Calls reported through done(), by service and instance (instanceLabels); restarts when the strategy forgets the instance.',
    labels: ['service', 'instance'],
    perInstance: true,
    read: (parts) => collect((samples) => eachInstanceFigure(parts, (service, figure) => samples.add({ service, instance: figure.id }, figure.calls))),
  },
  {
    name: 'rollcall_instance_failures_total',
    otelName: 'rollcall.instance.failures',
    kind: 'counter',
    unit: '{call}',
    help: 'Calls reported failed through done(), by service and instance (instanceLabels).',
    labels: ['service', 'instance'],
    perInstance: true,
    read: (parts) => collect((samples) => eachInstanceFigure(parts, (service, figure) => samples.add({ service, instance: figure.id }, figure.failures))),
  },
  {
    name: 'rollcall_instance_latency_seconds',
    otelName: 'rollcall.instance.latency',
    kind: 'gauge',
    unit: 's',
    help: 'Recent latency of calls to an instance (an exponentially weighted average over about 20 calls), by service and instance (instanceLabels).',
    labels: ['service', 'instance'],
    perInstance: true,
    read: (parts) =>
      collect((samples) =>
        eachInstanceFigure(parts, (service, figure) => {
          if (figure.latencyMs !== undefined) samples.add({ service, instance: figure.id }, figure.latencyMs / 1000);
        }),
      ),
  },
  {
    name: 'rollcall_instance_ejected',
    otelName: 'rollcall.instance.ejected',
    kind: 'gauge',
    unit: '1',
    help: 'Whether outlier ejection holds the instance out (1) or not (0), by service and instance (instanceLabels).',
    labels: ['service', 'instance'],
    perInstance: true,
    read: (parts) => collect((samples) => eachInstanceFigure(parts, (service, figure) => samples.add({ service, instance: figure.id }, figure.ejection === undefined ? 0 : 1))),
  },
  {
    name: 'rollcall_registry_call_duration_seconds',
    otelName: 'rollcall.registry.call.duration',
    kind: 'histogram',
    unit: 's',
    help: "Registry calls that went to the network, by backend, operation and outcome (ok, error); a Consul watch's long poll lasts up to its wait.",
    labels: ['backend', 'operation', 'outcome'],
  },
  {
    name: 'rollcall_http_request_duration_seconds',
    otelName: 'rollcall.http.request.duration',
    kind: 'histogram',
    unit: 's',
    help: 'Discovery-HTTP requests to instances, one per try, until the answer headers: by service, client (fetch, dispatcher, gateway) and outcome (ok, failure, error, timeout, cancelled).',
    labels: ['service', 'client', 'outcome', 'instance'],
  },
  {
    name: 'rollcall_http_retries_total',
    otelName: 'rollcall.http.retries',
    kind: 'counter',
    unit: '{retry}',
    help: 'Requests sent again to another instance, by service, client and reason (status, connection).',
    labels: ['service', 'client', 'reason'],
  },
  {
    name: 'rollcall_http_retry_budget_refusals_total',
    otelName: 'rollcall.http.retry_budget.refusals',
    kind: 'counter',
    unit: '{retry}',
    help: 'Retries the retry budget refused, by service and client.',
    labels: ['service', 'client'],
  },
  {
    name: 'rollcall_outlier_ejections_total',
    otelName: 'rollcall.outlier.ejections',
    kind: 'counter',
    unit: '{ejection}',
    help: 'Instances taken out by outlier ejection, by service and reason (consecutive-failures, failure-window, failed-trial).',
    labels: ['service', 'reason'],
  },
];

function backendSamples(parts: Parts, field: 'malformedRecords' | 'watchReconnects' | 'activeWatches'): Sample[] {
  return collect((samples) => {
    for (const backend of parts.backends()) {
      const stats = typeof backend.stats === 'function' ? backend.stats() : undefined;
      const value = stats?.[field];
      if (typeof value === 'number') samples.add({ backend: backend.kind }, value);
    }
  });
}

function backendCounter(name: string, otelName: string, unit: string, field: 'malformedRecords' | 'watchReconnects', help: string): MetricDefinition {
  return { name, otelName, kind: 'counter', unit, help, labels: ['backend'], read: (parts) => backendSamples(parts, field) };
}

/** The definition named `name`; throws for a name not in {@link METRICS} (a bug, not input). */
export function metric(name: string): MetricDefinition {
  const found = METRICS.find((definition) => definition.name === name);
  if (found === undefined) throw new Error(`no rollcall metric ${name}`);
  return found;
}

/** The label names a metric carries with these settings. */
export function labelsOf(definition: MetricDefinition, settings: MetricSettings): readonly string[] {
  return settings.instanceLabels || definition.perInstance === true ? definition.labels : definition.labels.filter((label) => label !== 'instance');
}

/** Where event metrics go: a histogram observation in seconds, or a counter increment. */
export type EventSink = (definition: MetricDefinition, labels: Readonly<Record<string, string>>, value: number) => void;

/**
 * Feeds `sink` from rollcall's diagnostics channels (every rollcall object in the process) until
 * the returned function is called. A throwing sink is ignored: a channel subscriber that throws
 * would surface as an uncaught exception in the publisher's process.
 */
export function subscribeMetricEvents(sink: EventSink, settings: MetricSettings): () => void {
  const registryCalls = metric('rollcall_registry_call_duration_seconds');
  const requests = metric('rollcall_http_request_duration_seconds');
  const retries = metric('rollcall_http_retries_total');
  const refusals = metric('rollcall_http_retry_budget_refusals_total');
  const ejections = metric('rollcall_outlier_ejections_total');
  const safely =
    <M>(handle: (message: M) => void) =>
    (message: unknown): void => {
      try {
        handle(message as M);
      } catch {
        // See above: never let an exporter's failure reach the publisher.
      }
    };
  const handlers: [string, (message: unknown) => void][] = [
    [
      `tracing:${CHANNELS.registryCall}:asyncEnd`,
      safely<RegistryCallMessage>((message) => {
        const labels = { backend: message.target.backend, operation: message.operation, outcome: message.outcome ?? 'error' };
        sink(registryCalls, labels, (message.durationMs ?? 0) / 1000);
      }),
    ],
    [
      `tracing:${CHANNELS.httpAttempt}:asyncEnd`,
      safely<HttpAttemptMessage>((message) => {
        const labels: Record<string, string> = { service: message.service, client: message.client, outcome: message.outcome ?? 'error' };
        if (settings.instanceLabels) labels['instance'] = message.instance.id;
        sink(requests, labels, (message.durationMs ?? 0) / 1000);
      }),
    ],
    [CHANNELS.httpRetry, safely<HttpRetryMessage>((message) => sink(retries, { service: message.service, client: message.client, reason: message.reason }, 1))],
    [CHANNELS.retryBudgetRefused, safely<HttpRetryMessage>((message) => sink(refusals, { service: message.service, client: message.client }, 1))],
    [
      CHANNELS.ejection,
      safely<EjectionMessage>((message) => {
        if (message.type === 'ejected') sink(ejections, { service: message.service, reason: message.reason ?? 'unknown' }, 1);
      }),
    ],
  ];
  for (const [name, handler] of handlers) subscribe(name, handler);
  let subscribed = true;
  return () => {
    if (!subscribed) return;
    subscribed = false;
    for (const [name, handler] of handlers) unsubscribe(name, handler);
  };
}
