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
}

/** Picks one instance of a fixed list. Built by a {@link Strategy}; never does I/O. */
export interface Picker {
  /** One instance, or `undefined` when the list is empty. */
  pick(context?: PickContext): ServiceInstance | undefined;
}

/** A load-balancing strategy. One strategy value may serve many services. */
export interface Strategy {
  /** Name for logs and status reports, e.g. `round-robin`. */
  readonly name: string;
  /** Called whenever the eligible instance list of `service` changes. `instances` is never empty. */
  createPicker(service: string, instances: readonly ServiceInstance[]): Picker;
}
