/**
 * What the resolver caches per service: an answer parsed once when it enters the cache (eligible
 * instances, counts by status, the strategy's picker), so that a cache hit only picks.
 */
import type { InstanceStatus, ServiceInstance } from '../core/instance.js';
import type { Picker } from '../balancing/strategy.js';
import type { WarningPolicy } from './options.js';
import type { Counter } from './tallies.js';
import type { AnswerSource, ResolverStats, ServiceResolutionStatus } from './types.js';

export interface CacheEntry {
  /** Eligible instances only. */
  readonly instances: readonly ServiceInstance[];
  readonly listed: number;
  readonly counts: Readonly<Record<InstanceStatus, number>>;
  /** What a cache hit on this entry counts: its service's counter for `source`. */
  readonly hits: Counter;
  /** Undefined when no instance is eligible (a cached "nobody"). */
  readonly picker: Picker | undefined;
  readonly updatedAt: number;
  /** When the registry last vouched for this answer, a working watch aside (see `Resolver.status()`). */
  readonly confirmedAt: number;
  readonly source: AnswerSource;
  readonly provisional: boolean;
}

/** The resolver's counters, plain integers mutated in place (the breaker's state is read apart). */
export type ResolverCounters = { -readonly [Name in Exclude<keyof ResolverStats, 'breaker'>]: number };

export function newCounters(): ResolverCounters {
  return {
    hits: 0,
    misses: 0,
    registryFetches: 0,
    registryFailures: 0,
    watchUpdates: 0,
    staleFallbacks: 0,
    envFallbacks: 0,
    unavailable: 0,
    resets: 0,
    provisionalAnswers: 0,
  };
}

/** The instances of `listed` a strategy may pick from under `warning`; `critical` and `draining` never. */
export function eligible(listed: readonly ServiceInstance[], warning: WarningPolicy): readonly ServiceInstance[] {
  // Usually every instance passes: a frozen list (as watches deliver) is then kept as it is,
  // rather than copied for each service and each change. A plain loop: V8's array builtins
  // (every, filter, slice) are many times slower on frozen arrays.
  if (Object.isFrozen(listed) && allPassing(listed)) return listed;
  const passing = listed.filter((instance) => instance.status === 'passing');
  if (warning === 'exclude' || (warning === 'fallback' && passing.length > 0)) return Object.freeze(passing);
  return Object.freeze(listed.filter((instance) => instance.status === 'passing' || instance.status === 'warning'));
}

function allPassing(listed: readonly ServiceInstance[]): boolean {
  for (let i = 0; i < listed.length; i++) if ((listed[i] as ServiceInstance).status !== 'passing') return false;
  return true;
}

export function countByStatus(instances: readonly ServiceInstance[]): Readonly<Record<InstanceStatus, number>> {
  const counts = { passing: 0, warning: 0, critical: 0, draining: 0 };
  // A third-party backend's bad status is not counted (nor picked: see eligible()).
  for (const instance of instances) if (Object.hasOwn(counts, instance.status)) counts[instance.status]++;
  return counts;
}

/**
 * The status of a cached answer. `remainingTtl`: lru-cache's (negative once past the TTL,
 * `undefined` for none); `watching` and `confirmedAt` as the resolver knows them at `now`.
 */
export function describeEntry(
  service: string,
  entry: CacheEntry,
  remainingTtl: number | undefined,
  watching: boolean,
  confirmedAt: number,
  now: number,
): ServiceResolutionStatus {
  return {
    service,
    source: entry.source,
    fresh: remainingTtl === undefined || remainingTtl >= 0,
    watching,
    provisional: entry.provisional,
    updatedAt: entry.updatedAt,
    confirmedAt,
    ageMs: Math.max(0, now - confirmedAt),
    instances: entry.instances,
    listed: entry.listed,
    counts: entry.counts,
  };
}
