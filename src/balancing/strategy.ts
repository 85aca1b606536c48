/**
 * Balancing is split as grpc-js splits it: a {@link Strategy} receives a service's eligible
 * instances whenever they change and builds an immutable {@link Picker}; `pick()` is the hot
 * path, synchronous, with no I/O, no logging and no allocation beyond what the strategy needs.
 * A pick carries its own call feedback (grpc-js's `onCallStarted` / `onCallEnded`), so
 * decorators wrap the feedback of the picks they pass on instead of forwarding calls by instance.
 * Strategies are values passed in (`roundRobin()`), never registered in a global table.
 */
import type { ServiceUnavailableError } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';

/**
 * What a caller may tell the picker about one call: the options of `Resolver.resolve()`,
 * `pick()` and `resolveUrl()`, handed to the strategy's picker as they are.
 */
export interface PickContext {
  /** Affinity key for hashing strategies (client IP, user id). */
  readonly key?: string | undefined;
  /**
   * Instance ids not to pick (e.g. the one a retry is moving away from), when others remain.
   * A pick with exclusions does not take a turn from ordinary picks: retries leave the shares
   * of first picks as they would be without them.
   */
  readonly exclude?: ReadonlySet<string> | undefined;
}

/** How a call to a picked instance went; reported through {@link PickedInstance.done}. */
export interface CallOutcome {
  /** `false` for connection errors, timeouts and answers the caller counts as failures (e.g. 5xx). */
  readonly ok: boolean;
  /** Wall time of the call in milliseconds. */
  readonly latencyMs: number;
}

/** Why outlier ejection took an instance out. */
export type EjectionReason = 'consecutive-failures' | 'failure-window' | 'failed-trial';

/** An instance outlier ejection holds out of ordinary rotation. */
export interface InstanceEjection {
  readonly id: string;
  /** `ejected`: out until `until`. `half-open`: the ejection ended; its next call is a trial that decides. */
  readonly state: 'ejected' | 'half-open';
  /**
   * `consecutive-failures`: `consecutiveFailures` failed calls in a row. `failure-window`:
   * `failureWindow.failures` failed calls within `failureWindow.windowMs`. `failed-trial`: its
   * trial call after an ejection failed.
   */
  readonly reason: EjectionReason;
  /** The ejection multiplier: this ejection and the recent ones before it. */
  readonly ejections: number;
  /** When it was (last) ejected, epoch milliseconds by the strategy's clock. */
  readonly ejectedAt: number;
  /** When that ejection ends and the instance goes half-open, epoch milliseconds. */
  readonly until: number;
}

/** What a strategy knows about one instance it balances over; see {@link Strategy.inspect}. */
export interface InstanceFigures {
  readonly id: string;
  /** Calls started through `Resolver.pick()` and not yet `done()`. */
  readonly outstanding: number;
  /** Calls reported through `done()` since the strategy first saw the instance in the list. */
  readonly calls: number;
  /** Of those, calls reported with `ok: false`. */
  readonly failures: number;
  /**
   * Latency of recent calls in milliseconds: an exponentially weighted average in which each new
   * call counts for 10% (about the last twenty calls). `undefined` before the first call ends.
   */
  readonly latencyMs: number | undefined;
  /** p2c only: its peak-EWMA latency estimate, which jumps to slow calls and decays while idle. */
  readonly estimateMs?: number | undefined;
  /** Slow start only: share of its normal traffic the instance gets while it warms up (0 to 1). */
  readonly warmingShare?: number | undefined;
  /** Outlier ejection only: present while the instance is ejected or half-open. */
  readonly ejection?: InstanceEjection | undefined;
}

/**
 * A picker's choice for one call: the instance, and the hooks through which the caller reports
 * the call. Strategies that learn nothing from calls leave the hooks out. Built-in pickers build
 * one per instance and hand it out on every pick of that instance, so picking allocates nothing.
 */
export interface PickedInstance {
  readonly instance: ServiceInstance;
  /**
   * The caller is about to call `instance` and will report the call through {@link done}: counts
   * the call in flight. A caller that will not report (plain `Resolver.resolve()`) calls neither.
   */
  readonly started?: (() => void) | undefined;
  /** The call started through {@link started} ended; called once per `started()`. */
  readonly done?: ((outcome: CallOutcome) => void) | undefined;
}

/** The picker has no instance for this call, and says why. */
export interface NoInstance {
  readonly instance?: undefined;
  /**
   * Why not, e.g. `0 of 3 eligible instance(s) match the filter (version "3.0.0"), fewer than 1`:
   * the reason of the `balancer` tier in the `ServiceUnavailableError` the call rejects with.
   */
  readonly reason: string;
  /**
   * The error the call rejects with instead, when a subclass says more (`InstancesEjectedError`
   * lists the ejected instances). @default a `ServiceUnavailableError` naming {@link reason}
   */
  readonly error?: ServiceUnavailableError | undefined;
}

/** What {@link Picker.pick} returns: an instance with its feedback hooks, or none with a reason. */
export type PickResult = PickedInstance | NoInstance;

/**
 * Picks one instance of a fixed list. Built by a {@link Strategy}; never does I/O. Decorators
 * whose choice changes between list updates (outlier ejection, slow start) return a picker that
 * forwards to a child picker they swap themselves (on an ejection, on a timer), so the picker
 * the resolver cached stays valid.
 */
export interface Picker {
  /**
   * An instance, or {@link NoInstance} with the reason there is none. Pickers honour
   * `context.exclude` while an allowed instance remains, choosing among the allowed ones with
   * state of their own (a rotation, running weights) so that retries never shift the rotation of
   * ordinary picks; when every instance is excluded they return the one an ordinary pick would,
   * without taking its turn. A strict filter (`filter({ fallback: 'fail' })`) that matches
   * nothing answers `NoInstance`, which the resolver turns into `ServiceUnavailableError`.
   */
  pick(context?: PickContext): PickResult;
}

/**
 * A load-balancing strategy. It belongs to the one resolver it is given to: every built-in
 * strategy keeps per-instance figures (and load- or outcome-aware ones their decisions) by
 * service name, which the resolver releases and closes. Two resolvers sharing a round-robin or
 * random strategy still pick correctly, but mix their figures.
 */
export interface Strategy {
  /** Name for logs and status reports, e.g. `round-robin`. */
  readonly name: string;
  /**
   * Called whenever the eligible instance list of `service` changes. `instances` is never empty.
   * Call feedback comes back through the picks the picker hands out ({@link PickedInstance}).
   */
  createPicker(service: string, instances: readonly ServiceInstance[]): Picker;
  /**
   * Per-instance figures of `service`, one entry per instance it balances over, in list order:
   * calls in flight, calls and failures reported through `done()`, recent latency, and what
   * decorators add (slow-start share, ejection state). Decorators forward it to their child and
   * merge their own figures in. `undefined` for a service the strategy holds nothing for. Meant
   * for status pages and metrics scrapes: it allocates, so do not call it on every request.
   */
  inspect?(service: string): readonly InstanceFigures[] | undefined;
  /** The resolver no longer serves `service` (evicted or invalidated): drop its state. */
  release?(service: string): void;
  /** The resolver closed: clear every timer and all state. */
  close?(): void;
}
