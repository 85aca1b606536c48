/**
 * The lookup side: "where is `orders`?" answered before every outbound call.
 *
 * Tiers, in order: fresh cache → registry (through a circuit breaker and a timeout; concurrent
 * misses share one call) → stale cache (up to `maxStaleMs` after the registry last vouched for
 * it) → environment fallback → {@link ServiceUnavailableError} listing every tier tried. A
 * watch-capable backend keeps the cache current by push. While the registry is failing, callers
 * are answered from stale cache or environment at once and one background call retries. After the
 * backend reports that the registry lost data, answers lacking cached instances are provisional
 * for `resetGraceMs` (see reset-grace.ts). The resolver never knows which backend it talks to,
 * and the hot path (a warm cache hit) reads no clock, logs nothing and allocates nothing.
 */
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  TaskCancelledError,
  circuitBreaker,
  handleAll,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import type { RegistryBackend, RegistryReset, Unsubscribe } from '../backends/backend.js';
import { jitterDown, type Clock } from '../core/clock.js';
import type { EventArguments } from '../core/events.js';
import { ClosedError, RegistryUnavailableError, ServiceUnavailableError, describeValue, messageOf, type TierAttempt } from '../core/errors.js';
import { SERVICE_NAME_PATTERN, assertServiceName, instanceOrigin, type InstanceStatus, type ServiceInstance } from '../core/instance.js';
import type { Logger } from '../core/logger.js';
import type { CallOutcome, InstanceFigures, PickContext, PickResult, PickedInstance, Picker, Strategy } from '../balancing/strategy.js';
import { lookupEnv, type EnvFallbackOptions } from './env-fallback.js';
import { assertResolveOptions, checkResolverOptions, type ResolverOptions, type WarningPolicy } from './options.js';
import { assertRequestPath, joinPath } from './request-path.js';
import { ResetGrace, missingFrom } from './reset-grace.js';
import { withinTimeLimit } from './time-limit.js';

export { DEFAULT_RESET_GRACE_MS, MAX_SERVICES_LIMIT, type ResolverOptions, type WarningPolicy } from './options.js';

/** Options of one resolve call. */
export type ResolveOptions = PickContext;

/**
 * Which tier supplied an answer. `cache`: the cached registry answer, current. `registry`: a
 * registry call the caller waited for (a miss). `stale`: an older registry answer, the registry
 * failing. `env`: the environment tier.
 */
export type ResolveSource = 'cache' | 'registry' | 'stale' | 'env';

/** What {@link Resolver.pick} answers: an instance for one call, and how to report the call. */
export interface ResolvedPick {
  readonly instance: ServiceInstance;
  /** Which tier supplied the instance. */
  readonly source: ResolveSource;
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
  /** Whether the answer is within its TTL or kept current by a working watch; `false` once past `cacheTtlMs`. */
  readonly fresh: boolean;
  /** Whether a watch on the backend pushes changes for this service right now. */
  readonly watching: boolean;
  /**
   * Whether the answer keeps instances the registry no longer lists, because the backend
   * reported that the registry lost data less than `resetGraceMs` ago.
   */
  readonly provisional: boolean;
  /** When the answer's data was obtained (epoch ms): the last registry fetch or watch delivery, or the environment read. */
  readonly updatedAt: number;
  /**
   * When the registry last vouched for the answer (epoch ms): its last fetch or watch delivery,
   * the present moment while a watch works, or the moment a working watch broke.
   */
  readonly confirmedAt: number;
  /** Time since `confirmedAt`: what `maxStaleMs` is compared with. */
  readonly ageMs: number;
  /** Instances eligible for picking. */
  readonly instances: readonly ServiceInstance[];
  /** Instances the registry listed, eligible or not (instances kept through a reset not included). */
  readonly listed: number;
  /** Those `listed` instances by status (environment answers count as `passing`). */
  readonly counts: Readonly<Record<InstanceStatus, number>>;
}

/**
 * Resolves of one service by the tier that answered them, since the resolver first counted the
 * service (see {@link Resolver.resolveCounts}). `resolve()`, `pick()` and `resolveAll()` count.
 */
