/**
 * Option checks shared by strategies and decorators: each names the option and what it expected,
 * so a bad configuration fails when the strategy is built, never on the first pick.
 */
import type { Clock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { Strategy } from './strategy.js';

/** An integer from `min` to `max`, or `fallback` when absent. */
export function integerOption(value: number | undefined, fallback: number, field: string, min: number, max: number): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isInteger(resolved) || resolved < min || resolved > max) {
    throw new InvalidArgumentError(field, `an integer from ${min} to ${max}`, resolved);
  }
  return resolved;
}

/** A finite number from `min` to `max`, or `fallback` when absent. */
export function numberOption(value: number | undefined, fallback: number, field: string, min: number, max: number): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isFinite(resolved) || resolved < min || resolved > max) {
    throw new InvalidArgumentError(field, `a number from ${min} to ${max}`, resolved);
  }
  return resolved;
}

export function randomOption(value: (() => number) | undefined, field: string): () => number {
  if (value !== undefined && typeof value !== 'function') throw new InvalidArgumentError(field, 'a function returning a number in [0, 1)', value);
  return value ?? Math.random;
}

export function clockOption(value: Clock | undefined, fallback: Clock, field: string): Clock {
  if (value !== undefined && typeof value?.now !== 'function') throw new InvalidArgumentError(field, 'a Clock { now(): number }', value);
  return value ?? fallback;
}

export function childOption(value: Strategy, field: string): Strategy {
  if (typeof value?.createPicker !== 'function') throw new InvalidArgumentError(field, 'a Strategy such as roundRobin()', value);
  return value;
}

export function objectOption<T extends object>(value: T | undefined, field: string): T | Record<string, never> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(field, 'an options object', value);
  return value;
}
