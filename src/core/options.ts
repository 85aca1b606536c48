/**
 * Option checks shared by every room: each applies the default, names the option and says what it
 * expected, so a bad configuration fails when the object is built, never on first use.
 */
import type { Clock } from './clock.js';
import { InvalidArgumentError } from './errors.js';
import { assertDuration } from './instance.js';

/** Longest duration any option accepts: one day. */
export const MAX_DURATION_MS = 86_400_000;

/** An integer number of milliseconds from `min` to `max`, or `fallback` when absent. */
export function durationOption(value: number | undefined, fallback: number, field: string, min: number, max = MAX_DURATION_MS): number {
  // Only absence takes the default: null is a mistake worth naming.
  const resolved = value === undefined ? fallback : value;
  assertDuration(resolved, field, min, max);
  return resolved;
}

/** An integer from `min` to `max` (unbounded by default), or `fallback` when absent. */
export function integerOption(value: number | undefined, fallback: number, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const resolved = value === undefined ? fallback : value;
  if (typeof resolved !== 'number' || !Number.isInteger(resolved) || resolved < min || resolved > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    throw new InvalidArgumentError(field, `an integer ${range}`, resolved);
  }
  return resolved;
}

/** A finite number from `min` to `max`, or `fallback` when absent. */
export function numberOption(value: number | undefined, fallback: number, field: string, min: number, max: number): number {
  const resolved = value === undefined ? fallback : value;
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

export function objectOption<T extends object>(value: T | undefined, field: string): T | Record<string, never> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(field, 'an options object', value);
  return value;
}
