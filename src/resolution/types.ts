/**
 * The resolver's public vocabulary: what its calls take and answer, what it reports, the events
 * it emits. Kept apart from the machinery so that a reader of the API meets no implementation.
 */
import type { InstanceStatus, ServiceInstance } from '../core/instance.js';
import type { CallOutcome } from '../balancing/strategy.js';

/**
 * The tiers a resolver tries, in order, as named in `ServiceUnavailableError.attempts`:
 * `cache`, `registry`, `stale` (an older registry answer), `env` (the environment fallback), and
 * `balancer` when the strategy's picker answered no instance of those offered.
 */
export type ResolutionTier = 'cache' | 'registry' | 'stale' | 'env' | 'balancer';

/** State of the circuit breaker around registry calls. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * Which tier supplied an answer. `cache`: the cached registry answer, current. `registry`: a
 * registry call the caller waited for (a miss). `stale`: an older registry answer, the registry
 * failing. `env`: the environment tier.
 */
export type ResolveSource = 'cache' | 'registry' | 'stale' | 'env';

/** What `Resolver.pick()` answers: an instance for one call, and how to report the call. */
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
 * service (see `Resolver.resolveCounts()`). `resolve()`, `pick()` and `resolveAll()` count.
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
  /** Lookups that ended in `ServiceUnavailableError`. */
  readonly unavailable: number;
  /** Registry data losses the backend reported (`onReset`). */
  readonly resets: number;
  /** Registry answers that lacked cached instances within a reset's grace window and were served with them kept. */
  readonly provisionalAnswers: number;
  readonly breaker: BreakerState;
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

/** Events of a `Resolver`. */
export interface ResolverEvents {
  /** A service started being served from stale cache or environment (or switched between them). */
  degraded: (event: DegradedEvent) => void;
  /** A degraded service got an answer from the registry again. */
  recovered: (event: RecoveredEvent) => void;
  /** The registry circuit breaker changed state. */
  breaker: (event: { readonly state: BreakerState }) => void;
  /** The backend reported that the registry lost data; a grace window starts. */
  reset: (event: ResetEvent) => void;
}
