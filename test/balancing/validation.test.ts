import { describe, expect, it } from 'vitest';
import {
  consistentHash,
  filter,
  leastOutstanding,
  outlierEjection,
  p2c,
  random,
  roundRobin,
  slowStart,
  split,
  strategyByName,
  weighted,
  zoneAware,
  type Strategy,
} from '../../src/balancing/index.js';
import { InvalidArgumentError, MemoryBackend, createInstance, createResolver } from '../../src/index.js';
import { list } from './helpers.js';

/** The InvalidArgumentError `run` throws (fails the test if it throws anything else or nothing). */
function invalid(run: () => unknown): InvalidArgumentError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidArgumentError);
  return thrown as InvalidArgumentError;
}

describe('strategy names', () => {
  it.each(['__proto__', 'valueOf', 'constructor', 'toString', 'hasOwnProperty', 'isPrototypeOf'])('rejects %s, a name Object.prototype carries', (name) => {
    expect(invalid(() => strategyByName(name)).field).toBe('strategy');
    expect(invalid(() => createResolver({ backend: new MemoryBackend(), strategy: name as never })).field).toBe('strategy');
  });

  it('rejects names that are not strings, and options that are not objects', () => {
    for (const name of [5, null, undefined, {}, Symbol('p2c')]) expect(invalid(() => strategyByName(name as never)).field).toBe('strategy');
    expect(invalid(() => strategyByName('p2c', null as never)).field).toBe('p2c options');
  });
});

describe('factory options', () => {
  const factories: Record<string, (options: never) => Strategy> = { roundRobin, random, weighted, leastOutstanding, p2c, consistentHash };

  it.each(Object.keys(factories))('%s: null or 5 as options, and a random that is not a function, are InvalidArgumentErrors', (name) => {
    const factory = factories[name] as (options: unknown) => Strategy;
    expect(invalid(() => factory(null)).field).toBe(`${name} options`);
    expect(invalid(() => factory(5)).field).toBe(`${name} options`);
    expect(invalid(() => factory({ random: 5 })).field).toBe(`${name}.random`);
  });

  it('decorators reject a missing options object or child', () => {
    const child = roundRobin();
    for (const make of [
      () => filter(null as never, child),
      () => split(null as never, child),
      () => zoneAware(null as never, child),
      () => slowStart(null as never, child),
      () => outlierEjection(null as never, child),
      () => filter({ select: {} }, null as never),
      () => split({ groups: [{ select: {}, percent: 5 }] }, {} as never),
      () => zoneAware({ zone: 'a' }, undefined as never),
      () => slowStart({}, 'p2c' as never),
      () => outlierEjection({}, { name: 'x' } as never),
    ]) {
      invalid(make);
    }
  });

  it('selectors reject unknown fields instead of silently selecting every instance', () => {
    const error = invalid(() => filter({ select: { tag: ['gpu'] } as never }, roundRobin()));
    expect(error.field).toBe('filter.select');
    expect(error.message).toMatch(/unknown field "tag"/);
    expect(invalid(() => split({ groups: [{ select: { versions: '2.0.0' } as never, percent: 5 }] }, roundRobin())).field).toBe('split.groups[0].select');
  });
});

describe('affinity keys', () => {
  const hashing: Record<string, Strategy> = {
    consistentHash: consistentHash(),
    split: split({ groups: [{ select: { tags: ['x'] }, percent: 50 }] }, roundRobin()),
    zoneAware: zoneAware({ zone: 'a' }, roundRobin()),
  };

  it.each(Object.keys(hashing))('%s rejects a key that is not a string with an InvalidArgumentError', (name) => {
    const picker = (hashing[name] as Strategy).createPicker('orders', [...list('a', 'b'), createInstance({ id: 'z', service: 'orders', host: 'h', port: 1, zone: 'a' }, 0)]);
    for (const key of [null, 5, {}, ['user-1'], true]) expect(invalid(() => picker.pick({ key: key as never })).field).toBe('key');
    expect(picker.pick({ key: 'user-1' })).toBeDefined();
    expect(picker.pick({})).toBeDefined();
  });

  it('a resolver with consistent hashing rejects { key: null } with an InvalidArgumentError', async () => {
    const backend = new MemoryBackend();
    await backend.register(createInstance({ id: 'a', service: 'orders', host: 'h', port: 1 }, Date.now()), { ttlMs: 60_000 });
    const resolver = createResolver({ backend, strategy: consistentHash(), envFallback: false });
    await expect(resolver.resolve('orders', { key: null as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await resolver.resolve('orders', { key: 'user-1' })).id).toBe('a');
    await resolver.close();
    await backend.close();
  });
});
