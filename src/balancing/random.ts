import type { ServiceInstance } from '../core/instance.js';
import { allowedIndexFrom } from './exclusion.js';
import type { PickContext, Picker, Strategy } from './strategy.js';

/** Options of {@link random}. */
export interface RandomOptions {
  /** Random source in [0, 1); pass a seeded one for reproducible tests. @default Math.random */
  random?: (() => number) | undefined;
}

/** Picks uniformly at random. Ignores weights. */
export function random(options: RandomOptions = {}): Strategy {
  const source = options.random ?? Math.random;
  return {
    name: 'random',
    createPicker(_service: string, instances: readonly ServiceInstance[]): Picker {
      return {
        pick(context?: PickContext) {
          const index = Math.floor(source() * instances.length);
          const instance = instances[index];
          const exclude = context?.exclude;
          if (exclude === undefined || instance === undefined || !exclude.has(instance.id)) return instance;
          const allowed = allowedIndexFrom(instances, index + 1, exclude);
          return allowed === -1 ? instance : instances[allowed];
        },
      };
    },
  };
}
