import { describe, expect, it } from 'vitest';
import { roundRobin, zoneAware, type Strategy } from '../../src/balancing/index.js';
import type { ServiceInstance } from '../../src/index.js';
import { inst, seeded, tally } from './helpers.js';

function fleet(perZone: Record<string, number>): ServiceInstance[] {
  return Object.entries(perZone).flatMap(([zone, count]) => Array.from({ length: count }, (_, n) => inst(`${zone}-${n}`, zone === 'none' ? {} : { zone })));
}

function localShare(strategy: Strategy, instances: ServiceInstance[], picks = 20_000): number {
  const counts = tally(strategy.createPicker('orders', instances), picks);
  const local = Object.entries(counts).filter(([id]) => id.startsWith('eu-1a-')).reduce((sum, [, count]) => sum + count, 0);
  return local / picks;
}

describe('zoneAware', () => {
  it('keeps every call in the local zone while it holds its fair share of instances', () => {
    const strategy = zoneAware({ zone: 'eu-1a', random: seeded(1) }, roundRobin());
    expect(localShare(strategy, fleet({ 'eu-1a': 2, 'eu-1b': 2, 'eu-1c': 2 }))).toBe(1);
    expect(localShare(strategy, fleet({ 'eu-1a': 3, 'eu-1b': 2 }))).toBe(1);
  });

  it('spills over in proportion when the local zone has too few healthy instances', () => {
    const strategy = zoneAware({ zone: 'eu-1a', random: seeded(2) }, roundRobin());
    // 1 local of 5, 3 zones: the local zone can take 1 × 3 / 5 = 60% at its fair per-instance load.
    const share = localShare(strategy, fleet({ 'eu-1a': 1, 'eu-1b': 2, 'eu-1c': 2 }));
    expect(share).toBeGreaterThan(0.58);
    expect(share).toBeLessThan(0.62);
    expect(localShare(strategy, fleet({ 'eu-1b': 2, 'eu-1c': 2 }))).toBe(0);
  });

  it('counts instances without a zone as a zone of their own, and remote', () => {
    const strategy = zoneAware({ zone: 'eu-1a', random: seeded(3) }, roundRobin());
    // 1 local of 4, 2 zones (eu-1a and none): 1 × 2 / 4 = 50%.
    const share = localShare(strategy, fleet({ 'eu-1a': 1, none: 3 }));
    expect(share).toBeGreaterThan(0.48);
    expect(share).toBeLessThan(0.52);
  });

  it("stays local while any local instance is eligible with spillover 'when-empty'", () => {
    const strategy = zoneAware({ zone: 'eu-1a', spillover: 'when-empty' }, roundRobin());
    expect(localShare(strategy, fleet({ 'eu-1a': 1, 'eu-1b': 5 }))).toBe(1);
    expect(localShare(strategy, fleet({ 'eu-1b': 5 }))).toBe(0);
  });

  it('keeps a keyed call on one side and moves a retry across zones when the local zone has no other instance', () => {
    const picker = zoneAware({ zone: 'eu-1a' }, roundRobin()).createPicker('orders', fleet({ 'eu-1a': 1, 'eu-1b': 2, 'eu-1c': 2 }));
    const side = (key: string): boolean => picker.pick({ key }).instance?.zone === 'eu-1a';
    const keys = Array.from({ length: 200 }, (_, n) => `user-${n}`);
    const sides = keys.map(side);
    expect(keys.map(side)).toEqual(sides);
    expect(new Set(sides).size).toBe(2);
    const local = fleet({ 'eu-1a': 1 })[0] as ServiceInstance;
    const alone = zoneAware({ zone: 'eu-1a' }, roundRobin()).createPicker('orders', fleet({ 'eu-1a': 1, 'eu-1b': 1 }));
    expect(alone.pick().instance?.id).toBe(local.id);
    expect(alone.pick({ exclude: new Set([local.id]) }).instance?.id).toBe('eu-1b-0');
  });

  it('is the child itself when no zone is configured', () => {
    const child = roundRobin();
    expect(zoneAware({ zone: undefined }, child)).toBe(child);
    expect(zoneAware({ zone: '' }, child)).toBe(child);
    expect(() => zoneAware({ zone: 'eu-1a', spillover: 'never' as never }, child)).toThrow(/Invalid zoneAware.spillover/);
  });

  it('balances local and remote instances under separate child keys', () => {
    const keys: string[] = [];
    const child: Strategy = { name: 'rec', createPicker: (service, list) => (keys.push(`${service}:${list.length}`), roundRobin().createPicker(service, list)) };
    zoneAware({ zone: 'eu-1a' }, child).createPicker('orders', fleet({ 'eu-1a': 2, 'eu-1b': 3 }));
    expect(keys).toEqual(['orders/local:2', 'orders/remote:3']);
  });
});
