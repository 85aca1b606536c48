import { InvalidArgumentError } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';
import { unitFor } from './hash.js';
import { compileSelector, type InstancePredicate, type InstanceSelector } from './selector.js';
import type { PickContext, PickResult, Picker, Strategy } from './strategy.js';
import { SubsetRouter, pickFromSubsets } from './subsets.js';
import { numberOption, randomOption } from '../core/options.js';
import { childOption } from './validate.js';

/** One slice of a {@link split}. */
export interface SplitGroup {
  /** Instances in this group; an instance belongs to the first group that selects it. */
  readonly select: InstanceSelector;
  /** Share of calls for this group, 0 to 100. */
  readonly percent: number;
}

/** Options of {@link split}. */
export interface SplitOptions {
  /**
   * The groups, in order. Their percentages add up to at most 100; the remainder goes to the
   * instances no group selects ("the rest").
   */
  groups: readonly SplitGroup[];
  /** Random source for calls without a key. @default Math.random */
  random?: (() => number) | undefined;
}

const SEED = 0x5bd1_e995;

/**
 * Splits traffic between groups of instances by percentage: canary releases and blue/green
 * shifts, e.g. 5% to version 2.0.0 and the rest to everything else:
 * `split({ groups: [{ select: { version: '2.0.0' }, percent: 5 }] }, weighted())`.
 *
 * Calls with an affinity key (`PickContext.key`) choose the group by the key's hash, so one user
 * stays in the canary or out of it across calls. A group without eligible instances passes its
 * share to the other groups in proportion to theirs (if none of those has a share, they split it
 * by weight), so a split never strands traffic. The child balances each group separately (keys
 * `<service>/0`, `<service>/1`, ..., `<service>/rest`).
 */
export function split(options: SplitOptions, child: Strategy): Strategy {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.groups) || options.groups.length === 0) {
    throw new InvalidArgumentError('split.groups', 'a non-empty array of { select, percent }', options?.groups);
  }
  const predicates: InstancePredicate[] = [];
  const percents: number[] = [];
  options.groups.forEach((group: SplitGroup, index) => {
    if (typeof group !== 'object' || group === null) throw new InvalidArgumentError(`split.groups[${index}]`, 'an object { select, percent }', group);
    predicates.push(compileSelector(group.select, `split.groups[${index}].select`));
    const field = `split.groups[${index}].percent`;
    if (group.percent === undefined) throw new InvalidArgumentError(field, 'a number from 0 to 100', undefined);
    percents.push(numberOption(group.percent, 0, field, 0, 100));
  });
  const assigned = percents.reduce((sum, percent) => sum + percent, 0);
  if (assigned > 100 + 1e-9) throw new InvalidArgumentError('split.groups', 'percentages adding up to at most 100', `a total of ${assigned}`);
  // The implicit last group: instances no group selects, with what the groups leave.
  percents.push(Math.max(0, 100 - assigned));
  const random = randomOption(options.random, 'split.random');
  const inner = childOption(child, 'split child strategy');
  const router = new SubsetRouter(inner, [...predicates.map((_, index) => String(index)), 'rest']);
  return {
    name: `split(${inner.name})`,
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      const subsets: ServiceInstance[][] = percents.map(() => []);
      for (const instance of instances) {
        const index = predicates.findIndex((matches) => matches(instance));
        (subsets[index === -1 ? predicates.length : index] as ServiceInstance[]).push(instance);
      }
      const pickers = router.build(service, subsets);
      const bounds = cumulativeShares(subsets, percents);
      return {
        pick(context?: PickContext): PickResult {
          const unit = unitFor(context?.key, SEED, random);
          let index = 0;
          while (index < bounds.length - 1 && unit >= (bounds[index] as number)) index++;
          return pickFromSubsets(pickers, index, context);
        },
      };
    },
    inspect: (service) => router.inspect(service),
    release: (service) => router.release(service),
    close: () => router.close(),
  };
}

/** Upper bound in [0, 1] of each subset's slice; empty subsets get empty slices. */
function cumulativeShares(subsets: readonly (readonly ServiceInstance[])[], percents: readonly number[]): Float64Array {
  let shares = subsets.map((members, index) => (members.length === 0 ? 0 : (percents[index] as number)));
  if (shares.every((share) => share === 0)) shares = subsets.map((members) => members.reduce((sum, instance) => sum + instance.weight, 0));
  const total = shares.reduce((sum, share) => sum + share, 0);
  const bounds = new Float64Array(shares.length);
  let running = 0;
  shares.forEach((share, index) => {
    running += share;
    bounds[index] = total === 0 ? 1 : running / total;
  });
  // Guards the last non-empty slice against rounding leaving a sliver past it.
  for (let index = bounds.length - 1; index >= 0; index--) {
    if (shares[index] === 0) continue;
    bounds[index] = 1;
    break;
  }
  return bounds;
}
