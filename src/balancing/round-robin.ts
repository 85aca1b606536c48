import type { ServiceInstance } from '../core/instance.js';
import { drawIndex } from './draw.js';
import { allowedIndexFrom } from './exclusion.js';
import { LoadTracker, trackedBy } from './load-tracker.js';
import { EMPTY_PICKER, PickList } from './picks.js';
import type { PickContext, PickResult, Picker, Strategy } from './strategy.js';
import { objectOption, randomOption } from '../core/options.js';

/** Options of {@link roundRobin}. */
export interface RoundRobinOptions {
  /** Random source for the starting position. @default Math.random */
  random?: (() => number) | undefined;
}

/**
 * Takes instances in turn. Each new list starts at a random position so that many clients that
 * learn the same list at the same moment do not all hit its first instance. Ignores weights.
 * Counts calls made through `Resolver.pick()` per instance for {@link Strategy.inspect}.
 *
 * A pick with exclusions (a retry) takes the next allowed instance of a rotation of its own, so
 * retries neither take nor skip anyone's turn in the rotation of ordinary picks, and retries away
 * from one instance are spread over all the others.
 */
export function roundRobin(options: RoundRobinOptions = {}): Strategy {
  const opts = objectOption(options, 'roundRobin options');
  const random = randomOption(opts.random, 'roundRobin.random');
  const load = new LoadTracker();
  return {
    name: 'round-robin',
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      load.follow(service, instances);
      if (instances.length === 0) return EMPTY_PICKER;
      return new RoundRobinPicker(instances, new PickList(instances, (instance) => load.picked(service, instance)), drawIndex(random, instances.length));
    },
    ...trackedBy(load),
  };
}

// A class rather than a closure: one object on the hot path instead of a function and its
// context, which shows when thousands of services are picked from in turn (see docs/benchmarks.md).
export class RoundRobinPicker implements Picker {
  readonly #instances: readonly ServiceInstance[];
  readonly #picks: PickList;
  #next: number;
  #retryNext: number;

  /** `picks` holds the pick of each of `instances`, by index. */
  constructor(instances: readonly ServiceInstance[], picks: PickList, start: number) {
    this.#instances = instances;
    this.#picks = picks;
    this.#next = start;
    this.#retryNext = start;
  }

  pick(context?: PickContext): PickResult {
    const exclude = context?.exclude;
    if (exclude !== undefined && exclude.size > 0) return this.#pickAvoiding(exclude);
    const index = this.#next;
    this.#next = index + 1 >= this.#instances.length ? 0 : index + 1;
    return this.#picks.at(index);
  }

  #pickAvoiding(exclude: ReadonlySet<string>): PickResult {
    const instances = this.#instances;
    const allowed = allowedIndexFrom(instances, this.#retryNext, exclude);
    // Every instance excluded: the one whose turn it is, without taking the turn.
    if (allowed === -1) return this.#picks.at(this.#next);
    this.#retryNext = allowed + 1 === instances.length ? 0 : allowed + 1;
    return this.#picks.at(allowed);
  }
}
