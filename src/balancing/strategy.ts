/**
 * Balancing is split as grpc-js splits it: a {@link Strategy} receives a service's eligible
 * instances whenever they change and builds an immutable {@link Picker}; `pick()` is the hot
 * path, synchronous, with no I/O, no logging and no allocation beyond what the strategy needs.
 * Strategies are values passed in (`roundRobin()`), never registered in a global table.
 */
import type { ServiceInstance } from '../core/instance.js';

/** What a caller may tell the picker about one call. */
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

/** How a call to a picked instance went; reported through {@link Strategy.callEnded}. */
export interface CallOutcome {
  /** `false` for connection errors, timeouts and answers the caller counts as failures (e.g. 5xx). */
  readonly ok: boolean;
  /** Wall time of the call in milliseconds. */
  readonly latencyMs: number;
}

/**
 * Picks one instance of a fixed list. Built by a {@link Strategy}; never does I/O. Decorators
 * whose choice changes between list updates (outlier ejection, slow start) return a picker that
 * forwards to a child picker they swap themselves (on an ejection, on a timer), so the picker
 * the resolver cached stays valid.
 */
export interface Picker {
  /**
   * One instance, or `undefined` when the list is empty. Pickers honour `context.exclude` while
   * an allowed instance remains, choosing among the allowed ones with state of their own (a
   * rotation, running weights) so that retries never shift the rotation of ordinary picks; when
   * every instance is excluded they return the one an ordinary pick would, without taking its
   * turn. A strict filter (`filter({ fallback: 'fail' })`) that matches nothing throws
   * `ServiceUnavailableError`, which the resolver passes on to the caller.
   */
  pick(context?: PickContext): ServiceInstance | undefined;
}

/**
 * A load-balancing strategy. Stateless strategies (round-robin, random) may be shared between
 * resolvers; stateful ones (load- or outcome-aware) belong to the one resolver they are given to.
 */
export interface Strategy {
  /** Name for logs and status reports, e.g. `round-robin`. */
  readonly name: string;
  /** Called whenever the eligible instance list of `service` changes. `instances` is never empty. */
  createPicker(service: string, instances: readonly ServiceInstance[]): Picker;
  /** A call to `instance` picked through `Resolver.pick()` starts. */
  callStarted?(service: string, instance: ServiceInstance): void;
  /** That call ended. Called once per `callStarted`. */
  callEnded?(service: string, instance: ServiceInstance, outcome: CallOutcome): void;
  /** The resolver no longer serves `service` (evicted or invalidated): drop its state. */
  release?(service: string): void;
  /** The resolver closed: clear every timer and all state. */
  close?(): void;
}
