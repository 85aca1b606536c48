/**
 * The status view: in one JSON-ready object, what a resolver knows of every service it serves
 * (where each answer comes from, how old it is, its instances with their ejection state and
 * recent latency, its resolves by tier), what the whole registry holds (`describeRegistry`), and
 * the registration's state. "Why is orders unavailable?" without writing code.
 */
import type { RegistryBackend } from '../backends/backend.js';
import type { InstanceEjection, InstanceFigures } from '../balancing/strategy.js';
import { systemClock, type Clock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { HealthStatus, ServiceInstance } from '../core/instance.js';
import { clockOption } from '../core/options.js';
import { describeSettings, type DescribeRegistryOptions, type StatusCounts } from '../inspection/describe.js';
import { sharedRegistryRead, summarize, type InstanceSummary, type RegistryRead, type RegistryReadService } from '../inspection/shared-read.js';
import type { Registration, RegistrationState, RegistrationStats } from '../registration/registration.js';
import type { AnswerSource, Resolver, ResolverStats } from '../resolution/resolver.js';

/** Options of {@link describeStatus}. */
export interface StatusOptions {
  /** The resolver whose services, answers and figures are shown. */
  resolver: Resolver;
  /** The registry to list in full (`describeRegistry`); left out, `registry` is `null`. */
  backend?: RegistryBackend | undefined;
  /** The registration to show; left out (or not registered yet), `registration` is `null`. */
  registration?: Registration | undefined;
  /** How the registry is read. @default describeRegistry's defaults (8 services at a time, 2000 ms per call) */
  describe?: DescribeRegistryOptions | undefined;
  /** Time source of ages and `generatedAt`. @default Date.now */
  clock?: Clock | undefined;
}

/** An instance as the status view shows it. */
export interface StatusInstance extends InstanceSummary {
  /** Time since it registered, in milliseconds. */
  readonly ageMs: number;
  /** When its record last changed (epoch ms). */
  readonly updatedAt: number;
}

/** What the resolver's strategy knows of one instance (see `resolver.instanceFigures`). */
export interface StatusFigures {
  /** Calls started through `pick()` and not yet done. */
  readonly inFlight: number;
  readonly calls: number;
  readonly failures: number;
  /** Recent latency in milliseconds; `null` before the first call ends. */
  readonly latencyMs: number | null;
  /** Outlier ejection: present while the instance is ejected or half-open. */
  readonly ejection?: InstanceEjection | undefined;
}

/** One instance of a resolver's answer, with its figures when the strategy keeps them. */
export interface ResolverStatusInstance extends StatusInstance {
  readonly figures?: StatusFigures | undefined;
}

/** Resolves of a service by the tier that answered them. */
export interface StatusResolves {
  readonly cache: number;
  readonly registry: number;
  readonly stale: number;
  readonly env: number;
  readonly unavailable: number;
}

/** One service the resolver caches. */
export interface ResolverStatusService {
  readonly service: string;
  /** `cache`: the registry's answer; `stale`: an older one, the registry failing; `env`: the environment tier. */
  readonly source: AnswerSource;
  readonly fresh: boolean;
  readonly watching: boolean;
  readonly provisional: boolean;
  /** Time since the registry last vouched for the answer. */
  readonly ageMs: number;
  /** Instances the registry listed, by status (eligible or not). */
  readonly counts: StatusCounts;
  /** Instances outlier ejection holds out (ejected or half-open). */
  readonly ejected: number;
  readonly resolves: StatusResolves;
  /** The instances the resolver picks from. */
  readonly instances: readonly ResolverStatusInstance[];
}

/** One registry service, as `describeRegistry` read it. */
export type RegistryStatusService = RegistryReadService<StatusInstance>;

/** The registry part: read, or why it could not be. */
export type RegistryStatus = RegistryRead<StatusInstance>;

/** The whole view. */
export interface StatusView {
  readonly generatedAt: number;
  readonly registration: {
    readonly service: string;
    readonly id: string;
    readonly state: RegistrationState;
    /** What the local checks say. */
    readonly health: HealthStatus;
    readonly heartbeats: RegistrationStats['heartbeats'];
  } | null;
  readonly resolver: {
    readonly health: 'healthy' | 'degraded';
    readonly breaker: ResolverStats['breaker'];
    readonly stats: ResolverStats;
    /** Every service in cache, by name. */
    readonly services: readonly ResolverStatusService[];
    /** Services counted but not in cache (their lookups failed, or they were evicted), by name. */
    readonly uncached: ReadonlyArray<{ readonly service: string; readonly resolves: StatusResolves }>;
  };
  readonly registry: RegistryStatus | null;
}

/** Checked {@link StatusOptions}, and the reads they lead to. */
export interface StatusReader {
  /** The view now. Concurrent calls share one registry read. */
  (): Promise<StatusView>;
}

/**
 * Builds a reader of the status view; checks the options once (`INVALID_ARGUMENT`). A registry
 * that cannot be read is reported (`reachable: false`), never thrown. `registration` may be a
 * function, read at each call, for registrations that appear once a server listens.
 */
export function statusReader(options: Omit<StatusOptions, 'registration'> & { registration?: Registration | (() => Registration | undefined) | undefined }): StatusReader {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'status options { resolver, backend?, registration? }', options);
  const { resolver, backend, registration } = options;
  if (typeof resolver?.statuses !== 'function' || typeof resolver.resolveCounts !== 'function') throw new InvalidArgumentError('resolver', 'a Resolver', resolver);
  if (backend !== undefined && (typeof backend?.services !== 'function' || typeof backend.instances !== 'function')) throw new InvalidArgumentError('backend', 'a RegistryBackend', backend);
  if (registration !== undefined && typeof registration !== 'function' && typeof registration?.stats !== 'function') {
    throw new InvalidArgumentError('registration', 'a Registration', registration);
  }
  const describe = describeSettings(options.describe, 'describe');
  const clock = clockOption(options.clock, systemClock, 'clock');
  const readRegistry = backend === undefined ? (): Promise<null> => Promise.resolve(null) : sharedRegistryRead(backend, describe, (instance) => statusInstance(instance, clock.now()));
  return async () => {
    const now = clock.now();
    const registry = await readRegistry();
    const current = typeof registration === 'function' ? registration() : registration;
    return { generatedAt: now, registration: registrationView(current), resolver: resolverView(resolver, now), registry };
  };
}

