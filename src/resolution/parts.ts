/**
 * Builds a resolver's parts from its checked options and wires them to each other: the cache
 * (whose evictions stop the service's watch, grace window and strategy state), the counts, the
 * registry guard, degraded services, watches (whose deliveries fill the cache) and the lookup.
 * The resolver keeps the public face, the warm path and the events.
 */
import { LRUCache } from 'lru-cache';
import { Degradations, type DegradationListener } from './degradation.js';
import { newCounters, type CacheEntry } from './entries.js';
import { Lookup, type LookupParts } from './lookup.js';
import type { CheckedResolverOptions } from './options.js';
import { RegistryGuard } from './registry-guard.js';
import { ResetGrace } from './reset-grace.js';
import { ResolveTallies } from './tallies.js';
import type { BreakerState } from './types.js';
import { ServiceWatches } from './watches.js';

/** Everything a resolver is made of. */
export interface ResolverParts extends LookupParts {
  readonly lookup: Lookup;
}

/** What the parts tell the resolver, for its events. */
export interface ResolverHooks extends DegradationListener {
  breaker(state: BreakerState): void;
  isClosed(): boolean;
}

export function assembleResolver(settings: CheckedResolverOptions, hooks: ResolverHooks): ResolverParts {
  const { clock, log, strategy } = settings;
  const grace = new ResetGrace();
  const cache: LRUCache<string, CacheEntry> = new LRUCache<string, CacheEntry>({
    max: settings.maxServices,
    ttl: settings.cacheTtlMs,
    // Reads the clock at most every 10 ms instead of on every hit.
    ttlResolution: 10,
    noDeleteOnStaleGet: true,
    perf: { now: () => clock.now() },
    dispose: (_entry, service, reason) => {
      if (reason !== 'evict' && reason !== 'delete') return;
      watches.stop(service);
      grace.forget(service);
      strategy.release?.(service);
    },
  });
  const counters = newCounters();
  // Cached whatever their TTL: a service past it is still counted as cached.
  const tallies = new ResolveTallies({
    get size() {
      return cache.size;
    },
    has: (service) => cache.peek(service, { allowStale: true }) !== undefined,
  });
  const guard = new RegistryGuard(settings, (state) => hooks.breaker(state));
  const degradations = new Degradations(clock, log, hooks);
  const watches = new ServiceWatches(settings.backend, settings.watch, log, {
    delivered: (service, instances) => {
      counters.watchUpdates++;
      // A delivery proves the registry answers: it is no longer failing, and the breaker closes.
      guard.answered();
      lookup.registryAnswered(service, instances);
    },
    broke: (service) => lookup.watchBroke(service),
  });
  const parts: LookupParts = { cache, counters, tallies, guard, watches, degradations, grace, isClosed: () => hooks.isClosed() };
  const lookup = new Lookup(settings, parts);
  return { ...parts, lookup };
}
