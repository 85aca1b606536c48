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
      let next = Math.floor(random() * instances.length);
      return {
        pick(context?: PickContext) {
          const instance = instances[next];
          next = next + 1 === instances.length ? 0 : next + 1;
          const exclude = context?.exclude;
          if (exclude === undefined || instance === undefined || !exclude.has(instance.id)) return instance;
          const allowed = allowedIndexFrom(instances, next, exclude);
          if (allowed === -1) return instance;
          next = allowed + 1 === instances.length ? 0 : allowed + 1;
          return instances[allowed];
        },
      };
    },
  };
}
