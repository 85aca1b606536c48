/**
 * The resolver's watches: one per cached service on a watch-capable backend, started on the
 * service's first lookup and stopped when it leaves the cache. A watch is healthy from its first
 * delivery until it reports an error; while healthy, it vouches for the cached answer.
 */
import type { RegistryBackend, Unsubscribe } from '../backends/backend.js';
import { describeValue } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';
import type { Logger } from '../core/logger.js';

interface WatchState {
  unsubscribe: Unsubscribe;
  healthy: boolean;
}

/** What the resolver does with what watches tell. */
export interface WatchListener {
  /** A list of `service`'s instances was delivered (checked to be an array, nothing more). */
  delivered(service: string, instances: readonly ServiceInstance[]): void;
  /** The healthy watch of `service` reported an error: it no longer vouches for the answer. */
  broke(service: string): void;
}

export class ServiceWatches {
  readonly #states = new Map<string, WatchState>();
  readonly #backend: RegistryBackend;
  readonly #enabled: boolean;
  readonly #log: Logger;
  readonly #listener: WatchListener;

  /** `enabled`: watching was asked for and the backend can. */
  constructor(backend: RegistryBackend, enabled: boolean, log: Logger, listener: WatchListener) {
    this.#backend = backend;
    this.#enabled = enabled;
    this.#log = log;
    this.#listener = listener;
  }

  /** Whether a watch pushes changes of `service` right now. */
  healthy(service: string): boolean {
    return this.#states.get(service)?.healthy === true;
  }

  /** Watches `service`, unless disabled or already watched. A backend that refuses is logged, and answers age by `cacheTtlMs`. */
  start(service: string): void {
    if (!this.#enabled || this.#states.has(service)) return;
    const state: WatchState = { unsubscribe: () => {}, healthy: false };
    this.#states.set(service, state);
    try {
      state.unsubscribe = (this.#backend.watch as NonNullable<RegistryBackend['watch']>).call(this.#backend, service, {
        onChange: (instances) => {
          if (this.#states.get(service) !== state) return;
          if (!Array.isArray(instances)) {
            this.#log.debug({ service, received: describeValue(instances) }, 'watch delivered something other than a list; ignored');
            return;
          }
          state.healthy = true;
          this.#listener.delivered(service, instances);
        },
        onError: (error) => {
          if (this.#states.get(service) !== state || !state.healthy) return;
          state.healthy = false;
          this.#log.debug({ service, err: error }, 'watch interrupted; answers now age by cacheTtlMs');
          this.#listener.broke(service);
        },
      });
    } catch (error) {
      this.#states.delete(service);
      this.#log.warn({ service, err: error }, `could not watch ${service}; relying on cacheTtlMs`);
    }
  }

  stop(service: string): void {
    const state = this.#states.get(service);
    if (state === undefined) return;
    this.#states.delete(service);
    state.unsubscribe();
  }

  stopAll(): void {
    for (const service of [...this.#states.keys()]) this.stop(service);
  }
}
