/**
 * Pick results built once per instance of a list and handed out on every pick of it, so the hot
 * path returns an existing object. Built on the instance's first pick: a list of 10,000
 * instances costs nothing until they are picked.
 */
import type { ServiceInstance } from '../core/instance.js';
import type { NoInstance, PickedInstance, Picker } from './strategy.js';

export class PickList {
  readonly #instances: readonly ServiceInstance[];
  readonly #make: (instance: ServiceInstance) => PickedInstance;
  readonly #picks: (PickedInstance | undefined)[];

  /** `make` builds the pick of one instance, with the strategy's feedback hooks. */
  constructor(instances: readonly ServiceInstance[], make: (instance: ServiceInstance) => PickedInstance) {
    this.#instances = instances;
    this.#make = make;
    this.#picks = new Array<PickedInstance | undefined>(instances.length);
  }

  /** The pick of the instance at `index` (which must be in range). */
  at(index: number): PickedInstance {
    return (this.#picks[index] ??= this.#make(this.#instances[index] as ServiceInstance));
  }
}

/** A pick of `instance` without feedback hooks. */
export function bare(instance: ServiceInstance): PickedInstance {
  return { instance };
}

/** The answer of a picker over an empty list, which strategies never get from the resolver. */
export const EMPTY_LIST: NoInstance = Object.freeze({ reason: 'the strategy was given no instance' });

/** The picker of an empty list. */
export const EMPTY_PICKER: Picker = Object.freeze({ pick: () => EMPTY_LIST });
