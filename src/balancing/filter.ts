import { InvalidArgumentError } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';
import { compileSelector, describeSelector, type InstanceSelector } from './selector.js';
import type { NoInstance, Picker, Strategy } from './strategy.js';
import { integerOption } from '../core/options.js';
import { childOption } from './validate.js';

/** Options of {@link filter}. */
export interface FilterOptions {
  /** Instances to keep: `{ tags }`, `{ meta }`, `{ version }`, `{ zone }` (all given fields must hold) or a predicate. */
  select: InstanceSelector;
  /** The filter applies only when at least this many eligible instances match. @default 1 */
  minInstances?: number | undefined;
  /**
   * What to do when fewer than `minInstances` match. `'all'`: balance over every eligible
   * instance, as if there were no filter (for preferences: "GPU instances if there are any").
   * `'fail'`: the picker answers none, so calls reject with `ServiceUnavailableError`
   * (`SERVICE_UNAVAILABLE`) naming the filter (for requirements: "only instances that speak API
   * v2"). @default 'all'
   */
  fallback?: 'all' | 'fail' | undefined;
}

/**
 * Keeps only matching instances before the child strategy picks, e.g.
 * `filter({ select: { tags: ['gpu'] } }, weighted())`. The child sees the filtered list under the
 * same service name.
 */
export function filter(options: FilterOptions, child: Strategy): Strategy {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('filter options', 'an object { select, minInstances, fallback }', options);
  const matches = compileSelector(options.select, 'filter.select');
  const minInstances = integerOption(options.minInstances, 1, 'filter.minInstances', 1, 1_000_000);
  const fallback = options.fallback ?? 'all';
  if (fallback !== 'all' && fallback !== 'fail') throw new InvalidArgumentError('filter.fallback', "'all' or 'fail'", fallback);
  const inner = childOption(child, 'filter child strategy');
  const described = describeSelector(options.select);
  return {
    name: `filter(${inner.name})`,
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      const kept = instances.filter(matches);
      if (kept.length >= minInstances) return inner.createPicker(service, kept);
      if (fallback === 'all') return inner.createPicker(service, instances);
      inner.release?.(service);
      const none: NoInstance = { reason: `${kept.length} of ${instances.length} eligible instance(s) match the filter (${described}), fewer than ${minInstances}` };
      return { pick: () => none };
    },
    inspect: (service) => inner.inspect?.(service),
    release: (service) => inner.release?.(service),
    close: () => inner.close?.(),
  };
}
