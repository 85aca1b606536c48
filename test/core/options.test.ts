import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, messageOf } from '../../src/core/errors.js';
import { durationOption, integerOption, numberOption } from '../../src/core/options.js';
import { MemoryBackend, createResolver } from '../../src/index.js';

describe('shared option checks', () => {
  it('apply the default only when the option is absent, and name null as a mistake', () => {
    expect(durationOption(undefined, 5_000, 'cacheTtlMs', 1)).toBe(5_000);
    expect(integerOption(undefined, 5, 'breakerThreshold', 1)).toBe(5);
    expect(numberOption(undefined, 0.5, 'share', 0, 1)).toBe(0.5);
    for (const check of [
      () => durationOption(null as never, 5_000, 'cacheTtlMs', 1),
      () => integerOption(null as never, 5, 'breakerThreshold', 1),
      () => numberOption(null as never, 0.5, 'share', 0, 1),
    ]) {
      expect(check).toThrow(InvalidArgumentError);
      expect(check).toThrow(/got null/);
    }
    expect(() => createResolver({ backend: new MemoryBackend(), registryTimeoutMs: null as never })).toThrow(/Invalid registryTimeoutMs/);
  });
});

describe('messageOf', () => {
  it('describes values that cannot be turned into strings instead of throwing', () => {
    expect(messageOf(Object.create(null))).toBe('a value of type object');
    expect(messageOf({ toString: () => { throw new Error('no'); } })).toBe('a value of type object');
    expect(messageOf(new Error('boom'))).toBe('boom');
    expect(messageOf('text')).toBe('text');
  });
});
