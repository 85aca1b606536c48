import type { ServiceInstance } from '../core/instance.js';
import { allowedIndexFrom } from './exclusion.js';
import type { PickContext, Picker, Strategy } from './strategy.js';

/** Options of {@link roundRobin}. */
export interface RoundRobinOptions {
  /** Random source for the starting position. @default Math.random */
  random?: (() => number) | undefined;
}

/**
 * Takes instances in turn. Each new list starts at a random position so that many clients that
 * learn the same list at the same moment do not all hit its first instance. Ignores weights.
 */
export function roundRobin(options: RoundRobinOptions = {}): Strategy {
  const random = options.random ?? Math.random;
  return {
    name: 'round-robin',
    createPicker(_service: string, instances: readonly ServiceInstance[]): Picker {
      return new RoundRobinPicker(instances, Math.floor(random() * instances.length));
    },
  };
}

// A class rather than a closure: one object on the hot path instead of a function and its
// context, which shows when thousands of services are picked from in turn (see docs/benchmarks.md).
class RoundRobinPicker implements Picker {
  readonly #instances: readonly ServiceInstance[];
  #next: number;

  constructor(instances: readonly ServiceInstance[], start: number) {
    this.#instances = instances;
    this.#next = start;
  }

  pick(context?: PickContext): ServiceInstance | undefined {
    const instances = this.#instances;
    const instance = instances[this.#next];
    this.#next = this.#next + 1 === instances.length ? 0 : this.#next + 1;
    const exclude = context?.exclude;
    if (exclude === undefined || instance === undefined || !exclude.has(instance.id)) return instance;
    const allowed = allowedIndexFrom(instances, this.#next, exclude);
    if (allowed === -1) return instance;
    this.#next = allowed + 1 === instances.length ? 0 : allowed + 1;
    return instances[allowed];
  }
}
