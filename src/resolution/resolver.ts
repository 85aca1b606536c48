/**
 * The lookup side: "where is `orders`?" answered before every outbound call.
 *
 * Tiers, in order: fresh cache → registry (through a circuit breaker and a timeout; concurrent
 * misses share one call) → stale cache (up to `maxStaleMs`) → environment fallback →
 * {@link ServiceUnavailableError} listing every tier tried. A watch-capable backend keeps the
 * cache current by push. The resolver never knows which backend it talks to, and the hot path
 * (a warm cache hit) reads no clock, logs nothing and allocates nothing.
 */
import { EventEmitter } from 'eventemitter3';
import { LRUCache } from 'lru-cache';
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleAll,
  timeout,
  wrap,
  type IPolicy,
} from 'cockatiel';
import type { RegistryBackend, Unsubscribe } from '../backends/backend.js';
import { jitterDown, systemClock, type Clock } from '../core/clock.js';
import { DEFAULT_CACHE_TTL_MS } from '../core/defaults.js';
import { ClosedError, InvalidArgumentError, ServiceUnavailableError, messageOf, type TierAttempt } from '../core/errors.js';
import { assertServiceName, instanceOrigin, type ServiceInstance } from '../core/instance.js';
import { durationOption, integerOption } from '../core/options.js';
import { loggerOption, type Logger, type LoggerLike } from '../core/logger.js';
import { strategyByName, type StrategyName } from '../balancing/strategies.js';
import type { CallOutcome, PickContext, Picker, Strategy } from '../balancing/strategy.js';
import { lookupEnv, type EnvFallbackOptions } from './env-fallback.js';

/** How instances in `warning` are treated. */
export type WarningPolicy = 'include' | 'fallback' | 'exclude';

/** Options of {@link createResolver}. Every duration is in milliseconds. */
export interface ResolverOptions {
  /** The registry to read. The resolver never closes it: its owner does. */
  backend: RegistryBackend;
  /**
   * Picks one instance per call: a {@link Strategy} value or a strategy name. A stateful strategy
   * belongs to this resolver, which releases its per-service state and closes it. @default 'round-robin'
   */
  strategy?: Strategy | StrategyName | undefined;
  /** How long a registry answer is served from cache before asking again (minus up to 10% jitter). @default 5000 */
  cacheTtlMs?: number | undefined;
  /** How old a cached answer may be and still be served while the registry fails. @default 300000 (5 minutes) */
  maxStaleMs?: number | undefined;
  /**
   * While a service is served from stale cache or environment, how long before one caller tries
   * the registry again (minus up to 20% jitter, so processes do not retry in step). @default 1000
   */
  degradedRetryMs?: number | undefined;
  /** Services kept in cache; the least recently used beyond this are dropped. @default 10000 */
  maxServices?: number | undefined;
  /**
   * `include`: `warning` instances are picked like `passing` ones. `fallback`: only when no
   * instance is `passing`. `exclude`: never. `critical` and `draining` are never picked.
   * @default 'fallback'
   */
  warning?: WarningPolicy | undefined;
  /** Registry calls slower than this fail (and count towards the breaker). @default 2000 */
  registryTimeoutMs?: number | undefined;
  /** Consecutive registry failures that open the circuit breaker. @default 5 */
  breakerThreshold?: number | undefined;
  /** How long the breaker stays open before letting one call through. @default 5000 */
  breakerHalfOpenAfterMs?: number | undefined;
  /** Subscribe to the backend's watch (when it has one) instead of re-asking every TTL. @default true */
  watch?: boolean | undefined;
  /** The environment tier; `false` turns it off. @default true (ORDERS_URL convention, process.env) */
  envFallback?: boolean | EnvFallbackOptions | undefined;
  /** Receives one warn line per service that degrades and one info line when it recovers. @default silent */
  logger?: LoggerLike | undefined;
  /** @default Date.now */
  clock?: Clock | undefined;
  /** Random source for jitter. @default Math.random */
  random?: (() => number) | undefined;
}

/** Options of one resolve call. */
export type ResolveOptions = PickContext;

