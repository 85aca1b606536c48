/**
 * The body of the gateway's services route: per-service health read from the registry
 * (`describeRegistry`), and what the gateway's resolver caches and would route to. JSON-ready;
 * instances are shown as id, URL and status, not with their metadata.
 */
import type { RegistryBackend } from '../backends/backend.js';
import type { DescribeRegistryOptions } from '../inspection/describe.js';
import { sharedRegistryRead, summarize, type InstanceSummary, type RegistryRead } from '../inspection/shared-read.js';
import type { AnswerSource, Resolver, ResolverStats } from '../resolution/resolver.js';

/** One instance as the listing shows it. */
export type ListedInstance = InstanceSummary;

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

export type RegistryListing = Extract<RegistryRead<ListedInstance>, { readonly reachable: true }>;

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
  const readRegistry = backend === undefined ? (): Promise<null> => Promise.resolve(null) : sharedRegistryRead(backend, options, summarize);
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
