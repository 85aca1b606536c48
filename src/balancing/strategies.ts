/**
 * Strategies selectable by name, for configuration files and environment variables. A local
 * table of factories, not a global registry: importing rollcall registers nothing. Decorators
 * (filters, zone preference, slow start, outlier ejection) take options and a child, so they
 * are composed in code, not named.
 */
import { InvalidArgumentError } from '../core/errors.js';
import { consistentHash } from './consistent-hash.js';
import { leastOutstanding } from './least-outstanding.js';
import { p2c } from './p2c.js';
import { random } from './random.js';
import { roundRobin } from './round-robin.js';
import type { Strategy } from './strategy.js';
import { weighted } from './weighted.js';

/** Options every named strategy accepts. */
export interface NamedStrategyOptions {
  /** Random source in [0, 1). @default Math.random */
  random?: (() => number) | undefined;
}

/** Names accepted by {@link strategyByName} and by `createResolver({ strategy })`. */
export type StrategyName = 'round-robin' | 'random' | 'weighted' | 'least-outstanding' | 'p2c' | 'consistent-hash';

const FACTORIES: Readonly<Record<StrategyName, (options: NamedStrategyOptions) => Strategy>> = {
  'round-robin': (options: NamedStrategyOptions) => roundRobin(options),
  random: (options: NamedStrategyOptions) => random(options),
  weighted: (options: NamedStrategyOptions) => weighted(options),
  'least-outstanding': (options: NamedStrategyOptions) => leastOutstanding(options),
  p2c: (options: NamedStrategyOptions) => p2c(options),
  'consistent-hash': (options: NamedStrategyOptions) => consistentHash(options),
};

export const STRATEGY_NAMES = Object.keys(FACTORIES) as readonly StrategyName[];

/** A new strategy of the given name; throws `INVALID_ARGUMENT` for an unknown name. */
export function strategyByName(name: string, options: NamedStrategyOptions = {}): Strategy {
  // Own keys only: `__proto__`, `valueOf` or `constructor` must not find Object.prototype's members.
  if (typeof name !== 'string' || !Object.hasOwn(FACTORIES, name)) {
    throw new InvalidArgumentError('strategy', `a Strategy or one of ${STRATEGY_NAMES.join(', ')}`, name);
  }
  return FACTORIES[name as StrategyName](options);
}
