import type { ServiceInstance } from '../core/instance.js';
import { drawIndex } from './draw.js';
import { LoadTracker, trackedBy } from './load-tracker.js';
import { EMPTY_PICKER, PickList } from './picks.js';
import type { PickContext, PickResult, Picker, Strategy } from './strategy.js';
import { RoundRobinPicker } from './round-robin.js';
import { objectOption, randomOption } from '../core/options.js';

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
 * do not pick in step. Picks with exclusions (retries) run a rotation of their own over the
 * instances left, so they never disturb the shares of ordinary picks.
 */
export function weighted(options: WeightedOptions = {}): Strategy {
  const opts = objectOption(options, 'weighted options');
  const random = randomOption(opts.random, 'weighted.random');
  const load = new LoadTracker();
  return {
    name: 'weighted',
    ...trackedBy(load),
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      load.follow(service, instances);
      if (instances.length === 0) return EMPTY_PICKER;
      const start = drawIndex(random, instances.length);
      const picked = (instance: ServiceInstance) => load.picked(service, instance);
      if (instances.every((instance) => instance.weight === instances[0]?.weight)) return new RoundRobinPicker(instances, new PickList(instances, picked), start);
      const list = rotate(instances, start);
      return smoothPicker(list, new PickList(list, picked));
    },
  };
}

function smoothPicker(list: readonly ServiceInstance[], picks: PickList): Picker {
  const count = list.length;
  const weights = Int32Array.from(list, (instance) => instance.weight);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  // Each pick adds every weight to its running value, takes the largest and lowers it by the
  // total, so running values always sum to zero and no instance drifts ahead of its share.
  const current = new Int32Array(count);
  // The same over the allowed instances only, for picks with exclusions.
  const retryCurrent = new Int32Array(count);
  return {
    pick(context?: PickContext): PickResult {
      const exclude = context?.exclude;
      if (exclude !== undefined && exclude.size > 0) return picks.at(pickAvoiding(exclude));
      let best = 0;
      for (let i = 0; i < count; i++) {
        const value = (current[i] as number) + (weights[i] as number);
        current[i] = value;
        if (value > (current[best] as number)) best = i;
      }
      current[best] = (current[best] as number) - total;
      return picks.at(best);
    },
  };

  /** Index of the allowed instance to pick, in a rotation of its own. */
  function pickAvoiding(exclude: ReadonlySet<string>): number {
    let best = -1;
    let allowedTotal = 0;
    for (let i = 0; i < count; i++) {
      if (exclude.has((list[i] as ServiceInstance).id)) continue;
      const value = (retryCurrent[i] as number) + (weights[i] as number);
      retryCurrent[i] = value;
      allowedTotal += weights[i] as number;
      if (best === -1 || value > (retryCurrent[best] as number)) best = i;
    }
    if (best === -1) return turn();
    retryCurrent[best] = (retryCurrent[best] as number) - allowedTotal;
    return best;
  }

  /** The instance the next ordinary pick takes, without taking it. */
  function turn(): number {
    let best = 0;
    for (let i = 1; i < count; i++) {
      if ((current[i] as number) + (weights[i] as number) > (current[best] as number) + (weights[best] as number)) best = i;
    }
    return best;
  }
}

function rotate(instances: readonly ServiceInstance[], offset: number): readonly ServiceInstance[] {
  return offset === 0 ? instances : [...instances.slice(offset), ...instances.slice(0, offset)];
}
