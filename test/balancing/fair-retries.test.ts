import { describe, expect, it } from 'vitest';
import { leastOutstanding, random, roundRobin, weighted, type Picker } from '../../src/balancing/index.js';
import { inst, list, seeded } from './helpers.js';

/**
 * A sequential caller whose calls to `failing` are retried once elsewhere: the ids its first
 * picks went to, in order.
 */
function firstPicks(picker: Picker, calls: number, failing: string): string[] {
  const first: string[] = [];
  for (let n = 0; n < calls; n++) {
    const id = picker.pick().instance?.id as string;
    first.push(id);
    if (id === failing) picker.pick({ exclude: new Set([failing]) });
  }
  return first;
}

function counts(ids: readonly string[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const id of ids) result[id] = (result[id] ?? 0) + 1;
  return result;
}

describe('retry picks leave the rotation of first picks alone', () => {
  it('round-robin: first picks alternate between two instances although every call to one is retried', () => {
    const picker = roundRobin({ random: () => 0 }).createPicker('orders', list('a', 'b'));
    expect(firstPicks(picker, 8, 'a')).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('round-robin: retries rotate over the other instances instead of all landing on the next one', () => {
    const picker = roundRobin({ random: () => 0 }).createPicker('orders', list('a', 'b', 'c', 'd'));
    const retries = Array.from({ length: 6 }, () => picker.pick({ exclude: new Set(['a']) }).instance?.id);
    expect(retries).toEqual(['b', 'c', 'd', 'b', 'c', 'd']);
    expect(Array.from({ length: 4 }, () => picker.pick().instance?.id)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('weighted: first picks keep exact weighted shares', () => {
    const picker = weighted({ random: () => 0 }).createPicker('orders', [inst('a', { weight: 2 }), inst('b'), inst('c')]);
    // Over 100 cycles of sum(weights) = 4, exactly weight × 100 each.
    expect(counts(firstPicks(picker, 400, 'a'))).toEqual({ a: 200, b: 100, c: 100 });
  });

  it('weighted: retries away from an instance are spread over the others by weight', () => {
    const picker = weighted({ random: () => 0 }).createPicker('orders', [inst('a', { weight: 5 }), inst('b', { weight: 2 }), inst('c')]);
    const retries = Array.from({ length: 300 }, () => picker.pick({ exclude: new Set(['a']) }).instance?.id as string);
    expect(counts(retries)).toEqual({ b: 200, c: 100 });
  });

  it('weighted with equal weights behaves as round-robin', () => {
    const picker = weighted({ random: () => 0 }).createPicker('orders', list('a', 'b'));
    expect(counts(firstPicks(picker, 100, 'a'))).toEqual({ a: 50, b: 50 });
  });

  it('least-outstanding: idle first picks alternate while one instance is retried away from', () => {
    const picker = leastOutstanding({ random: () => 0 }).createPicker('orders', list('a', 'b'));
    expect(counts(firstPicks(picker, 100, 'a'))).toEqual({ a: 50, b: 50 });
  });

  it('random: a retry goes uniformly to one of the instances left', () => {
    const picker = random({ random: seeded(3) }).createPicker('orders', list('a', 'b', 'c'));
    const retries = counts(Array.from({ length: 6_000 }, () => picker.pick({ exclude: new Set(['a']) }).instance?.id as string));
    expect(retries.a).toBeUndefined();
    expect(Math.abs((retries.b ?? 0) - 3_000)).toBeLessThan(200);
  });

  it('every excluded: the instance whose turn it is, without taking the turn', () => {
    const picker = roundRobin({ random: () => 0 }).createPicker('orders', list('a', 'b'));
    expect(picker.pick({ exclude: new Set(['a', 'b']) }).instance?.id).toBe('a');
    expect(picker.pick().instance?.id).toBe('a');
    const heavy = weighted({ random: () => 0 }).createPicker('orders', [inst('a', { weight: 3 }), inst('b')]);
    expect(heavy.pick({ exclude: new Set(['a', 'b']) }).instance?.id).toBe('a');
    expect(Array.from({ length: 4 }, () => heavy.pick().instance?.id)).toEqual(['a', 'a', 'b', 'a']);
  });
});