export interface ServiceResolveCounts {
  readonly service: string;
  /** Answered from the cached registry answer while current. */
  readonly cache: number;
  /** Answered by a registry call the caller waited for. */
  readonly registry: number;
  /** Answered from stale cache while the registry failed. */
  readonly stale: number;
  /** Answered by the environment tier. */
  readonly env: number;
  /** Ended in `ServiceUnavailableError`: no tier had an eligible instance, or the strategy picked none. */
  readonly unavailable: number;
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
  /** Registry data losses the backend reported (`onReset`). */
  readonly resets: number;
  /** Registry answers that lacked cached instances within a reset's grace window and were served with them kept. */
  readonly provisionalAnswers: number;
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

/** The backend reported that the registry lost data. */
export interface ResetEvent {
  /** The service whose data was lost; undefined when the whole registry (or namespace) was. */
  readonly service: string | undefined;
  /** What showed the loss, as the backend put it. */
  readonly reason: string;
  /** How long answers lacking cached instances are provisional (`resetGraceMs`). */
  readonly graceMs: number;
}

/** Events of a {@link Resolver}. */
export interface ResolverEvents {
  /** A service started being served from stale cache or environment (or switched between them). */
  degraded: (event: DegradedEvent) => void;
  /** A degraded service got an answer from the registry again. */
  recovered: (event: RecoveredEvent) => void;
  /** The registry circuit breaker changed state. */
  breaker: (event: { readonly state: 'open' | 'half-open' | 'closed' }) => void;
  /** The backend reported that the registry lost data; a grace window starts. */
  reset: (event: ResetEvent) => void;
}

/** One counter, shared by reference so that a cache hit increments it without a lookup. */
interface Counter {
  count: number;
}

/** A service's resolves by answering tier. */
type Tally = Readonly<Record<ResolveSource | 'unavailable', Counter>>;

interface CacheEntry {
  /** Eligible instances only. */
  readonly instances: readonly ServiceInstance[];
  readonly listed: number;
  readonly counts: Readonly<Record<InstanceStatus, number>>;
  /** What a cache hit on this entry counts: its service's counter for `source`. */
  readonly hits: Counter;
  /** Undefined when no instance is eligible (a cached "nobody"). */
  readonly picker: Picker | undefined;
  readonly updatedAt: number;
  /** When the registry last vouched for this answer, a working watch aside (see {@link Resolver.status}). */
  readonly confirmedAt: number;
  readonly source: AnswerSource;
  readonly provisional: boolean;
}

interface WatchState {
  unsubscribe: Unsubscribe;
  healthy: boolean;
}

interface Degradation {
  readonly source: 'stale' | 'env';
  readonly since: number;
}

const NO_CONTEXT: PickContext = {};
/**
 * Services counted while not in cache (their lookups failed, or they were evicted) beyond those
 * cached: the oldest of them is forgotten first, so names nobody can resolve cannot grow the
 * counts without bound.
 */
const UNCACHED_COUNTED = 100;
const NOTHING_KEPT: readonly ServiceInstance[] = [];
const CONTROL_CHARACTERS = /\p{Cc}/gu;
const MAX_REASON_LENGTH = 200;

/** A resolver: `createResolver(options)`. */
export class Resolver extends EventEmitter<EventArguments<ResolverEvents>> {
  readonly #backend: RegistryBackend;
  readonly #strategy: Strategy;
  readonly #cacheTtlMs: number;
  readonly #maxStaleMs: number;
  readonly #degradedRetryMs: number;
  readonly #resetGraceMs: number;
  readonly #warning: WarningPolicy;
  readonly #watchEnabled: boolean;
  readonly #env: EnvFallbackOptions | undefined;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #registryTimeoutMs: number;
  readonly #cache: LRUCache<string, CacheEntry>;
  readonly #breaker: CircuitBreakerPolicy;
  readonly #consecutiveFailures: ConsecutiveBreaker;
  #breakerState: ResolverStats['breaker'] = 'closed';
  readonly #disposeBreakerListeners: () => void;
  readonly #stopResetListener: Unsubscribe;
  readonly #grace = new ResetGrace();
  readonly #inflight = new Map<string, Promise<CacheEntry>>();
  readonly #registryCalls = new Map<string, Promise<CacheEntry>>();
  readonly #watches = new Map<string, WatchState>();
  readonly #degraded = new Map<string, Degradation>();
  /** Every cached service's counts, and those of up to {@link UNCACHED_COUNTED} others. */
  readonly #tallies = new Map<string, Tally>();
  /**
   * Set when a registry call timed out: callers should not wait for the registry. Cleared when a
   * call or watch delivery succeeds, or a call fails fast (an answering registry stalls nobody).
   */
  #registryHanging: string | undefined;
  readonly #counters = {
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
  #closed = false;

