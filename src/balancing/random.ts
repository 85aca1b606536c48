import type { ServiceInstance } from '../core/instance.js';
import { drawIndex } from './draw.js';
import { LoadTracker, trackedBy } from './load-tracker.js';
import { EMPTY_PICKER, PickList } from './picks.js';
import type { PickContext, PickResult, Picker, Strategy } from './strategy.js';
import { objectOption, randomOption } from '../core/options.js';

/** Options of {@link random}. */
export interface RandomOptions {
  /** Random source in [0, 1); pass a seeded one for reproducible tests. @default Math.random */
  random?: (() => number) | undefined;
}

/** Picks uniformly at random; a pick with exclusions, uniformly among the instances left. Ignores weights. */
export function random(options: RandomOptions = {}): Strategy {
  const opts = objectOption(options, 'random options');
  const source = randomOption(opts.random, 'random.random');
  const load = new LoadTracker();
  return {
    name: 'random',
    ...trackedBy(load),
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      load.follow(service, instances);
      if (instances.length === 0) return EMPTY_PICKER;
      const picks = new PickList(instances, (instance) => load.picked(service, instance));
      return {
        pick(context?: PickContext): PickResult {
          const exclude = context?.exclude;
          if (exclude === undefined || exclude.size === 0) return picks.at(drawIndex(source, instances.length));
          let allowed = 0;
          for (const instance of instances) if (!exclude.has(instance.id)) allowed++;
          // Every instance excluded: as if nothing were.
          if (allowed === 0) return picks.at(drawIndex(source, instances.length));
          let skip = drawIndex(source, allowed);
          let index = 0;
          for (; index < instances.length - 1; index++) {
            if (exclude.has((instances[index] as ServiceInstance).id)) continue;
            if (skip-- === 0) break;
          }
          return picks.at(index);
        },
      };
    },
  };
}