/**
 * The status view of `resolver` (and of the registry behind `backend`, and `registration`, when
 * given), in one call. Rejects only for bad options (`INVALID_ARGUMENT`).
 *
 * @example
 * const status = await describeStatus({ resolver, backend });
 * status.resolver.services.find((s) => s.service === 'orders')?.source; // 'cache' | 'stale' | 'env'
 */
export async function describeStatus(options: StatusOptions): Promise<StatusView> {
  return statusReader(options)();
}

function registrationView(registration: Registration | undefined): StatusView['registration'] {
  if (registration === undefined) return null;
  const { instance } = registration;
  return { service: instance.service, id: instance.id, state: registration.state, health: registration.health.status, heartbeats: registration.stats().heartbeats };
}

function resolverView(resolver: Resolver, now: number): StatusView['resolver'] {
  const resolves = new Map(resolver.resolveCounts().map(({ service, ...counts }) => [service, counts]));
  const services = resolver
    .statuses()
    .map((status): ResolverStatusService => {
      const figures = new Map((resolver.instanceFigures(status.service) ?? []).map((figure) => [figure.id, figure]));
      const instances = status.instances.map((instance): ResolverStatusInstance => {
        const figure = figures.get(instance.id);
        return figure === undefined ? statusInstance(instance, now) : { ...statusInstance(instance, now), figures: statusFigures(figure) };
      });
      return {
        service: status.service,
        source: status.source,
        fresh: status.fresh,
        watching: status.watching,
        provisional: status.provisional,
        ageMs: status.ageMs,
        counts: status.counts,
        ejected: [...figures.values()].filter((figure) => figure.ejection !== undefined).length,
        resolves: resolves.get(status.service) ?? NO_RESOLVES,
        instances,
      };
    })
    .sort(byService);
  const cached = new Set(services.map((service) => service.service));
  const uncached = [...resolves]
    .filter(([service]) => !cached.has(service))
    .map(([service, counts]) => ({ service, resolves: counts }))
    .sort(byService);
  const stats = resolver.stats();
  return { health: resolver.health, breaker: stats.breaker, stats, services, uncached };
}

const NO_RESOLVES: StatusResolves = { cache: 0, registry: 0, stale: 0, env: 0, unavailable: 0 };

function statusInstance(instance: ServiceInstance, now: number): StatusInstance {
  return { ...summarize(instance), ageMs: Math.max(0, now - instance.registeredAt), updatedAt: instance.updatedAt };
}

function statusFigures(figure: InstanceFigures): StatusFigures {
  return {
    inFlight: figure.outstanding,
    calls: figure.calls,
    failures: figure.failures,
    latencyMs: figure.latencyMs ?? null,
    ...(figure.ejection === undefined ? {} : { ejection: figure.ejection }),
  };
}

function byService(a: { readonly service: string }, b: { readonly service: string }): number {
  return a.service < b.service ? -1 : a.service > b.service ? 1 : 0;
}
