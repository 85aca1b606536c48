/**
 * The resolver's rule for registries that lose data: after the backend reports a loss (a restart
 * with an empty data set, a flush, a failover that missed writes), an answer lacking instances we
 * had cached is not the truth yet. Live instances re-register within one heartbeat, so for a grace
 * window the instances we knew and the registry no longer lists are kept, as Eureka's
 * self-preservation keeps instances when renewals stop en masse. The trigger is the backend's
 * detection, never a guess from the size of an answer.
 */
import type { RegistryReset } from '../backends/backend.js';
import { SERVICE_NAME_PATTERN, type ServiceInstance } from '../core/instance.js';

const CONTROL_CHARACTERS = /\p{Cc}/gu;
const MAX_REASON_LENGTH = 200;

/**
 * What a backend's reset report says, made safe to log and to key on: the service when it is a
 * valid service name (otherwise the loss covers every service), the reason without control
 * characters and at most 200 characters long.
 */
export function readReset(reset: RegistryReset | undefined): { readonly service: string | undefined; readonly reason: string } {
  const service = typeof reset?.service === 'string' && SERVICE_NAME_PATTERN.test(reset.service) ? reset.service : undefined;
  const reason = typeof reset?.reason === 'string' ? reset.reason.replace(CONTROL_CHARACTERS, ' ').slice(0, MAX_REASON_LENGTH) : 'no reason given';
  return { service, reason };
}

/** Grace windows after reported losses: one for the whole registry, one per service. */
export class ResetGrace {
  #allUntil = 0;
  // Only services the resolver has cached: a loss elsewhere has nothing to keep. Bounded by the cache.
  readonly #services = new Map<string, number>();

  /** Opens (or extends) a window ending at `until`, for `service` or, when undefined, for every service. */
  open(service: string | undefined, until: number): void {
    if (service === undefined) this.#allUntil = Math.max(this.#allUntil, until);
    else this.#services.set(service, Math.max(this.#services.get(service) ?? 0, until));
  }

  /** When the window covering `service` ends, or `undefined` when none is open at `now`. */
  until(service: string, now: number): number | undefined {
    const own = this.#services.get(service);
    if (own !== undefined && own <= now) this.#services.delete(service);
    const until = Math.max(this.#allUntil, own ?? 0);
    return until > now ? until : undefined;
  }

  /** Forgets `service` (it left the cache). */
  forget(service: string): void {
    this.#services.delete(service);
  }

  clear(): void {
    this.#allUntil = 0;
    this.#services.clear();
  }
}

/** The instances of `known` that `listed` lacks (matched by id): what a reset may have lost. */
export function missingFrom(known: readonly ServiceInstance[], listed: readonly ServiceInstance[]): readonly ServiceInstance[] {
  if (known.length === 0) return known;
  const ids = new Set<string>();
  for (const instance of listed) ids.add(instance.id);
  return known.filter((instance) => !ids.has(instance.id));
}
