import { describe, expect, it } from 'vitest';
import { consistentHash, type Picker } from '../../src/balancing/index.js';
import { inst, list, seeded, tally } from './helpers.js';

const KEYS = Array.from({ length: 20_000 }, (_, n) => `user-${n}`);
const ids = (count: number, from = 0): string[] => Array.from({ length: count }, (_, n) => `i${from + n}`);

function owners(picker: Picker): string[] {
  return KEYS.map((key) => picker.pick({ key }).instance?.id as string);
}

describe('consistentHash (ring hash with virtual nodes)', () => {
  it('sends a key to the same instance every time, in every client, whatever the list order', () => {
    const first = owners(consistentHash().createPicker('orders', list(...ids(8))));
    const reversed = owners(consistentHash().createPicker('orders', list(...ids(8)).reverse()));
    expect(reversed).toEqual(first);
  });

  it('spreads keys evenly: every instance within 25% of its fair share', () => {
    const counts: Record<string, number> = {};
    for (const id of owners(consistentHash().createPicker('orders', list(...ids(10))))) counts[id] = (counts[id] ?? 0) + 1;
    expect(Object.keys(counts)).toHaveLength(10);
    for (const count of Object.values(counts)) expect(Math.abs(count - 2_000)).toBeLessThan(2_000 * 0.25);
  });

  it('removing one of N instances remaps only its own keys: about 1/N, at most 1.5/N', () => {
    for (const n of [5, 10, 20]) {
      const strategy = consistentHash();
      const before = owners(strategy.createPicker('orders', list(...ids(n))));
      const after = owners(strategy.createPicker('orders', list(...ids(n - 1, 1))));
      const moved = KEYS.map((_, k) => k).filter((k) => before[k] !== after[k]);
      expect(moved.every((k) => before[k] === 'i0')).toBe(true);
      expect(moved.length / KEYS.length).toBeGreaterThan(0.5 / n);
      expect(moved.length / KEYS.length).toBeLessThan(1.5 / n);
    }
  });

  it('adding an instance moves about 1/(N+1) of the keys, all to the newcomer', () => {
    const strategy = consistentHash();
    const before = owners(strategy.createPicker('orders', list(...ids(10))));
    const after = owners(strategy.createPicker('orders', list(...ids(11))));
    const moved = KEYS.map((_, k) => k).filter((k) => before[k] !== after[k]);
    expect(moved.every((k) => after[k] === 'i10')).toBe(true);
    expect(moved.length / KEYS.length).toBeLessThan(1.5 / 11);
    expect(moved.length / KEYS.length).toBeGreaterThan(0.5 / 11);
  });

  it('gives an instance a share of keys in proportion to its weight', () => {
    const picker = consistentHash().createPicker('orders', [inst('heavy', { weight: 4 }), ...list('a', 'b', 'c', 'd')]);
    const heavy = owners(picker).filter((id) => id === 'heavy').length / KEYS.length;
    expect(heavy).toBeGreaterThan(0.5 * 0.8);
    expect(heavy).toBeLessThan(0.5 * 1.2);
  });

  it('spreads calls without a key at random by the same shares', () => {
    const counts = tally(consistentHash({ random: seeded(1) }).createPicker('orders', list('a', 'b', 'c', 'd')), 20_000);
    for (const count of Object.values(counts)) expect(Math.abs(count - 5_000)).toBeLessThan(5_000 * 0.25);
  });

  it('walks on along the ring past excluded instances, to the same fallback every time', () => {
    const picker = consistentHash().createPicker('orders', list(...ids(5)));
    const home = picker.pick({ key: 'user-42' }).instance?.id as string;
    const fallback = picker.pick({ key: 'user-42', exclude: new Set([home]) }).instance?.id;
    expect(fallback).not.toBe(home);
    expect(picker.pick({ key: 'user-42', exclude: new Set([home]) }).instance?.id).toBe(fallback);
    expect(picker.pick({ key: 'user-42', exclude: new Set(ids(5)) }).instance?.id).toBe(home);
  });

  it('rebuilds the ring only when ids or weights change, and drops it on release', () => {
    const strategy = consistentHash({ pointsPerInstance: 4 });
    const before = owners(strategy.createPicker('orders', list('a', 'b', 'c')));
    expect(owners(strategy.createPicker('orders', list('c', 'b', 'a')))).toEqual(before);
    strategy.release?.('orders');
    strategy.close?.();
    expect(consistentHash().createPicker('orders', []).pick({ key: 'x' }).instance).toBeUndefined();
    expect(() => consistentHash({ pointsPerInstance: 0 })).toThrow(/consistentHash.pointsPerInstance/);
  });
});
