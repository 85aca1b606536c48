import { ServiceUnavailableError } from '../core/errors.js';
import type { InstanceEjection } from './strategy.js';

/**
 * Every instance of a service is ejected by `outlierEjection({ allEjected: 'fail' })`: calls fail
 * at once instead of going to instances known to be failing. A {@link ServiceUnavailableError}
 * (`SERVICE_UNAVAILABLE`), so code that handles an unavailable service handles this too;
 * `ejected` says which instances are out, why, and until when.
 */
export class InstancesEjectedError extends ServiceUnavailableError {
  static override readonly brand: string = 'InstancesEjectedError';
  /** The ejected and half-open instances, in list order. */
  readonly ejected: readonly InstanceEjection[];

  constructor(service: string, ejected: readonly InstanceEjection[]) {
    const described = ejected.map((entry) => `${entry.id} (${entry.reason}, ${entry.state === 'half-open' ? 'half-open, its trial call pending' : `out until ${new Date(entry.until).toISOString()}`})`);
    super(service, [{ tier: 'balancer', reason: `every instance is ejected by outlier ejection: ${described.join(', ')}` }]);
    this.ejected = ejected;
  }
}