/** An instance picked for one call, with the callback that reports how the call went. */
export interface Pick {
  readonly instance: ServiceInstance;
  /** Reports the call's outcome to the strategy. Call it once when the call ends; later calls are ignored. */
  done(outcome: CallOutcome): void;
}

/** Where a service's current answer comes from. */
export type AnswerSource = 'cache' | 'stale' | 'env';

/** What the resolver knows about one service. */
export interface ServiceResolutionStatus {
  readonly service: string;
  /** `cache`: the registry's answer, current. `stale`: an older registry answer, the registry failing. `env`: the environment tier. */
  readonly source: AnswerSource;
  /** Whether the answer is within its TTL or kept current by a working watch. */
  readonly fresh: boolean;
  /** Whether a watch on the backend pushes changes for this service right now. */
  readonly watching: boolean;
  /** When the answer's data was obtained (epoch ms). */
  readonly updatedAt: number;
  readonly ageMs: number;
  /** Instances eligible for picking. */
  readonly instances: readonly ServiceInstance[];
  /** Instances the registry listed, eligible or not. */
  readonly listed: number;
}

/** Cheap counters, plain integers. */
export interface ResolverStats {
  /** Answers served straight from the in-memory cache. */
  readonly hits: number;
  /** Lookups that went past the fresh cache. */
  readonly misses: number;
  readonly registryFetches: number;
  readonly registryFailures: number;
  readonly watchUpdates: number;
  /** Times the stale tier supplied an answer (each lasts `degradedRetryMs`). */
  readonly staleFallbacks: number;
  /** Times the environment tier supplied an answer (each lasts `degradedRetryMs`). */
  readonly envFallbacks: number;
  /** Lookups that ended in {@link ServiceUnavailableError}. */
  readonly unavailable: number;
  readonly breaker: 'closed' | 'open' | 'half-open';
}

export interface DegradedEvent {
  readonly service: string;
  readonly source: 'stale' | 'env';
  readonly reason: string;
}

export interface RecoveredEvent {
  readonly service: string;
  readonly degradedForMs: number;
}

/** Events of a {@link Resolver}. */
export interface ResolverEvents {
  /** A service started being served from stale cache or environment (or switched between them). */
  degraded: (event: DegradedEvent) => void;
  /** A degraded service got an answer from the registry again. */
  recovered: (event: RecoveredEvent) => void;
  /** The registry circuit breaker changed state. */
  breaker: (event: { readonly state: 'open' | 'half-open' | 'closed' }) => void;
}

interface CacheEntry {
  /** Eligible instances only. */
  readonly instances: readonly ServiceInstance[];
  readonly listed: number;
  /** Undefined when no instance is eligible (a cached "nobody"). */
  readonly picker: Picker | undefined;
  readonly updatedAt: number;
  readonly source: AnswerSource;
}

interface WatchState {
  unsubscribe: Unsubscribe;
  healthy: boolean;
}

const NO_CONTEXT: PickContext = {};

