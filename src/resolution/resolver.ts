/**
 * The lookup side: "where is `orders`?" answered before every outbound call.
 *
 * Tiers, in order: fresh cache → registry (through a circuit breaker and a timeout; concurrent
 * misses share one call) → stale cache (up to `maxStaleMs` after the registry last vouched for
 * it) → environment fallback → {@link ServiceUnavailableError} listing every tier tried. A
 * watch-capable backend keeps the cache current by push. This file is the public face, the warm
 * path and the events; the tiers past the fresh cache live in lookup.ts, the registry's breaker
 * in registry-guard.ts, watches in watches.ts, degraded services in degradation.ts, reset grace in
 * reset-grace.ts, and parts.ts wires them. The resolver never knows which backend it talks to,
 * and the hot path (a warm cache hit) reads no clock, logs nothing and allocates nothing.
 */
import { EventEmitter } from 'node:events';
import type { LRUCache } from 'lru-cache';
import type { Unsubscribe } from '../backends/backend.js';
import type { Clock } from '../core/clock.js';
import type { EventArguments } from '../core/events.js';
import { ServiceUnavailableError } from '../core/errors.js';
import { assertServiceName, instanceOrigin, type ServiceInstance } from '../core/instance.js';
import type { Logger } from '../core/logger.js';
import type { CallOutcome, InstanceFigures, PickContext, PickResult, PickedInstance, Strategy } from '../balancing/strategy.js';
import { describeEntry, type CacheEntry, type ResolverCounters } from './entries.js';
import { assertPickContext, checkResolverOptions, type ResolverOptions } from './options.js';
import { assembleResolver, type ResolverParts } from './parts.js';
import { assertRequestPath, joinPath } from './request-path.js';
import { readReset } from './reset-grace.js';
import type {
  BreakerState,
  ResolveSource,
  ResolvedPick,
  ResolverEvents,
  ResolverStats,
  ServiceResolutionStatus,
  ServiceResolveCounts,
} from './types.js';

export { DEFAULT_RESET_GRACE_MS, MAX_SERVICES_LIMIT, type ResolverOptions, type WarningPolicy } from './options.js';
export type {
  AnswerSource,
  BreakerState,
  DegradedEvent,
  RecoveredEvent,
  ResetEvent,
  ResolutionTier,
  ResolveSource,
  ResolvedPick,
  ResolverEvents,
  ResolverStats,
  ServiceResolutionStatus,
  ServiceResolveCounts,
} from './types.js';

const NO_CONTEXT: PickContext = {};

/** A resolver: `createResolver(options)`. */
export class Resolver extends EventEmitter<EventArguments<ResolverEvents>> {
  readonly #strategy: Strategy;
  readonly #resetGraceMs: number;
  readonly #log: Logger;
  readonly #clock: Clock;
  // The warm path's two: fields of their own, not reached through #parts.
  readonly #cache: LRUCache<string, CacheEntry>;
  readonly #counters: ResolverCounters;
  readonly #parts: ResolverParts;
  readonly #stopResetListener: Unsubscribe;
  #closed = false;

