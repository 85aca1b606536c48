import { describe, expect, it } from 'vitest';
import { weighted } from '../../src/balancing/index.js';
import { inst, seeded, sequence, tally } from './helpers.js';

const heavy = [inst('a', { weight: 5 }), inst('b'), inst('c')];

describe('weighted (smooth weighted round-robin)', () => {
  it('interleaves a heavy instance with light ones instead of bursting', () => {
    const picker = weighted({ random: () => 0 }).createPicker('orders', heavy);
    expect(sequence(picker, 14)).toEqual(['a', 'a', 'b', 'a', 'c', 'a', 'a', 'a', 'a', 'b', 'a', 'c', 'a', 'a']);
  });

  it('honours weights exactly over every full cycle, from any starting rotation', () => {
    const list = [inst('w1', { weight: 1 }), inst('w3', { weight: 3 }), inst('w6', { weight: 6 }), inst('w10', { weight: 10 })];
    const random = seeded(7);
    for (let client = 0; client < 20; client++) {
      const picker = weighted({ random }).createPicker('orders', list);
      // 500 cycles of sum(weights) = 20: each instance gets weight × 500, with zero tolerance.
      expect(tally(picker, 10_000)).toEqual({ w1: 500, w3: 1_500, w6: 3_000, w10: 5_000 });
    }
  });

  it('stays within one pick of the exact share at every point of the sequence', () => {
    const list = [inst('a', { weight: 7 }), inst('b', { weight: 2 }), inst('c', { weight: 1 })];
    const picker = weighted({ random: () => 0.5 }).createPicker('orders', list);
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    let worst = 0;
    for (let n = 1; n <= 1_000; n++) {
      const id = picker.pick().instance?.id as string;
      counts[id] = (counts[id] ?? 0) + 1;
      for (const instance of list) worst = Math.max(worst, Math.abs((counts[instance.id] ?? 0) - (n * instance.weight) / 10));
    }
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('is plain round-robin from a random start when weights are equal', () => {
    const picker = weighted({ random: () => 0.4 }).createPicker('orders', [inst('a'), inst('b'), inst('c')]);
    expect(sequence(picker, 6)).toEqual(['b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('skips excluded instances without disturbing the shares of ordinary picks', () => {
    const picker = weighted({ random: () => 0 }).createPicker('orders', heavy);
    expect(picker.pick({ exclude: new Set(['a']) }).instance?.id).toBe('b');
    expect(picker.pick({ exclude: new Set(['a', 'b', 'c']) }).instance?.id).toBe('a');
    // 10 cycles of 7 ordinary picks after the two retries: exact shares, as if there were none.
    expect(tally(picker, 70)).toEqual({ a: 50, b: 10, c: 10 });
  });

  it('picks no instance from an empty list', () => {
    expect(weighted().createPicker('orders', []).pick().instance).toBeUndefined();
  });
});
