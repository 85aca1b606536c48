/**
 * Which services are served from stale cache or the environment instead of the registry, since
 * when, and the one `degraded` / `recovered` event (and log line) per change. The resolver's
 * health is `degraded` while any service is.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { DegradedEvent, RecoveredEvent } from './types.js';

interface Degradation {
  readonly source: 'stale' | 'env';
  readonly since: number;
}

/** Where {@link Degradations} report changes: the resolver's events. */
export interface DegradationListener {
  degraded(event: DegradedEvent): void;
  recovered(event: RecoveredEvent): void;
}

export class Degradations {
  readonly #services = new Map<string, Degradation>();
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #listener: DegradationListener;

  constructor(clock: Clock, log: Logger, listener: DegradationListener) {
    this.#clock = clock;
    this.#log = log;
    this.#listener = listener;
  }

  /** Whether some service is degraded. */
  get any(): boolean {
    return this.#services.size > 0;
  }

  has(service: string): boolean {
    return this.#services.has(service);
  }

  /** `service` is served from `source`; reported when it was not already (a switch between the two is reported). */
  degraded(service: string, source: 'stale' | 'env', reason: string): void {
    const previous = this.#services.get(service);
    if (previous?.source === source) return;
    this.#services.set(service, { source, since: previous?.since ?? this.#clock.now() });
    const served = source === 'stale' ? 'stale cache' : 'environment fallback';
    this.#log.warn({ service, source, reason }, `serving ${service} from ${served}: ${reason}`);
    this.#listener.degraded({ service, source, reason });
  }

  /**
   * The registry answered for `service`. An answer with nobody eligible (`eligible` false) sends
   * callers on to the environment: a service served from there stays degraded, rather than
   * flapping recovered / degraded on every retry.
   */
  registryServed(service: string, eligible: boolean): void {
    const degraded = this.#services.get(service);
    if (degraded === undefined || (!eligible && degraded.source === 'env')) return;
    this.#services.delete(service);
    const degradedForMs = this.#clock.now() - degraded.since;
    this.#log.info({ service, degradedForMs }, `${service} is served from the registry again`);
    this.#listener.recovered({ service, degradedForMs });
  }

  clear(): void {
    this.#services.clear();
  }
}
