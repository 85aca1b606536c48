import { describe, expect, it } from 'vitest';
import { createInstance, random, roundRobin } from '../../src/index.js';

const instances = ['a', 'b', 'c'].map((id) => createInstance({ id, service: 'orders', host: 'h', port: 1 }, 0));

describe('roundRobin', () => {
  it('takes instances in turn from a random start', () => {
    const picker = roundRobin({ random: () => 0.5 }).createPicker('orders', instances);
    expect(Array.from({ length: 6 }, () => picker.pick()?.id)).toEqual(['b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('starts at different places for different random values', () => {
    const first = (value: number) => roundRobin({ random: () => value }).createPicker('orders', instances).pick()?.id;
    expect([first(0), first(0.4), first(0.99)]).toEqual(['a', 'b', 'c']);
  });
});

describe('random', () => {
  it('maps the random source uniformly onto the list', () => {
    const values = [0, 0.34, 0.67, 0.999];
    let n = 0;
    const picker = random({ random: () => values[n++] as number }).createPicker('orders', instances);
    expect(values.map(() => picker.pick()?.id)).toEqual(['a', 'b', 'c', 'c']);
  });

  it('returns undefined for an empty list', () => {
    expect(random().createPicker('orders', []).pick()).toBeUndefined();
    expect(roundRobin().createPicker('orders', []).pick()).toBeUndefined();
  });
});