  constructor(options: ResolverOptions) {
    super();
    const settings = checkResolverOptions(options);
    this.#strategy = settings.strategy;
    this.#resetGraceMs = settings.resetGraceMs;
    this.#log = settings.log;
    this.#clock = settings.clock;
    this.#parts = assembleResolver(settings, {
      degraded: (event) => this.emit('degraded', event),
      recovered: (event) => this.emit('recovered', event),
      breaker: (state) => this.#onBreaker(state),
      isClosed: () => this.#closed,
    });
    this.#cache = this.#parts.cache;
    this.#counters = this.#parts.counters;
    const stop: unknown = settings.backend.onReset?.((reset) => this.#onReset(reset));
    this.#stopResetListener = typeof stop === 'function' ? (stop as Unsubscribe) : () => {};
  }

  /** One instance of `service`, picked by the strategy. */
  resolve(service: string, options?: PickContext): Promise<ServiceInstance> {
    // The warm path is not an async function: one with an await allocates its suspended frame on
    // every call, which at thousands of services is a good part of a cached answer's cost.
    if (options === undefined) {
      const entry = this.#cache.get(service);
      if (entry !== undefined) {
        let picked: PickedInstance | undefined;
        try {
          picked = this.#pickCached(service, entry, undefined);
        } catch (error) {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what the strategy threw, as the async path rejects with it
          return Promise.reject(error);
        }
        if (picked !== undefined) return Promise.resolve(picked.instance);
      }
      return this.#resolveMissed(service, undefined).then(({ picked }) => picked.instance);
    }
    return this.#resolveWith(service, options);
  }

  async #resolveWith(service: string, options: PickContext): Promise<ServiceInstance> {
    assertPickContext(options);
    const entry = this.#cache.get(service);
    const picked = entry === undefined ? undefined : this.#pickCached(service, entry, options);
    return (picked ?? (await this.#resolveMissed(service, options)).picked).instance;
  }

  /**
   * Like {@link resolve}, and tells the strategy the call started; report the outcome through
   * `done()` so load- and outcome-aware strategies learn from it. `createDiscoveryFetch` does this.
   */
  async pick(service: string, options?: PickContext): Promise<ResolvedPick> {
    if (options !== undefined) assertPickContext(options);
    const entry = this.#cache.get(service);
    const cached = entry === undefined ? undefined : this.#pickCached(service, entry, options);
    const { picked, source } = cached === undefined ? await this.#resolveMissed(service, options) : { picked: cached, source: (entry as CacheEntry).source };
    const { instance, done } = picked;
    picked.started?.();
    let ended = false;
    return {
      instance,
      source,
      done(outcome: CallOutcome): void {
        if (ended) return;
        ended = true;
        done?.(outcome);
      },
    };
  }

  /**
   * Resolves of each service by the tier that answered them: every service in cache, and the
   * last 100 others counted (lookups that failed, services evicted). A snapshot, for metrics
   * scrapes and status pages; the counting itself is a plain integer increment per resolve.
   */
  resolveCounts(): ServiceResolveCounts[] {
    return this.#parts.tallies.snapshot();
  }

  /**
   * What the strategy knows about each instance of `service`: calls in flight, calls and failures
   * reported through {@link ResolvedPick.done}, recent latency, and ejection or warm-up state when those
   * decorators are in use (see `Strategy.inspect`). `undefined` when it keeps no figures for it.
   */
  instanceFigures(service: string): readonly InstanceFigures[] | undefined {
    return this.#strategy.inspect?.(service);
  }

  /** Every instance of `service` eligible for picking. */
  async resolveAll(service: string): Promise<readonly ServiceInstance[]> {
    const entry = this.#cache.get(service);
    if (entry !== undefined && entry.picker !== undefined) {
      this.#counters.hits++;
      entry.hits.count++;
      return entry.instances;
    }
    const found = await this.#lookupCounted(service);
    this.#countMiss(service, found);
    return found.instances;
  }

  /**
   * `protocol://host:port` of a picked instance, followed by `path` (a `/` is put between them
   * when `path` lacks it). Rejects with `INVALID_ARGUMENT` for a path holding spaces or control
   * characters (CR/LF would inject headers): percent-encode them.
   */
  async resolveUrl(service: string, path = '', options?: PickContext): Promise<string> {
    assertRequestPath(path);
    return joinPath(instanceOrigin(await this.resolve(service, options)), path);
  }

  /** Forgets the cached answer of `service` (and stops watching it); the next call asks the registry. */
  invalidate(service: string): void {
    assertServiceName(service);
    this.#cache.delete(service);
  }

  /** `healthy` unless some service is being served from stale cache or environment. */
  get health(): 'healthy' | 'degraded' {
    return this.#parts.degradations.any ? 'degraded' : 'healthy';
  }

  /**
   * Where the answer for `service` comes from and how old it is; `undefined` if not in cache.
   * Reading it changes nothing: not the cache's order, not what is evicted next.
   */
  status(service: string): ServiceResolutionStatus | undefined {
    assertServiceName(service);
    const info = this.#cache.info(service);
    return info === undefined ? undefined : this.#describe(service, info.value, info.ttl, this.#clock.now());
  }

  /** {@link status} of every service in cache, fresh or not, most recently used first. */
  statuses(): ServiceResolutionStatus[] {
    const now = this.#clock.now();
    // dump() is a snapshot, least recently used first, that includes entries past their TTL.
    const services = this.#cache.dump().map(([service]) => service).reverse();
    const result: ServiceResolutionStatus[] = [];
    for (const service of services) {
      const info = this.#cache.info(service);
      if (info !== undefined) result.push(this.#describe(service, info.value, info.ttl, now));
    }
    return result;
  }

  stats(): ResolverStats {
    return { ...this.#counters, breaker: this.#parts.guard.state };
  }

  /** Stops watches and drops the cache. Idempotent; later resolves reject with `CLOSED`. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#stopResetListener();
    this.#cache.clear();
    const { watches, lookup, degradations, tallies, grace, guard } = this.#parts;
    watches.stopAll();
    lookup.clear();
    degradations.clear();
    tallies.clear();
    grace.clear();
    guard.dispose();
    this.#strategy.close?.();
    this.removeAllListeners();
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A pick of a cached entry (counted), or `undefined` when its picker offers nothing usable. */
  #pickCached(service: string, entry: CacheEntry, options: PickContext | undefined): PickedInstance | undefined {
    if (entry.picker === undefined) return undefined;
    // Pickers honour `exclude` themselves, in a rotation of their own, so a retry never takes a
    // turn from ordinary picks.
    const picked = this.#picked(service, entry.picker.pick(options ?? NO_CONTEXT));
    if (picked !== undefined) {
      this.#counters.hits++;
      entry.hits.count++;
    }
    return picked;
  }

  /** Past the fresh cache: the tiers, then the strategy's pick, counted by the tier that answered. */
  async #resolveMissed(service: string, options: PickContext | undefined): Promise<{ picked: PickedInstance; source: ResolveSource }> {
    const found = await this.#lookupCounted(service);
    const picked = found.picker === undefined ? undefined : this.#picked(service, found.picker.pick(options ?? NO_CONTEXT));
    if (picked !== undefined) return { picked, source: this.#countMiss(service, found) };
    // A picker that broke its contract and answered nothing at all.
    this.#counters.unavailable++;
    this.#parts.tallies.of(service).unavailable.count++;
    throw new ServiceUnavailableError(service, [
      { tier: 'balancer', reason: `strategy ${this.#strategy.name} picked none of ${found.instances.length} eligible instance(s)` },
    ]);
  }

  /**
   * The pick, when it has an instance. A picker's "none" (a strict filter, outlier ejection with
   * every instance out) is its answer, not ours to override: the call rejects with it.
   */
  #picked(service: string, result: PickResult | undefined): PickedInstance | undefined {
    // Neither an instance nor a reason (a custom picker breaking its contract): see #resolveMissed.
    if (typeof result !== 'object' || result === null) return undefined;
    if (result.instance !== undefined) return result;
    if (typeof result.reason !== 'string') return undefined;
    this.#parts.tallies.of(service).unavailable.count++;
    throw result.error instanceof ServiceUnavailableError ? result.error : new ServiceUnavailableError(service, [{ tier: 'balancer', reason: result.reason }]);
  }

  /** A lookup past the fresh cache, counting a `ServiceUnavailableError` against the service. */
  async #lookupCounted(service: string): Promise<CacheEntry> {
    try {
      return await this.#parts.lookup.lookup(service);
    } catch (error) {
      if (error instanceof ServiceUnavailableError) this.#parts.tallies.of(service).unavailable.count++;
      throw error;
    }
  }

  /** Counts an answer found past the fresh cache: a registry answer was waited for; stale and env answers are what they are. */
  #countMiss(service: string, found: CacheEntry): ResolveSource {
    const source: ResolveSource = found.source === 'cache' ? 'registry' : found.source;
    this.#parts.tallies.of(service)[source].count++;
    return source;
  }

  #describe(service: string, entry: CacheEntry, remainingTtl: number | undefined, now: number): ServiceResolutionStatus {
    return describeEntry(service, entry, remainingTtl, this.#parts.watches.healthy(service), this.#parts.lookup.confirmedAt(service, entry, now), now);
  }

  #onReset(reset: unknown): void {
    if (this.#closed) return;
    const { service, reason } = readReset(reset as Parameters<typeof readReset>[0]);
    const graceMs = this.#resetGraceMs;
    this.#counters.resets++;
    // A loss reported for a service we do not cache leaves nothing to keep (and a reset we cannot
    // attribute to one valid service name covers them all).
    const cached = service === undefined || this.#cache.peek(service, { allowStale: true }) !== undefined;
    if (cached && graceMs > 0) this.#parts.grace.open(service, this.#clock.now() + graceMs);
    const scope = service === undefined ? 'the registry' : `the registry's data of ${service}`;
    this.#log.warn({ service, reason, graceMs }, `${scope} was lost (${reason}); for ${graceMs} ms, cached instances missing from its answers are kept`);
    // Runs inside the backend's own call; a throwing listener must not break the backend.
    try {
      this.emit('reset', { service, reason, graceMs });
    } catch (error) {
      this.#log.error({ err: error, event: 'reset' }, 'a reset listener threw');
    }
  }

  #onBreaker(state: BreakerState): void {
    if (state === 'open') this.#log.warn({ state }, 'registry circuit breaker opened');
    else if (state === 'closed') this.#log.info({ state }, 'registry circuit breaker closed');
    this.emit('breaker', { state });
  }
}

/** Creates a {@link Resolver}. */
export function createResolver(options: ResolverOptions): Resolver {
  return new Resolver(options);
}
