/**
 * A `@nestjs/terminus` health indicator for rollcall. A terminus indicator is a function that
 * returns `{ [key]: { status: 'up' | 'down', ...details } }`, so this one needs nothing from
 * terminus at run time: `rollcall/nest` loads whether or not terminus is installed.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { CheckReport } from '../../registration/health-checks.js';
import type { RegistrationState } from '../../registration/registration.js';
import type { ResolverStats } from '../../resolution/resolver.js';
import type { HealthAnswerStatus, RollcallHandle } from '../handle.js';

/** What the indicator reports under its key; a terminus `HealthIndicatorResult` entry. */
export interface RollcallHealthDetails {
  /**
   * `up` when rollcall's own health route would answer 200 (local checks passing or warning),
   * `down` when it would answer 503: checks critical, not yet registered, draining or stopped.
   */
  readonly status: 'up' | 'down';
  /** The health route's status: `passing`, `warning`, `critical`, `starting`, `draining` or `stopped`. */
  readonly health: HealthAnswerStatus;
  readonly service: string;
  /** The registered instance id, once registered. */
  readonly id?: string | undefined;
  /**
   * The registration's state. `standalone` (the registry unreachable, the service serving) stays
   * `up`: taking a fleet out of its load balancer because the registry blinked would be worse.
   */
  readonly registration: RegistrationState | 'none';
  /** Each local check's last result. */
  readonly checks: Readonly<Record<string, CheckReport>>;
  /**
   * The resolver's health, reported but never `down` by itself: `degraded` means some answers
   * come from the stale cache or the environment because the registry is failing.
   */
  readonly resolver: { readonly health: 'healthy' | 'degraded'; readonly breaker: ResolverStats['breaker'] };
}

/**
 * Reports registration state and resolver health to `@nestjs/terminus`. `RollcallModule`
 * provides it; inject it next to terminus's `HealthCheckService`:
 *
 * @example
 * check() {
 *   return this.health.check([() => this.rollcall.isHealthy('rollcall')]);
 * }
 */
export class RollcallHealthIndicator {
  readonly #life: RollcallHandle;

  constructor(life: RollcallHandle) {
    this.#life = life;
  }

  /** The indicator result under `key`. @default key 'rollcall' */
  isHealthy<const Key extends string = 'rollcall'>(key: Key = 'rollcall' as Key): Record<Key, RollcallHealthDetails> {
    if (typeof key !== 'string' || key === '') throw new InvalidArgumentError('key', 'a non-empty string naming the indicator', key);
    const { statusCode, body } = this.#life.health();
    const resolver = this.#life.resolver;
    const details: RollcallHealthDetails = {
      status: statusCode === 200 ? 'up' : 'down',
      health: body.status,
      service: body.service,
      ...(body.id === undefined ? {} : { id: body.id }),
      registration: body.registration,
      checks: body.checks,
      resolver: { health: resolver.health, breaker: resolver.stats().breaker },
    };
    return { [key]: details } as Record<Key, RollcallHealthDetails>;
  }
}
