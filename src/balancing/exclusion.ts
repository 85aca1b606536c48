import type { ServiceInstance } from '../core/instance.js';

/**
 * Index of the first instance at or after `start` (wrapping around) whose id is not in
 * `exclude`, or -1 when every one is excluded. Used only when a pick lands on an excluded
 * instance, which happens on retries, never on the ordinary path.
 */
export function allowedIndexFrom(instances: readonly ServiceInstance[], start: number, exclude: ReadonlySet<string>): number {
  const length = instances.length;
  for (let step = 0; step < length; step++) {
    let index = start + step;
    if (index >= length) index -= length;
    if (!exclude.has((instances[index] as ServiceInstance).id)) return index;
  }
  return -1;
}

/** Whether `instance` is excluded by the pick's context. */
export function isExcluded(instance: ServiceInstance, exclude: ReadonlySet<string> | undefined): boolean {
  return exclude !== undefined && exclude.has(instance.id);
}
