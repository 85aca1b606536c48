import type { ServiceInstance } from '../core/instance.js';
import type { PickContext, Picker, Strategy } from './strategy.js';
import { roundRobin } from './round-robin.js';
import { randomOption } from '../core/options.js';

/** Options of {@link weighted}. */
export interface WeightedOptions {
  /** Random source for the starting position of each new list. @default Math.random */
  random?: (() => number) | undefined;
}

/**
 * Smooth weighted round-robin (nginx's algorithm): over every run of `sum(weights)` picks each
 * instance is picked exactly `weight` times, and heavy instances are interleaved with light ones
 * instead of being picked in bursts (weights 5, 1, 1 give `a a b a c a a`, not `a a a a a b c`).
 *
 * A pick costs one pass over the list; when all weights are equal it is plain round-robin.
 * Each new list starts at a random rotation so that clients that learn the same list together
 * do not pick in step.
 */
export function weighted(options: WeightedOptions = {}): Strategy {
  const random = randomOption(options.random, 'weighted.random');
  const equalWeights = roundRobin({ random });
  return {
    name: 'weighted',
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      if (instances.every((instance) => instance.weight === instances[0]?.weight)) return equalWeights.createPicker(service, instances);
      return smoothPicker(rotate(instances, Math.floor(random() * instances.length)));
    },
  };
}

function smoothPicker(list: readonly ServiceInstance[]): Picker {
  const count = list.length;
  const weights = Int32Array.from(list, (instance) => instance.weight);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  // Each pick adds every weight to its running value, takes the largest and lowers it by the
  // total, so running values always sum to zero and no instance drifts ahead of its share.
  const current = new Int32Array(count);
  return {
    pick(context?: PickContext) {
      const exclude = context?.exclude;
      let best = -1;
      let bestValue = 0;
      let fallback = 0;
      for (let i = 0; i < count; i++) {
        const value = (current[i] as number) + (weights[i] as number);
        current[i] = value;
        if (value > (current[fallback] as number)) fallback = i;
        if ((best === -1 || value > bestValue) && (exclude === undefined || !exclude.has((list[i] as ServiceInstance).id))) {
          best = i;
          bestValue = value;
        }
      }
      // Every instance excluded: the pick the caller would have had anyway.
      if (best === -1) best = fallback;
      current[best] = (current[best] as number) - total;
      return list[best];
    },
  };
}

function rotate(instances: readonly ServiceInstance[], offset: number): readonly ServiceInstance[] {
  return offset === 0 ? instances : [...instances.slice(offset), ...instances.slice(0, offset)];
}
