/**
 * Resolves counted per service and answering tier, for metrics and status pages. A cache entry
 * holds its service's counter by reference, so a cache hit counts with one integer increment and
 * no lookup; the snapshot is read when a scrape asks.
 */
import type { ResolveSource, ServiceResolveCounts } from './types.js';

/** One counter, shared by reference so that a cache hit increments it without a lookup. */
export interface Counter {
  count: number;
}

/** A service's resolves by answering tier. */
export type Tally = Readonly<Record<ResolveSource | 'unavailable', Counter>>;

/**
 * Services counted while not in cache (their lookups failed, or they were evicted) beyond those
 * cached: the oldest of them is forgotten first, so names nobody can resolve cannot grow the
 * counts without bound.
 */
const UNCACHED_COUNTED = 100;

/** Every cached service's counts, and those of up to {@link UNCACHED_COUNTED} others. */
export class ResolveTallies {
  readonly #tallies = new Map<string, Tally>();
  readonly #cache: { readonly size: number; has(service: string): boolean };

  /** `cache` tells which services are cached (whatever their TTL) and how many. */
  constructor(cache: { readonly size: number; has(service: string): boolean }) {
    this.#cache = cache;
  }

  /** The counts of `service`, created on first use; makes room by forgetting the oldest service not in cache. */
  of(service: string): Tally {
    let tally = this.#tallies.get(service);
    if (tally !== undefined) return tally;
    // Every cached service has counts, so the difference is the number of uncached ones.
    if (this.#tallies.size - this.#cache.size >= UNCACHED_COUNTED) {
      for (const name of this.#tallies.keys()) {
        if (name !== service && !this.#cache.has(name)) {
          this.#tallies.delete(name);
          break;
        }
      }
    }
    tally = { cache: { count: 0 }, registry: { count: 0 }, stale: { count: 0 }, env: { count: 0 }, unavailable: { count: 0 } };
    this.#tallies.set(service, tally);
    return tally;
  }

  /** The counts of every service counted, as plain numbers. */
  snapshot(): ServiceResolveCounts[] {
    const result: ServiceResolveCounts[] = [];
    for (const [service, tally] of this.#tallies) {
      result.push({
        service,
        cache: tally.cache.count,
        registry: tally.registry.count,
        stale: tally.stale.count,
        env: tally.env.count,
        unavailable: tally.unavailable.count,
      });
    }
    return result;
  }

  clear(): void {
    this.#tallies.clear();
  }
}
