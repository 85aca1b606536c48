import type { ServiceInstance } from '../core/instance.js';
import { drawIndex } from './draw.js';
import { LoadTracker, trackedBy, type LoadSlot } from './load-tracker.js';
import { EMPTY_LIST, PickList } from './picks.js';
import type { PickContext, PickResult, Picker, Strategy } from './strategy.js';
import { objectOption, randomOption } from '../core/options.js';

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
  const opts = objectOption(options, 'leastOutstanding options');
  const random = randomOption(opts.random, 'leastOutstanding.random');
  const load = new LoadTracker();
  return {
    name: 'least-outstanding',
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      const offset = drawIndex(random, instances.length);
      const list = [...instances.slice(offset), ...instances.slice(0, offset)];
      return leastOutstandingPicker(list, load.slotsFor(service, list), new PickList(list, (instance) => load.picked(service, instance)));
    },
    ...trackedBy(load),
  };
}

function leastOutstandingPicker(list: readonly ServiceInstance[], slots: readonly LoadSlot[], picks: PickList): Picker {
  const count = list.length;
  const weights = Int32Array.from(list, (instance) => instance.weight);
  const ratio = (i: number): number => (slots[i] as LoadSlot).outstanding / (weights[i] as number);
  // Running values of the smooth weighted round-robin that breaks ties; picks with exclusions
  // (retries) keep their own, so they never take a turn from ordinary picks.
  const current = new Int32Array(count);
  const retryCurrent = new Int32Array(count);

  /** Index of the least loaded allowed instance, ties in turn; -1 when none is allowed. */
  const choose = (running: Int32Array, exclude: ReadonlySet<string> | undefined): number => {
    let lowest = Infinity;
    for (let i = 0; i < count; i++) {
      if (exclude !== undefined && exclude.has((list[i] as ServiceInstance).id)) continue;
      lowest = Math.min(lowest, ratio(i));
    }
    // Their running values gain their weights and the winner gives back the sum, so ties rotate
    // in proportion to weight.
    let best = -1;
    let tiedWeight = 0;
    for (let i = 0; i < count; i++) {
      if (ratio(i) !== lowest || (exclude !== undefined && exclude.has((list[i] as ServiceInstance).id))) continue;
      const value = (running[i] as number) + (weights[i] as number);
      running[i] = value;
      tiedWeight += weights[i] as number;
      if (best === -1 || value > (running[best] as number)) best = i;
    }
    if (best !== -1) running[best] = (running[best] as number) - tiedWeight;
    return best;
  };

  return {
    pick(context?: PickContext): PickResult {
      if (count === 0) return EMPTY_LIST;
      const exclude = context?.exclude;
      if (exclude === undefined || exclude.size === 0) return picks.at(choose(current, undefined));
      const allowed = choose(retryCurrent, exclude);
      if (allowed !== -1) return picks.at(allowed);
      // Every instance excluded: the least loaded, without taking anyone's turn.
      let least = 0;
      for (let i = 1; i < count; i++) if (ratio(i) < ratio(least)) least = i;
      return picks.at(least);
    },
  };
}
