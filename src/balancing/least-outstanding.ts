import type { ServiceInstance } from '../core/instance.js';
import { LoadTracker, type LoadSlot } from './load-tracker.js';
import type { PickContext, Picker, Strategy } from './strategy.js';
import { randomOption } from '../core/options.js';

/** Options of {@link leastOutstanding}. */
export interface LeastOutstandingOptions {
  /** Random source for the starting position of each new list. @default Math.random */
  random?: (() => number) | undefined;
}

/**
 * Picks the instance with the fewest calls in flight relative to its weight
 * (`outstanding / weight`); ties, including the idle case, go by smooth weighted round-robin,
 * so light traffic is spread by weight and heavy traffic follows each instance's real capacity.
 *
 * In-flight counts come from `Resolver.pick()` and its `done()` (which `createDiscoveryFetch`
 * calls); calls made through plain `resolve()` are not counted. A pick costs two passes over the
 * list. Stateful: give each resolver its own.
 */
export function leastOutstanding(options: LeastOutstandingOptions = {}): Strategy {
  const random = randomOption(options.random, 'leastOutstanding.random');
  const load = new LoadTracker();
  return {
    name: 'least-outstanding',
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      const offset = Math.floor(random() * instances.length);
      const list = [...instances.slice(offset), ...instances.slice(0, offset)];
      return leastOutstandingPicker(list, load.slotsFor(service, list));
    },
    callStarted(service, instance) {
      load.started(service, instance.id);
    },
    callEnded(service, instance) {
      load.ended(service, instance.id);
    },
    release(service) {
      load.release(service);
    },
    close() {
      load.clear();
    },
  };
}

function leastOutstandingPicker(list: readonly ServiceInstance[], slots: readonly LoadSlot[]): Picker {
  const count = list.length;
  const weights = Int32Array.from(list, (instance) => instance.weight);
  const current = new Int32Array(count);
  return {
    pick(context?: PickContext) {
      if (count === 0) return undefined;
      const exclude = context?.exclude;
      let lowest = Infinity;
      for (let i = 0; i < count; i++) {
        if (exclude !== undefined && exclude.has((list[i] as ServiceInstance).id)) continue;
        const ratio = (slots[i] as LoadSlot).outstanding / (weights[i] as number);
        if (ratio < lowest) lowest = ratio;
      }
      // Every instance excluded: choose as if nothing were.
      const honourExclude = lowest !== Infinity;
      if (!honourExclude) for (let i = 0; i < count; i++) lowest = Math.min(lowest, (slots[i] as LoadSlot).outstanding / (weights[i] as number));
      // Smooth weighted round-robin among the least loaded: their running values gain their
      // weights and the winner gives back the sum, so ties rotate in proportion to weight.
      let best = -1;
      let tiedWeight = 0;
      for (let i = 0; i < count; i++) {
        if (honourExclude && exclude !== undefined && exclude.has((list[i] as ServiceInstance).id)) continue;
        if ((slots[i] as LoadSlot).outstanding / (weights[i] as number) !== lowest) continue;
        const value = (current[i] as number) + (weights[i] as number);
        current[i] = value;
        tiedWeight += weights[i] as number;
        if (best === -1 || value > (current[best] as number)) best = i;
      }
      current[best] = (current[best] as number) - tiedWeight;
      return list[best];
    },
  };
}
