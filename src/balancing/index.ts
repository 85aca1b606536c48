/**
 * Everything about picking one instance per call: the contract, the strategies and the
 * decorators that compose around them. Re-exported by the root entry.
 */
export type { CallOutcome, EjectionReason, InstanceEjection, InstanceFigures, NoInstance, PickContext, PickResult, PickedInstance, Picker, Strategy } from './strategy.js';
export { STRATEGY_NAMES, strategyByName, type NamedStrategyOptions, type StrategyName } from './strategies.js';
export { roundRobin, type RoundRobinOptions } from './round-robin.js';
export { random, type RandomOptions } from './random.js';
export { weighted, type WeightedOptions } from './weighted.js';
export { leastOutstanding, type LeastOutstandingOptions } from './least-outstanding.js';
export { p2c, type P2cOptions } from './p2c.js';
export { consistentHash, type ConsistentHashOptions } from './consistent-hash.js';
export type { InstanceSelector } from './selector.js';
export { filter, type FilterOptions } from './filter.js';
export { split, type SplitGroup, type SplitOptions } from './split.js';
export { zoneAware, type ZoneAwareOptions } from './zone-aware.js';
export { slowStart, type SlowStartOptions } from './slow-start.js';
export {
  outlierEjection,
  type EjectionEvent,
  type EjectionStatus,
  type FailureWindow,
  type OutlierEjectionOptions,
  type OutlierEjectionStrategy,
} from './outlier-ejection.js';
export { InstancesEjectedError } from './instances-ejected-error.js';
