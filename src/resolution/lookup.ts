/**
 * The tiers past the fresh cache, and the cache they fill. Registry (through the guard's breaker
 * and time limit; concurrent misses share one call) → stale cache (up to `maxStaleMs` after the
 * registry last vouched for it) → environment → `ServiceUnavailableError` listing every tier
 * tried. While the registry hangs or a service is degraded, callers are answered from stale cache
 * or environment at once and one background call retries. Within a reset's grace window, cached
 * instances missing from a registry answer are kept (reset-grace.ts).
 */
import type { LRUCache } from 'lru-cache';
import { jitterDown } from '../core/clock.js';
import { ClosedError, RegistryUnavailableError, ServiceUnavailableError, describeValue } from '../core/errors.js';
import { assertServiceName, type ServiceInstance } from '../core/instance.js';
import type { Degradations } from './degradation.js';
import { countByStatus, eligible, type CacheEntry, type ResolverCounters } from './entries.js';
import { lookupEnv } from './env-fallback.js';
import type { CheckedResolverOptions } from './options.js';
import type { RegistryGuard } from './registry-guard.js';
import { missingFrom, type ResetGrace } from './reset-grace.js';
import type { ResolveTallies } from './tallies.js';
import type { ResolutionTier } from './types.js';
import type { ServiceWatches } from './watches.js';

/** One tier tried and why it gave no answer. */
interface Attempt {
  readonly tier: ResolutionTier;
  readonly reason: string;
}

/** The resolver's state a lookup reads and updates. */
export interface LookupParts {
  readonly cache: LRUCache<string, CacheEntry>;
  readonly counters: ResolverCounters;
  readonly tallies: ResolveTallies;
  readonly guard: RegistryGuard;
  readonly watches: ServiceWatches;
  readonly degradations: Degradations;
  readonly grace: ResetGrace;
  readonly isClosed: () => boolean;
}

const NOTHING_KEPT: readonly ServiceInstance[] = [];

export class Lookup {
  readonly #settings: CheckedResolverOptions;
  readonly #cache: LRUCache<string, CacheEntry>;
  readonly #counters: ResolverCounters;
  readonly #parts: LookupParts;
  readonly #inflight = new Map<string, Promise<CacheEntry>>();
  readonly #registryCalls = new Map<string, Promise<CacheEntry>>();

  constructor(settings: CheckedResolverOptions, parts: LookupParts) {
    this.#settings = settings;
    this.#cache = parts.cache;
    this.#counters = parts.counters;
    this.#parts = parts;
  }

  // One lookup per service at a time, however many callers miss together: they share its registry
  // call and, when that fails, the fallback it settles on.
  /** The answer for `service` past the fresh cache, from the first tier that has one eligible instance. */
  lookup(service: string): Promise<CacheEntry> {
    if (this.#parts.isClosed()) return Promise.reject(new ClosedError('Resolver'));
    this.#counters.misses++;
    let pending = this.#inflight.get(service);
    if (pending === undefined) {
      pending = this.#runTiers(service).finally(() => {
        if (this.#inflight.get(service) === pending) this.#inflight.delete(service);
      });
      this.#inflight.set(service, pending);
    }
    return pending;
  }

  /** Caches a registry answer (fetched or pushed by a watch); a degraded service recovers. */
  registryAnswered(service: string, listed: readonly ServiceInstance[]): CacheEntry {
    const entry = this.#store(service, listed);
    this.#parts.degradations.registryServed(service, entry.picker !== undefined);
    return entry;
  }

  /** A working watch vouches for a registry answer continuously; otherwise its last confirmation stands. */
  confirmedAt(service: string, entry: CacheEntry, now: number): number {
    return entry.source === 'cache' && this.#parts.watches.healthy(service) ? now : entry.confirmedAt;
  }

