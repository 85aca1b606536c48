import { InvalidArgumentError } from '../core/errors.js';
import type { Strategy } from './strategy.js';

/** The child strategy a decorator wraps. */
export function childOption(value: Strategy, field: string): Strategy {
  if (typeof value?.createPicker !== 'function') throw new InvalidArgumentError(field, 'a Strategy such as roundRobin()', value);
  return value;
}