/** A resolver: `createResolver(options)`. */
export class Resolver extends EventEmitter<ResolverEvents> {
  readonly #backend: RegistryBackend;
  readonly #strategy: Strategy;
  readonly #cacheTtlMs: number;
  readonly #maxStaleMs: number;
  readonly #degradedRetryMs: number;
  readonly #warning: WarningPolicy;
  readonly #watchEnabled: boolean;
  readonly #env: EnvFallbackOptions | undefined;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #registryTimeoutMs: number;
  readonly #cache: LRUCache<string, CacheEntry>;
  readonly #policy: IPolicy;
  #breakerState: ResolverStats['breaker'] = 'closed';
  readonly #disposeBreakerListeners: () => void;
  readonly #inflight = new Map<string, Promise<CacheEntry>>();
  readonly #watches = new Map<string, WatchState>();
  readonly #degraded = new Map<string, { source: 'stale' | 'env'; since: number }>();
  readonly #counters = {
    hits: 0,
    misses: 0,
    registryFetches: 0,
    registryFailures: 0,
    watchUpdates: 0,
    staleFallbacks: 0,
    envFallbacks: 0,
    unavailable: 0,
  };
  #closed = false;

  constructor(options: ResolverOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'a resolver options object', options);
    const { backend } = options;
    if (typeof backend?.instances !== 'function') throw new InvalidArgumentError('backend', 'a RegistryBackend', backend);
    this.#backend = backend;
    const strategy = options.strategy ?? 'round-robin';
    this.#strategy = typeof strategy === 'string' ? strategyByName(strategy, { random: options.random }) : strategy;
    if (typeof this.#strategy?.createPicker !== 'function') throw new InvalidArgumentError('strategy', 'a Strategy or a strategy name', options.strategy);
    this.#cacheTtlMs = durationOption(options.cacheTtlMs, DEFAULT_CACHE_TTL_MS, 'cacheTtlMs', 1);
    this.#maxStaleMs = durationOption(options.maxStaleMs, 300_000, 'maxStaleMs', 0);
    this.#degradedRetryMs = durationOption(options.degradedRetryMs, 1_000, 'degradedRetryMs', 1);
    this.#registryTimeoutMs = durationOption(options.registryTimeoutMs, 2_000, 'registryTimeoutMs', 1);
    const halfOpenAfter = durationOption(options.breakerHalfOpenAfterMs, 5_000, 'breakerHalfOpenAfterMs', 1);
    const threshold = integerOption(options.breakerThreshold, 5, 'breakerThreshold', 1);
    const maxServices = integerOption(options.maxServices, 10_000, 'maxServices', 1);
    this.#warning = options.warning ?? 'fallback';
    if (!['include', 'fallback', 'exclude'].includes(this.#warning)) {
      throw new InvalidArgumentError('warning', "'include', 'fallback' or 'exclude'", options.warning);
    }
    this.#watchEnabled = (options.watch ?? true) && typeof backend.watch === 'function';
    const env = options.envFallback ?? true;
    this.#env = env === false ? undefined : env === true ? {} : env;
    this.#log = loggerOption(options.logger, 'logger', { component: 'resolver', backend: backend.kind });
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;

    this.#cache = new LRUCache<string, CacheEntry>({
      max: maxServices,
      ttl: this.#cacheTtlMs,
      // Reads the clock at most every 10 ms instead of on every hit.
      ttlResolution: 10,
      noDeleteOnStaleGet: true,
      perf: { now: () => this.#clock.now() },
      dispose: (_entry, service, reason) => {
        if (reason !== 'evict' && reason !== 'delete') return;
        this.#stopWatch(service);
        this.#strategy.release?.(service);
      },
    });

    const breaker = circuitBreaker(handleAll, { halfOpenAfter, breaker: new ConsecutiveBreaker(threshold) });
    const listeners = [
      breaker.onBreak(() => this.#onBreaker('open')),
      breaker.onHalfOpen(() => this.#onBreaker('half-open')),
      breaker.onReset(() => this.#onBreaker('closed')),
    ];
    this.#disposeBreakerListeners = () => listeners.forEach((listener) => listener.dispose());
    // Breaker outside the timeout, so a registry that hangs counts as failing. Backends get no
    // abort signal, so aborting one after every call (cockatiel's default) would be pure cost.
    const registryTimeout = timeout(this.#registryTimeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });
    this.#policy = wrap(breaker, registryTimeout.dangerouslyUnref());
  }

  /** One instance of `service`, picked by the strategy. */
  async resolve(service: string, options?: ResolveOptions): Promise<ServiceInstance> {
    const entry = this.#cache.get(service);
    if (entry !== undefined && entry.picker !== undefined) {
      const instance = options?.exclude === undefined ? entry.picker.pick(options ?? NO_CONTEXT) : pickAvoiding(entry, options);
      if (instance !== undefined) {
        this.#counters.hits++;
        return instance;
      }
    }
    const found = await this.#lookup(service);
    const picked = options?.exclude === undefined ? found.picker?.pick(options ?? NO_CONTEXT) : pickAvoiding(found, options);
    if (picked !== undefined) return picked;
    // A strategy may refuse every instance (a strict filter); that is its answer, not ours to override.
    this.#counters.unavailable++;
    throw new ServiceUnavailableError(service, [
      { tier: 'balancer', reason: `strategy ${this.#strategy.name} picked none of ${found.instances.length} eligible instance(s)` },
    ]);
  }

  /**
   * Like {@link resolve}, and tells the strategy the call started; report the outcome through
   * `done()` so load- and outcome-aware strategies learn from it. `createDiscoveryFetch` does this.
   */
  async pick(service: string, options?: ResolveOptions): Promise<Pick> {
    const instance = await this.resolve(service, options);
    const strategy = this.#strategy;
    strategy.callStarted?.(service, instance);
    let ended = false;
    return {
      instance,
      done(outcome: CallOutcome): void {
        if (ended) return;
        ended = true;
        strategy.callEnded?.(service, instance, outcome);
      },
    };
  }

  /** Every instance of `service` eligible for picking. */
  async resolveAll(service: string): Promise<readonly ServiceInstance[]> {
    const entry = this.#cache.get(service);
    if (entry !== undefined && entry.picker !== undefined) {
      this.#counters.hits++;
      return entry.instances;
    }
    return (await this.#lookup(service)).instances;
  }

  /** `protocol://host:port` of a picked instance, followed by `path`. */
  async resolveUrl(service: string, path = '', options?: ResolveOptions): Promise<string> {
    if (typeof path !== 'string') throw new InvalidArgumentError('path', 'a string such as "/api/v1/items"', path);
    const origin = instanceOrigin(await this.resolve(service, options));
    return path === '' || path.startsWith('/') ? origin + path : `${origin}/${path}`;
  }

  /** Forgets the cached answer of `service` (and stops watching it); the next call asks the registry. */
  invalidate(service: string): void {
    this.#cache.delete(service);
  }

  /** `healthy` unless some service is being served from stale cache or environment. */
  get health(): 'healthy' | 'degraded' {
    return this.#degraded.size === 0 ? 'healthy' : 'degraded';
  }

  /** Where the answer for `service` comes from and how old it is; `undefined` if never resolved. */
  status(service: string): ServiceResolutionStatus | undefined {
    const entry = this.#cache.get(service, { allowStale: true });
    if (entry === undefined) return undefined;
    const now = this.#clock.now();
    return {
      service,
      source: entry.source,
      fresh: this.#cache.get(service) !== undefined,
      watching: this.#watches.get(service)?.healthy ?? false,
      updatedAt: entry.updatedAt,
      ageMs: Math.max(0, now - entry.updatedAt),
      instances: entry.instances,
      listed: entry.listed,
    };
  }

  /** {@link status} of every service in cache, most recently used first. */
  statuses(): ServiceResolutionStatus[] {
    const result: ServiceResolutionStatus[] = [];
    // A snapshot: status() reads the cache, which reorders it, so a live iteration never ends.
    for (const service of [...this.#cache.keys()]) {
      const status = this.status(service);
      if (status !== undefined) result.push(status);
    }
    return result;
  }

  stats(): ResolverStats {
    return { ...this.#counters, breaker: this.#breakerState };
  }

  /** Stops watches and drops the cache. Idempotent; later resolves reject with `CLOSED`. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#cache.clear();
    for (const service of [...this.#watches.keys()]) this.#stopWatch(service);
    this.#inflight.clear();
    this.#degraded.clear();
    this.#disposeBreakerListeners();
    this.#strategy.close?.();
    this.removeAllListeners();
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // One lookup per service at a time, however many callers miss together: they share its registry
  // call and, when that fails, the fallback it settles on.
  #lookup(service: string): Promise<CacheEntry> {
    if (this.#closed) return Promise.reject(new ClosedError('Resolver'));
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

  async #runTiers(service: string): Promise<CacheEntry> {
    const attempts: TierAttempt[] = [];
    const cached = this.#cache.get(service);
    if (cached !== undefined) {
      if (cached.picker !== undefined) return cached;
      attempts.push({ tier: 'cache', reason: this.#noneEligible(cached.listed) });
    } else {
      assertServiceName(service);
      this.#startWatch(service);
      try {
        const entry = await this.#fetch(service);
        if (entry.picker !== undefined) return entry;
        attempts.push({ tier: 'registry', reason: this.#noneEligible(entry.listed) });
        attempts.push({ tier: 'stale', reason: 'not used: the registry answered' });
      } catch (error) {
        if (this.#closed) throw new ClosedError('Resolver');
        const reason = this.#describeRegistryFailure(error);
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

  async #fetch(service: string): Promise<CacheEntry> {
    this.#counters.registryFetches++;
    let instances: ServiceInstance[];
    try {
      instances = await this.#policy.execute(() => this.#backend.instances(service));
    } catch (error) {
      this.#counters.registryFailures++;
      throw error;
    }
    if (this.#closed) throw new ClosedError('Resolver');
    const entry = this.#store(service, instances);
    this.#markRecovered(service);
    return entry;
  }

  #store(service: string, listed: readonly ServiceInstance[]): CacheEntry {
    const instances = this.#eligible(listed);
    const entry: CacheEntry = {
      instances,
      listed: listed.length,
      picker: instances.length === 0 ? undefined : this.#strategy.createPicker(service, instances),
      updatedAt: this.#clock.now(),
      source: 'cache',
    };
    // A working watch keeps the entry current, so it needs no TTL.
    const watching = this.#watches.get(service)?.healthy === true;
    this.#cache.set(service, entry, { ttl: watching ? 0 : jitterDown(this.#cacheTtlMs, 0.1, this.#random) });
    return entry;
  }

  #eligible(listed: readonly ServiceInstance[]): readonly ServiceInstance[] {
    const passing = listed.filter((instance) => instance.status === 'passing');
    if (this.#warning === 'exclude' || (this.#warning === 'fallback' && passing.length > 0)) return Object.freeze(passing);
    return Object.freeze(listed.filter((instance) => instance.status === 'passing' || instance.status === 'warning'));
  }

  #useStale(service: string, reason: string, attempts: TierAttempt[]): CacheEntry | undefined {
    const stale = this.#cache.get(service, { allowStale: true });
    if (stale === undefined || stale.source === 'env') {
      attempts.push({ tier: 'stale', reason: 'no earlier registry answer is cached' });
      return undefined;
    }
    if (stale.picker === undefined) {
      attempts.push({ tier: 'stale', reason: `the last registry answer had no eligible instance` });
      return undefined;
    }
    const age = this.#clock.now() - stale.updatedAt;
    if (age > this.#maxStaleMs) {
      attempts.push({ tier: 'stale', reason: `the cached answer is ${age} ms old, over maxStaleMs (${this.#maxStaleMs})` });
      return undefined;
    }
    this.#counters.staleFallbacks++;
    const entry: CacheEntry = { ...stale, source: 'stale' };
    this.#cache.set(service, entry, { ttl: Math.max(1, Math.min(this.#retryDelay(), this.#maxStaleMs - age)) });
    this.#markDegraded(service, 'stale', reason);
    return entry;
  }

  #useEnv(service: string, attempts: TierAttempt[]): CacheEntry | undefined {
    if (this.#env === undefined) {
      attempts.push({ tier: 'env', reason: 'disabled (envFallback: false)' });
      return undefined;
    }
    const now = this.#clock.now();
    const found = lookupEnv(service, this.#env, now);
    if (!found.ok) {
      attempts.push({ tier: 'env', reason: found.reason });
      return undefined;
    }
    this.#counters.envFallbacks++;
    const entry: CacheEntry = {
      instances: found.instances,
      listed: found.instances.length,
      picker: this.#strategy.createPicker(service, found.instances),
      updatedAt: now,
      source: 'env',
    };
    this.#cache.set(service, entry, { ttl: this.#retryDelay() });
    const why = attempts.map((attempt) => `${attempt.tier}: ${attempt.reason}`).join('; ');
    this.#markDegraded(service, 'env', `using ${found.variable} (${why})`);
    return entry;
  }

  #retryDelay(): number {
    return Math.max(1, jitterDown(this.#degradedRetryMs, 0.2, this.#random));
  }

  #startWatch(service: string): void {
    if (!this.#watchEnabled || this.#watches.has(service)) return;
    const state: WatchState = { unsubscribe: () => {}, healthy: false };
    this.#watches.set(service, state);
    try {
      state.unsubscribe = (this.#backend.watch as NonNullable<RegistryBackend['watch']>).call(this.#backend, service, {
        onChange: (instances) => {
          if (this.#watches.get(service) !== state) return;
          state.healthy = true;
          this.#counters.watchUpdates++;
          this.#store(service, instances);
          this.#markRecovered(service);
        },
        onError: (error) => {
          if (this.#watches.get(service) !== state || !state.healthy) return;
          state.healthy = false;
          this.#log.debug({ service, err: error }, 'watch interrupted; answers now age by cacheTtlMs');
          // Without pushes the entry must age like a fetched one.
          const entry = this.#cache.get(service);
          if (entry !== undefined) this.#cache.set(service, entry, { ttl: jitterDown(this.#cacheTtlMs, 0.1, this.#random) });
        },
      });
    } catch (error) {
      this.#watches.delete(service);
      this.#log.warn({ service, err: error }, `could not watch ${service}; relying on cacheTtlMs`);
    }
  }

  #stopWatch(service: string): void {
    const state = this.#watches.get(service);
    if (state === undefined) return;
    this.#watches.delete(service);
    state.unsubscribe();
  }

  #markDegraded(service: string, source: 'stale' | 'env', reason: string): void {
    const previous = this.#degraded.get(service);
    if (previous?.source === source) return;
    this.#degraded.set(service, { source, since: previous?.since ?? this.#clock.now() });
    const served = source === 'stale' ? 'stale cache' : 'environment fallback';
    this.#log.warn({ service, source, reason }, `serving ${service} from ${served}: ${reason}`);
    this.emit('degraded', { service, source, reason });
  }

  #markRecovered(service: string): void {
    const degraded = this.#degraded.get(service);
    if (degraded === undefined) return;
    this.#degraded.delete(service);
    const degradedForMs = this.#clock.now() - degraded.since;
    this.#log.info({ service, degradedForMs }, `${service} is served from the registry again`);
    this.emit('recovered', { service, degradedForMs });
  }

  #onBreaker(state: ResolverStats['breaker']): void {
    this.#breakerState = state;
    if (state === 'open') this.#log.warn({ state }, 'registry circuit breaker opened');
    else if (state === 'closed') this.#log.info({ state }, 'registry circuit breaker closed');
    this.emit('breaker', { state });
  }

  #noneEligible(listed: number): string {
    const wanted = this.#warning === 'exclude' ? 'passing' : 'passing or warning';
    return `the registry listed ${listed} instance(s), none ${wanted}`;
  }

  #describeRegistryFailure(error: unknown): string {
    if (error instanceof BrokenCircuitError) return 'circuit breaker open after repeated registry failures';
    if (error instanceof TaskCancelledError) return `no answer within registryTimeoutMs (${this.#registryTimeoutMs} ms)`;
    return messageOf(error);
  }
}

/**
 * The strategy's pick unless excluded; then a few more picks. Never an instance the strategy did
 * not offer (it may have ejected it): when only excluded ones come back, the first pick stands.
 */
function pickAvoiding(entry: CacheEntry, options: ResolveOptions & { exclude?: ReadonlySet<string> | undefined }): ServiceInstance | undefined {
  const picker = entry.picker as Picker;
  const exclude = options.exclude as ReadonlySet<string>;
  const first = picker.pick(options);
  if (first === undefined || !exclude.has(first.id)) return first;
  for (let attempt = 1; attempt < entry.instances.length; attempt++) {
    const again = picker.pick(options);
    if (again !== undefined && !exclude.has(again.id)) return again;
  }
  return first;
}

/** Creates a {@link Resolver}. */
export function createResolver(options: ResolverOptions): Resolver {
  return new Resolver(options);
}
