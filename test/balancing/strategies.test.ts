import { describe, expect, it } from 'vitest';
import { createInstance, random, roundRobin } from '../../src/index.js';
import { STRATEGY_NAMES, strategyByName } from '../../src/balancing/index.js';

const instances = ['a', 'b', 'c'].map((id) => createInstance({ id, service: 'orders', host: 'h', port: 1 }, 0));

describe('roundRobin', () => {
  it('takes instances in turn from a random start', () => {
    const picker = roundRobin({ random: () => 0.5 }).createPicker('orders', instances);
    expect(Array.from({ length: 6 }, () => picker.pick().instance?.id)).toEqual(['b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('starts at different places for different random values', () => {
    const first = (value: number) => roundRobin({ random: () => value }).createPicker('orders', instances).pick().instance?.id;
    expect([first(0), first(0.4), first(0.99)]).toEqual(['a', 'b', 'c']);
  });
});

describe('random', () => {
  it('maps the random source uniformly onto the list', () => {
    const values = [0, 0.34, 0.67, 0.999];
    let n = 0;
    const picker = random({ random: () => values[n++] as number }).createPicker('orders', instances);
    expect(values.map(() => picker.pick().instance?.id)).toEqual(['a', 'b', 'c', 'c']);
  });

  it('picks no instance from an empty list', () => {
    expect(random().createPicker('orders', []).pick().instance).toBeUndefined();
    expect(roundRobin().createPicker('orders', []).pick().instance).toBeUndefined();
  });
});

describe('exclusions', () => {
  it('round-robin skips excluded instances without taking a turn from ordinary picks', () => {
    const picker = roundRobin({ random: () => 0 }).createPicker('orders', instances);
    expect(picker.pick({ exclude: new Set(['a']) }).instance?.id).toBe('b');
    expect(picker.pick().instance?.id).toBe('a');
    expect(picker.pick({ exclude: new Set(['a', 'b', 'c']) }).instance?.id).toBe('b');
    expect(picker.pick().instance?.id).toBe('b');
  });

  it('random draws among the instances left when some are excluded', () => {
    const picker = random({ random: () => 0.99 }).createPicker('orders', instances);
    expect(picker.pick({ exclude: new Set(['c']) }).instance?.id).toBe('b');
    expect(picker.pick({ exclude: new Set(['c', 'a']) }).instance?.id).toBe('b');
    expect(picker.pick({ exclude: new Set(['a', 'b', 'c']) }).instance?.id).toBe('c');
    expect(random({ random: () => 0 }).createPicker('orders', instances).pick({ exclude: new Set(['a']) }).instance?.id).toBe('b');
  });
});

describe('strategyByName', () => {
  it('builds every named strategy, each a new value', () => {
    expect(STRATEGY_NAMES).toEqual(['round-robin', 'random', 'weighted', 'least-outstanding', 'p2c', 'consistent-hash']);
    for (const name of STRATEGY_NAMES) {
      const strategy = strategyByName(name, { random: () => 0 });
      expect(strategy.name).toBe(name);
      expect(strategy).not.toBe(strategyByName(name));
      expect(strategy.createPicker('orders', instances).pick().instance?.service).toBe('orders');
      strategy.close?.();
    }
  });

  it('rejects unknown names with the list of known ones', () => {
    expect(() => strategyByName('fastest')).toThrow(/Invalid strategy: expected a Strategy or one of round-robin, random, weighted, least-outstanding, p2c, consistent-hash, got "fastest"/);
  });
});
