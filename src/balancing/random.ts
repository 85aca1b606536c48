import type { ServiceInstance } from '../core/instance.js';
import type { Picker, Strategy } from './strategy.js';

/** Options of {@link random}. */
export interface RandomOptions {
  /** Random source in [0, 1); pass a seeded one for reproducible tests. @default Math.random */
  random?: (() => number) | undefined;
}

/** Picks uniformly at random. */
export function random(options: RandomOptions = {}): Strategy {
  const source = options.random ?? Math.random;
  return {
    name: 'random',
    createPicker(_service: string, instances: readonly ServiceInstance[]): Picker {
      return { pick: () => instances[Math.floor(source() * instances.length)] };
    },
  };
}