  constructor(options: ResolverOptions) {
    super();
    const settings = checkResolverOptions(options);
    this.#backend = settings.backend;
    this.#strategy = settings.strategy;
    this.#cacheTtlMs = settings.cacheTtlMs;
    this.#maxStaleMs = settings.maxStaleMs;
    this.#degradedRetryMs = settings.degradedRetryMs;
    this.#resetGraceMs = settings.resetGraceMs;
    this.#registryTimeoutMs = settings.registryTimeoutMs;
    this.#warning = settings.warning;
    this.#watchEnabled = settings.watch;
    this.#env = settings.env;
    this.#log = settings.log;
    this.#clock = settings.clock;
    this.#random = settings.random;

    this.#cache = new LRUCache<string, CacheEntry>({
      max: settings.maxServices,
      ttl: this.#cacheTtlMs,
      // Reads the clock at most every 10 ms instead of on every hit.
      ttlResolution: 10,
      noDeleteOnStaleGet: true,
      perf: { now: () => this.#clock.now() },
      dispose: (_entry, service, reason) => {
        if (reason !== 'evict' && reason !== 'delete') return;
        this.#stopWatch(service);
        this.#grace.forget(service);
        this.#strategy.release?.(service);
      },
    });

    this.#consecutiveFailures = new ConsecutiveBreaker(settings.breakerThreshold);
    this.#breaker = circuitBreaker(handleAll, { halfOpenAfter: settings.breakerHalfOpenAfterMs, breaker: this.#consecutiveFailures });
    const listeners = [
      this.#breaker.onBreak((reason) => {
        // `isolated` is our own doing in #registryAnswered, on the way to closed: not a break.
        if (!('isolated' in reason)) this.#onBreaker('open');
      }),
      this.#breaker.onHalfOpen(() => this.#onBreaker('half-open')),
      this.#breaker.onReset(() => this.#onBreaker('closed')),
    ];
    this.#disposeBreakerListeners = () => listeners.forEach((listener) => listener.dispose());

    const stop: unknown = this.#backend.onReset?.((reset) => this.#onReset(reset));
    this.#stopResetListener = typeof stop === 'function' ? (stop as Unsubscribe) : () => {};
  }

  /** One instance of `service`, picked by the strategy. */
  resolve(service: string, options?: ResolveOptions): Promise<ServiceInstance> {
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

  async #resolveWith(service: string, options: ResolveOptions): Promise<ServiceInstance> {
    assertResolveOptions(options);
    const entry = this.#cache.get(service);
    const picked = entry === undefined ? undefined : this.#pickCached(service, entry, options);
    return (picked ?? (await this.#resolveMissed(service, options)).picked).instance;
  }

  /**
   * Like {@link resolve}, and tells the strategy the call started; report the outcome through
   * `done()` so load- and outcome-aware strategies learn from it. `createDiscoveryFetch` does this.
   */
  async pick(service: string, options?: ResolveOptions): Promise<ResolvedPick> {
    if (options !== undefined) assertResolveOptions(options);
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
  async resolveUrl(service: string, path = '', options?: ResolveOptions): Promise<string> {
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
    return this.#degraded.size === 0 ? 'healthy' : 'degraded';
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
    return { ...this.#counters, breaker: this.#breakerState };
  }

  /** Stops watches and drops the cache. Idempotent; later resolves reject with `CLOSED`. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#stopResetListener();
    this.#cache.clear();
    for (const service of [...this.#watches.keys()]) this.#stopWatch(service);
    this.#inflight.clear();
    this.#registryCalls.clear();
    this.#degraded.clear();
    this.#tallies.clear();
    this.#grace.clear();
    this.#disposeBreakerListeners();
    this.#strategy.close?.();
    this.removeAllListeners();
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A pick of a cached entry (counted), or `undefined` when its picker offers nothing usable. */
  #pickCached(service: string, entry: CacheEntry, options: ResolveOptions | undefined): PickedInstance | undefined {
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
  async #resolveMissed(service: string, options: ResolveOptions | undefined): Promise<{ picked: PickedInstance; source: ResolveSource }> {
    const found = await this.#lookupCounted(service);
    const picked = found.picker === undefined ? undefined : this.#picked(service, found.picker.pick(options ?? NO_CONTEXT));
    if (picked !== undefined) return { picked, source: this.#countMiss(service, found) };
    // A picker that broke its contract and answered nothing at all.
    this.#counters.unavailable++;
    this.#tallyOf(service).unavailable.count++;
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
    this.#tallyOf(service).unavailable.count++;
    throw result.error instanceof ServiceUnavailableError ? result.error : new ServiceUnavailableError(service, [{ tier: 'balancer', reason: result.reason }]);
  }

  /** {@link #lookup}, counting a `ServiceUnavailableError` against the service. */
  async #lookupCounted(service: string): Promise<CacheEntry> {
    try {
      return await this.#lookup(service);
    } catch (error) {
      if (error instanceof ServiceUnavailableError) this.#tallyOf(service).unavailable.count++;
      throw error;
    }
  }

  /** Counts an answer found past the fresh cache: a registry answer was waited for; stale and env answers are what they are. */
  #countMiss(service: string, found: CacheEntry): ResolveSource {
    const source: ResolveSource = found.source === 'cache' ? 'registry' : found.source;
    this.#tallyOf(service)[source].count++;
    return source;
  }

  /** The counts of `service`, created on first use; makes room by forgetting the oldest service not in cache. */
  #tallyOf(service: string): Tally {
    let tally = this.#tallies.get(service);
    if (tally !== undefined) return tally;
    // Every cached service has counts, so the difference is the number of uncached ones.
    if (this.#tallies.size - this.#cache.size >= UNCACHED_COUNTED) {
      for (const name of this.#tallies.keys()) {
        if (name !== service && this.#cache.peek(name, { allowStale: true }) === undefined) {
          this.#tallies.delete(name);
          break;
        }
      }
    }
    tally = { cache: { count: 0 }, registry: { count: 0 }, stale: { count: 0 }, env: { count: 0 }, unavailable: { count: 0 } };
    this.#tallies.set(service, tally);
    return tally;
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
      const atOnce = this.#fallBackAtOnce(service);
      if (atOnce !== undefined) return atOnce;
      try {
        const entry = await this.#registryCall(service);
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

  /**
   * While the registry hangs (its last call timed out) or this service is degraded, callers do
   * not wait for it: the stale or environment tier answers now and one background call retries.
   * Undefined when neither tier has an answer: then the registry is the only hope, worth waiting for.
   */
  #fallBackAtOnce(service: string): CacheEntry | undefined {
    const failure = this.#registryHanging ?? (this.#degraded.has(service) ? 'the last registry call for this service failed' : undefined);
    if (failure === undefined) return undefined;
    const reason = `not waited for, asked again in the background: ${failure}`;
    const attempts: TierAttempt[] = [{ tier: 'registry', reason }];
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
      // Breaker outside the time limit, so a registry that hangs counts as failing.
      instances = await this.#breaker.execute(() => withinTimeLimit(this.#listInstances(service), this.#registryTimeoutMs));
    } catch (error) {
      this.#counters.registryFailures++;
      if (error instanceof TaskCancelledError) this.#registryHanging = this.#describeRegistryFailure(error);
      // An open breaker fails fast, but its half-open trial may hang again: it keeps the mark.
      else if (!(error instanceof BrokenCircuitError)) this.#registryHanging = undefined;
      throw error;
    }
    if (this.#closed) throw new ClosedError('Resolver');
    this.#registryHanging = undefined;
    const entry = this.#store(service, instances);
    this.#registryServed(service, entry);
    return entry;
  }

  async #listInstances(service: string): Promise<readonly ServiceInstance[]> {
    const instances: unknown = await this.#backend.instances(service);
    if (!Array.isArray(instances)) {
      throw new RegistryUnavailableError(this.#backend.kind, 'instances', `expected an array of instances, got ${describeValue(instances)}`);
    }
    return instances as readonly ServiceInstance[];
  }

  /**
   * Caches a registry answer (fetched or pushed). Within a reset's grace window, instances the
   * previous answer had and this one lacks are kept, and the merged answer is cached only until
   * the next retry, so the registry is asked again soon.
   */
  #store(service: string, listed: readonly ServiceInstance[]): CacheEntry {
    const now = this.#clock.now();
    const graceUntil = this.#grace.until(service, now);
    const kept = graceUntil === undefined ? NOTHING_KEPT : this.#keptThroughReset(service, listed, now);
    const instances = this.#eligible(kept.length === 0 ? listed : [...listed, ...kept]);
    const provisional = kept.length > 0 && instances.some((instance) => kept.includes(instance));
    const entry: CacheEntry = {
      instances,
      listed: listed.length,
      counts: countByStatus(listed),
      hits: this.#tallyOf(service).cache,
      picker: instances.length === 0 ? undefined : this.#strategy.createPicker(service, instances),
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
      ttl = this.#watches.get(service)?.healthy === true ? 0 : jitterDown(this.#cacheTtlMs, 0.1, this.#random);
    }
    this.#cache.set(service, entry, { ttl });
    return entry;
  }

  /** The eligible instances of the previous registry answer that `listed` lacks, unless too old to serve. */
  #keptThroughReset(service: string, listed: readonly ServiceInstance[], now: number): readonly ServiceInstance[] {
    const previous = this.#cache.peek(service, { allowStale: true });
    if (previous === undefined || previous.source === 'env') return NOTHING_KEPT;
    if (now - this.#confirmedAt(service, previous, now) > this.#maxStaleMs) return NOTHING_KEPT;
    return missingFrom(previous.instances, listed);
  }

  #eligible(listed: readonly ServiceInstance[]): readonly ServiceInstance[] {
    // Usually every instance passes: a frozen list (as watches deliver) is then kept as it is,
    // rather than copied for each service and each change. A plain loop: V8's array builtins
    // (every, filter, slice) are many times slower on frozen arrays.
    if (Object.isFrozen(listed) && allPassing(listed)) return listed;
    const passing = listed.filter((instance) => instance.status === 'passing');
    if (this.#warning === 'exclude' || (this.#warning === 'fallback' && passing.length > 0)) return Object.freeze(passing);
    return Object.freeze(listed.filter((instance) => instance.status === 'passing' || instance.status === 'warning'));
  }

  /** A working watch vouches for a registry answer continuously; otherwise its last confirmation stands. */
  #confirmedAt(service: string, entry: CacheEntry, now: number): number {
    return entry.source === 'cache' && this.#watches.get(service)?.healthy === true ? now : entry.confirmedAt;
  }

  #describe(service: string, entry: CacheEntry, remainingTtl: number | undefined, now: number): ServiceResolutionStatus {
    const confirmedAt = this.#confirmedAt(service, entry, now);
    return {
      service,
      source: entry.source,
      fresh: remainingTtl === undefined || remainingTtl >= 0,
      watching: this.#watches.get(service)?.healthy ?? false,
      provisional: entry.provisional,
      updatedAt: entry.updatedAt,
      confirmedAt,
      ageMs: Math.max(0, now - confirmedAt),
      instances: entry.instances,
      listed: entry.listed,
      counts: entry.counts,
    };
  }

  #useStale(service: string, reason: string, attempts: TierAttempt[]): CacheEntry | undefined {
    const stale = this.#cache.peek(service, { allowStale: true });
    if (stale === undefined || stale.source === 'env') {
      attempts.push({ tier: 'stale', reason: 'no earlier registry answer is cached' });
      return undefined;
    }
    if (stale.picker === undefined) {
      attempts.push({ tier: 'stale', reason: `the last registry answer had no eligible instance` });
      return undefined;
    }
    const now = this.#clock.now();
    const age = now - this.#confirmedAt(service, stale, now);
    if (age > this.#maxStaleMs) {
      attempts.push({ tier: 'stale', reason: `the cached answer was last confirmed by the registry ${age} ms ago, over maxStaleMs (${this.#maxStaleMs})` });
      return undefined;
    }
    this.#counters.staleFallbacks++;
    const entry: CacheEntry = { ...stale, source: 'stale', hits: this.#tallyOf(service).stale };
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
      counts: countByStatus(found.instances),
      hits: this.#tallyOf(service).env,
      picker: this.#strategy.createPicker(service, found.instances),
      updatedAt: now,
      confirmedAt: now,
      source: 'env',
      provisional: false,
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
          if (!Array.isArray(instances)) {
            this.#log.debug({ service, received: describeValue(instances) }, 'watch delivered something other than a list; ignored');
            return;
          }
          state.healthy = true;
          this.#counters.watchUpdates++;
          this.#registryAnswered();
          this.#registryServed(service, this.#store(service, instances));
        },
        onError: (error) => {
          if (this.#watches.get(service) !== state || !state.healthy) return;
          state.healthy = false;
          this.#log.debug({ service, err: error }, 'watch interrupted; answers now age by cacheTtlMs');
          this.#watchBroke(service);
        },
      });
    } catch (error) {
      this.#watches.delete(service);
      this.#log.warn({ service, err: error }, `could not watch ${service}; relying on cacheTtlMs`);
    }
  }

  /**
   * The watch vouched for the cached answer until now; from here it ages like a fetched one: it
   * turns stale within `cacheTtlMs` and may be served stale for `maxStaleMs` from this moment.
   */
  #watchBroke(service: string): void {
    const entry = this.#cache.peek(service, { allowStale: true });
    if (entry === undefined || entry.source !== 'cache') return;
    const confirmed: CacheEntry = { ...entry, confirmedAt: this.#clock.now() };
    const ttl = jitterDown(this.#cacheTtlMs, 0.1, this.#random);
    if (this.#cache.getRemainingTTL(service) > ttl) this.#cache.set(service, confirmed, { ttl });
    else this.#cache.set(service, confirmed, { noUpdateTTL: true });
  }

  #stopWatch(service: string): void {
    const state = this.#watches.get(service);
    if (state === undefined) return;
    this.#watches.delete(service);
    state.unsubscribe();
  }

  /** A watch delivery proves the registry answers: it is no longer failing, and the breaker closes. */
  #registryAnswered(): void {
    this.#registryHanging = undefined;
    if (this.#breaker.state === CircuitState.Closed) return;
    this.#consecutiveFailures.success();
    // cockatiel's one public way to close a breaker: isolate, then release; its onReset reports `closed`.
    this.#breaker.isolate().dispose();
  }

  #onReset(reset: RegistryReset): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    const named = typeof reset?.service === 'string' && SERVICE_NAME_PATTERN.test(reset.service) ? reset.service : undefined;
    const reason = typeof reset?.reason === 'string' ? reset.reason.replace(CONTROL_CHARACTERS, ' ').slice(0, MAX_REASON_LENGTH) : 'no reason given';
    this.#counters.resets++;
    // A loss reported for a service we do not cache leaves nothing to keep (and a reset we cannot
    // attribute to one valid service name covers them all).
    const cached = named === undefined || this.#cache.peek(named, { allowStale: true }) !== undefined;
    if (cached && this.#resetGraceMs > 0) this.#grace.open(named, now + this.#resetGraceMs);
    const scope = named === undefined ? 'the registry' : `the registry's data of ${named}`;
    this.#log.warn(
      { service: named, reason, graceMs: this.#resetGraceMs },
      `${scope} was lost (${reason}); for ${this.#resetGraceMs} ms, cached instances missing from its answers are kept`,
    );
    this.#emitSafely('reset', { service: named, reason, graceMs: this.#resetGraceMs });
  }

  // Runs inside the backend's own call; a throwing listener must not break the backend.
  #emitSafely(event: 'reset', payload: ResetEvent): void {
    try {
      this.emit(event, payload);
    } catch (error) {
      this.#log.error({ err: error, event }, `a ${event} listener threw`);
    }
  }

  #markDegraded(service: string, source: 'stale' | 'env', reason: string): void {
    const previous = this.#degraded.get(service);
    if (previous?.source === source) return;
    this.#degraded.set(service, { source, since: previous?.since ?? this.#clock.now() });
    const served = source === 'stale' ? 'stale cache' : 'environment fallback';
    this.#log.warn({ service, source, reason }, `serving ${service} from ${served}: ${reason}`);
    this.emit('degraded', { service, source, reason });
  }

  // An answer with nobody eligible sends callers on to the environment: a service served from
  // there stays degraded, rather than flapping recovered / degraded on every retry.
  #registryServed(service: string, entry: CacheEntry): void {
    if (entry.picker === undefined && this.#degraded.get(service)?.source === 'env') return;
    this.#markRecovered(service);
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

function allPassing(listed: readonly ServiceInstance[]): boolean {
  for (let i = 0; i < listed.length; i++) if ((listed[i] as ServiceInstance).status !== 'passing') return false;
  return true;
}

function countByStatus(instances: readonly ServiceInstance[]): Readonly<Record<InstanceStatus, number>> {
  const counts = { passing: 0, warning: 0, critical: 0, draining: 0 };
  // A third-party backend's bad status is not counted (nor picked: see #eligible).
  for (const instance of instances) if (Object.hasOwn(counts, instance.status)) counts[instance.status]++;
  return counts;
}

/** Creates a {@link Resolver}. */
export function createResolver(options: ResolverOptions): Resolver {
  return new Resolver(options);
}