  /**
   * The watch vouched for the cached answer until now; from here it ages like a fetched one: it
   * turns stale within `cacheTtlMs` and may be served stale for `maxStaleMs` from this moment.
   */
  watchBroke(service: string): void {
    const entry = this.#cache.peek(service, { allowStale: true });
    if (entry === undefined || entry.source !== 'cache') return;
    const confirmed: CacheEntry = { ...entry, confirmedAt: this.#settings.clock.now() };
    const ttl = jitterDown(this.#settings.cacheTtlMs, 0.1, this.#settings.random);
    if (this.#cache.getRemainingTTL(service) > ttl) this.#cache.set(service, confirmed, { ttl });
    else this.#cache.set(service, confirmed, { noUpdateTTL: true });
  }

  /** Forgets calls in flight (the resolver closes). */
  clear(): void {
    this.#inflight.clear();
    this.#registryCalls.clear();
  }

  async #runTiers(service: string): Promise<CacheEntry> {
    const attempts: Attempt[] = [];
    const cached = this.#cache.get(service);
    if (cached !== undefined) {
      if (cached.picker !== undefined) return cached;
      attempts.push({ tier: 'cache', reason: this.#noneEligible(cached.listed) });
    } else {
      assertServiceName(service);
      this.#parts.watches.start(service);
      const atOnce = this.#fallBackAtOnce(service);
      if (atOnce !== undefined) return atOnce;
      try {
        const entry = await this.#registryCall(service);
        if (entry.picker !== undefined) return entry;
        attempts.push({ tier: 'registry', reason: this.#noneEligible(entry.listed) });
        attempts.push({ tier: 'stale', reason: 'not used: the registry answered' });
      } catch (error) {
        if (this.#parts.isClosed()) throw new ClosedError('Resolver');
        const reason = this.#parts.guard.describe(error);
        attempts.push({ tier: 'registry', reason });
        const stale = this.#useStale(service, reason, attempts);
        if (stale !== undefined) return stale;
      }
    }
    const env = this.#useEnv(service, attempts);
    if (env !== undefined) return env;
    this.#counters.unavailable++;
    throw new ServiceUnavailableError(service, attempts);
  }

  /**
   * While the registry hangs (its last call timed out) or this service is degraded, callers do
   * not wait for it: the stale or environment tier answers now and one background call retries.
   * Undefined when neither tier has an answer: then the registry is the only hope, worth waiting for.
   */
  #fallBackAtOnce(service: string): CacheEntry | undefined {
    const failure = this.#parts.guard.hanging ?? (this.#parts.degradations.has(service) ? 'the last registry call for this service failed' : undefined);
    if (failure === undefined) return undefined;
    const reason = `not waited for, asked again in the background: ${failure}`;
    const attempts: Attempt[] = [{ tier: 'registry', reason }];
    const answer = this.#useStale(service, reason, attempts) ?? this.#useEnv(service, attempts);
    if (answer !== undefined) this.#refreshInBackground(service);
    return answer;
  }

  #refreshInBackground(service: string): void {
    if (this.#registryCalls.has(service)) return;
    // #fetch counts and remembers a failure; the fallback already answering stays until it expires.
    this.#registryCall(service).catch(() => undefined);
  }

  /** The registry call for `service` in flight (foreground or background), or a new one. */
  #registryCall(service: string): Promise<CacheEntry> {
    const inFlight = this.#registryCalls.get(service);
    if (inFlight !== undefined) return inFlight;
    const call = this.#fetch(service).finally(() => {
      if (this.#registryCalls.get(service) === call) this.#registryCalls.delete(service);
    });
    this.#registryCalls.set(service, call);
    return call;
  }

  async #fetch(service: string): Promise<CacheEntry> {
    this.#counters.registryFetches++;
    let instances: readonly ServiceInstance[];
    try {
      instances = await this.#parts.guard.call(() => this.#listInstances(service));
    } catch (error) {
      this.#counters.registryFailures++;
      throw error;
    }
    if (this.#parts.isClosed()) throw new ClosedError('Resolver');
    return this.registryAnswered(service, instances);
  }

  async #listInstances(service: string): Promise<readonly ServiceInstance[]> {
    const { backend } = this.#settings;
    const instances: unknown = await backend.instances(service);
    if (!Array.isArray(instances)) {
      throw new RegistryUnavailableError(backend.kind, 'instances', `expected an array of instances, got ${describeValue(instances)}`);
    }
    return instances as readonly ServiceInstance[];
  }

  /**
   * Caches a registry answer. Within a reset's grace window, instances the previous answer had
   * and this one lacks are kept, and the merged answer is cached only until the next retry, so
   * the registry is asked again soon.
   */
  #store(service: string, listed: readonly ServiceInstance[]): CacheEntry {
    const now = this.#settings.clock.now();
    const graceUntil = this.#parts.grace.until(service, now);
    const kept = graceUntil === undefined ? NOTHING_KEPT : this.#keptThroughReset(service, listed, now);
    const instances = eligible(kept.length === 0 ? listed : [...listed, ...kept], this.#settings.warning);
    const provisional = kept.length > 0 && instances.some((instance) => kept.includes(instance));
    const entry: CacheEntry = {
      instances,
      listed: listed.length,
      counts: countByStatus(listed),
      hits: this.#parts.tallies.of(service).cache,
      picker: instances.length === 0 ? undefined : this.#settings.strategy.createPicker(service, instances),
      updatedAt: now,
      confirmedAt: now,
      source: 'cache',
      provisional,
    };
    let ttl: number;
    if (provisional) {
      this.#counters.provisionalAnswers++;
      ttl = Math.max(1, Math.min(this.#retryDelay(), (graceUntil as number) - now));
    } else {
      // A working watch keeps the entry current, so it needs no TTL.
      ttl = this.#parts.watches.healthy(service) ? 0 : jitterDown(this.#settings.cacheTtlMs, 0.1, this.#settings.random);
    }
    this.#cache.set(service, entry, { ttl });
    return entry;
  }

  /** The eligible instances of the previous registry answer that `listed` lacks, unless too old to serve. */
  #keptThroughReset(service: string, listed: readonly ServiceInstance[], now: number): readonly ServiceInstance[] {
    const previous = this.#cache.peek(service, { allowStale: true });
    if (previous === undefined || previous.source === 'env') return NOTHING_KEPT;
    if (now - this.confirmedAt(service, previous, now) > this.#settings.maxStaleMs) return NOTHING_KEPT;
    return missingFrom(previous.instances, listed);
  }

  #useStale(service: string, reason: string, attempts: Attempt[]): CacheEntry | undefined {
    const stale = this.#cache.peek(service, { allowStale: true });
    if (stale === undefined || stale.source === 'env') {
      attempts.push({ tier: 'stale', reason: 'no earlier registry answer is cached' });
      return undefined;
    }
    if (stale.picker === undefined) {
      attempts.push({ tier: 'stale', reason: `the last registry answer had no eligible instance` });
      return undefined;
    }
    const { maxStaleMs } = this.#settings;
    const now = this.#settings.clock.now();
    const age = now - this.confirmedAt(service, stale, now);
    if (age > maxStaleMs) {
      attempts.push({ tier: 'stale', reason: `the cached answer was last confirmed by the registry ${age} ms ago, over maxStaleMs (${maxStaleMs})` });
      return undefined;
    }
    this.#counters.staleFallbacks++;
    const entry: CacheEntry = { ...stale, source: 'stale', hits: this.#parts.tallies.of(service).stale };
    this.#cache.set(service, entry, { ttl: Math.max(1, Math.min(this.#retryDelay(), maxStaleMs - age)) });
    this.#parts.degradations.degraded(service, 'stale', reason);
    return entry;
  }

  #useEnv(service: string, attempts: Attempt[]): CacheEntry | undefined {
    const { env } = this.#settings;
    if (env === undefined) {
      attempts.push({ tier: 'env', reason: 'disabled (envFallback: false)' });
      return undefined;
    }
    const now = this.#settings.clock.now();
    const found = lookupEnv(service, env, now);
    if (!found.ok) {
      attempts.push({ tier: 'env', reason: found.reason });
      return undefined;
    }
    this.#counters.envFallbacks++;
    const entry: CacheEntry = {
      instances: found.instances,
      listed: found.instances.length,
      counts: countByStatus(found.instances),
      hits: this.#parts.tallies.of(service).env,
      picker: this.#settings.strategy.createPicker(service, found.instances),
      updatedAt: now,
      confirmedAt: now,
      source: 'env',
      provisional: false,
    };
    this.#cache.set(service, entry, { ttl: this.#retryDelay() });
    const why = attempts.map((attempt) => `${attempt.tier}: ${attempt.reason}`).join('; ');
    this.#parts.degradations.degraded(service, 'env', `using ${found.variable} (${why})`);
    return entry;
  }

  #retryDelay(): number {
    return Math.max(1, jitterDown(this.#settings.degradedRetryMs, 0.2, this.#settings.random));
  }

  #noneEligible(listed: number): string {
    const wanted = this.#settings.warning === 'exclude' ? 'passing' : 'passing or warning';
    return `the registry listed ${listed} instance(s), none ${wanted}`;
  }
}
