import { InvalidArgumentError } from '../core/errors.js';
import type { PickContext } from './strategy.js';

/**
 * MurmurHash3 (x86, 32-bit) over a string's UTF-16 code units. Fast, allocation-free and well
 * mixed, so similar keys (`user-1`, `user-2`) land far apart on a hash ring; not cryptographic.
 */
export function hashString(text: string, seed = 0): number {
  let h = seed >>> 0;
  const length = text.length;
  let i = 0;
  for (; i + 1 < length; i += 2) {
    h ^= scramble(text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < length) h ^= scramble(text.charCodeAt(i));
  h ^= length * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function scramble(word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

const TWO_POW_32 = 4_294_967_296;

/**
 * A number in [0, 1) for a pick: derived from the affinity key when there is one (so the same
 * key always lands on the same side of a split), else drawn from `random`. `seed` decorrelates
 * decorators that both hash the key.
 */
export function unitFor(key: string | undefined, seed: number, random: () => number): number {
  return key === undefined ? random() : hashString(affinityKey(key), seed) / TWO_POW_32;
}

/** `key` itself when it is a string; `INVALID_ARGUMENT` otherwise (`{ key: null }`, a number). */
export function affinityKey(key: string): string {
  if (typeof key !== 'string') throw new InvalidArgumentError('key', 'a string (the affinity key) or undefined', key);
  return key;
}

/**
 * Checks the pick's key even when this pick has no use for it, so that a strategy that uses keys
 * rejects a bad one on every pick rather than now and then.
 */
export function checkKey(context: PickContext | undefined): void {
  if (context?.key !== undefined) affinityKey(context.key);
}
