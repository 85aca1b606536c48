/**
 * The body of the gateway's services route: per-service health read from the registry
 * (`describeRegistry`), and what the gateway's resolver caches and would route to. JSON-ready;
 * instances are shown as id, URL and status, not with their metadata.
 */
import type { RegistryBackend } from '../backends/backend.js';
import { isRollcallError, messageOf } from '../core/errors.js';
import { instanceOrigin, type InstanceStatus, type ServiceInstance } from '../core/instance.js';
import { describeRegistry, type DescribeRegistryOptions, type ServiceHealth, type StatusCounts } from '../inspection/describe.js';
import type { AnswerSource, Resolver, ResolverStats } from '../resolution/resolver.js';

/** One instance as the listing shows it. */
export interface ListedInstance {
  readonly id: string;
  /** `protocol://host:port`. */
  readonly url: string;
  readonly status: InstanceStatus;
  readonly zone?: string;
  readonly version?: string;
}

/** What the services route answers. */
export interface ServicesListing {
  /**
   * The registry as `describeRegistry` read it just now; `reachable: false` with the error when the
   * list of services could not be read; `null` when the gateway was given no backend.
   */
  readonly registry: RegistryListing | { readonly backend: string; readonly reachable: false; readonly error: { readonly code: string; readonly message: string } } | null;
  /** The gateway's resolver: what it caches (and so routes to), including while the registry is down. */
  readonly resolver: {
    readonly health: 'healthy' | 'degraded';
    readonly breaker: ResolverStats['breaker'];
    readonly services: readonly ResolverView[];
  };
}

export interface RegistryListing {
  readonly backend: string;
  readonly reachable: true;
  readonly readAt: number;
  readonly instanceCounts: StatusCounts;
  readonly healthCounts: Readonly<Record<ServiceHealth, number>>;
  readonly services: ReadonlyArray<{
    readonly service: string;
    readonly health: ServiceHealth;
    readonly counts: StatusCounts;
    readonly instances: readonly ListedInstance[];
    readonly error?: { readonly code: string; readonly message: string };
  }>;
}

/** One service in the resolver's cache. */
export interface ResolverView {
  readonly service: string;
  /** `cache`: the registry's current answer; `stale`: an older one, the registry failing; `env`: the environment tier. */
  readonly source: AnswerSource;
  readonly fresh: boolean;
  readonly watching: boolean;
  readonly ageMs: number;
  /** Instances the registry listed, eligible or not. */
  readonly listed: number;
  /** Ids of the instances the gateway picks from. */
  readonly eligible: readonly string[];
}

/** Builds listings; concurrent requests share one registry read. */
export function servicesLister(backend: RegistryBackend | undefined, resolver: Resolver, options: DescribeRegistryOptions): () => Promise<ServicesListing> {
  let reading: Promise<ServicesListing['registry']> | undefined;
  const readRegistry = (): Promise<ServicesListing['registry']> => {
    if (backend === undefined) return Promise.resolve(null);
    reading ??= describeRegistry(backend, options)
      .then(
        (registry): RegistryListing => ({
          backend: registry.backend,
          reachable: true,
          readAt: registry.readAt,
          instanceCounts: registry.instanceCounts,
          healthCounts: registry.healthCounts,
          services: registry.services.map(({ service, health, counts, instances, error }) => ({
            service,
            health,
            counts,
            instances: instances.map(listed),
            ...(error === undefined ? {} : { error }),
          })),
        }),
        (error: unknown) => ({
          backend: backend.kind,
          reachable: false as const,
          error: { code: isRollcallError(error) ? error.code : 'REGISTRY_UNAVAILABLE', message: messageOf(error) },
        }),
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };
  return async () => {
    const registry = await readRegistry();
    const stats = resolver.stats();
    return { registry, resolver: { health: resolver.health, breaker: stats.breaker, services: resolverViews(resolver) } };
  };
}

function resolverViews(resolver: Resolver): ResolverView[] {
  return resolver
    .statuses()
    .map((status) => ({
      service: status.service,
      source: status.source,
      fresh: status.fresh,
      watching: status.watching,
      ageMs: status.ageMs,
      listed: status.listed,
      eligible: status.instances.map((instance) => instance.id),
    }))
    .sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}

function listed(instance: ServiceInstance): ListedInstance {
  return {
    id: instance.id,
    url: instanceOrigin(instance),
    status: instance.status,
    ...(instance.zone === undefined ? {} : { zone: instance.zone }),
    ...(instance.version === undefined ? {} : { version: instance.version }),
  };
}
