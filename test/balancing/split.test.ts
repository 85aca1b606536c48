import { describe, expect, it } from 'vitest';
import { roundRobin, split, weighted, type Strategy } from '../../src/balancing/index.js';
import { inst, pickOf, seeded } from './helpers.js';

const stable = [inst('v1a', { version: '1.0.0' }), inst('v1b', { version: '1.0.0' }), inst('v1c', { version: '1.0.0' })];
const canary = inst('v2a', { version: '2.0.0' });

function shareOf(strategy: Strategy, instances: typeof stable, picks: number, match: (id: string) => boolean, keyed = false): number {
  const picker = strategy.createPicker('orders', instances);
  let hits = 0;
  for (let n = 0; n < picks; n++) if (match(picker.pick(keyed ? { key: `user-${n}` } : undefined).instance?.id as string)) hits++;
  return hits / picks;
}

describe('split', () => {
  it('sends a canary its percentage of calls and the rest to everything else', () => {
    const strategy = split({ groups: [{ select: { version: '2.0.0' }, percent: 5 }], random: seeded(4) }, weighted());
    const share = shareOf(strategy, [...stable, canary], 40_000, (id) => id === 'v2a');
    expect(share).toBeGreaterThan(0.045);
    expect(share).toBeLessThan(0.055);
  });

  it('keeps each key on one side of the split, with the stated share of keys', () => {
    const strategy = split({ groups: [{ select: { version: '2.0.0' }, percent: 20 }] }, roundRobin());
    const picker = strategy.createPicker('orders', [...stable, canary]);
    const side = (key: string): boolean => picker.pick({ key }).instance?.id === 'v2a';
    const keys = Array.from({ length: 10_000 }, (_, n) => `user-${n}`);
    const first = keys.map(side);
    expect(keys.map(side)).toEqual(first);
    const share = first.filter(Boolean).length / keys.length;
    expect(share).toBeGreaterThan(0.18);
    expect(share).toBeLessThan(0.22);
  });

  it('splits three ways and gives an empty group’s share to the others', () => {
    const v3 = inst('v3a', { version: '3.0.0' });
    const groups = [
      { select: { version: '3.0.0' }, percent: 10 },
      { select: { version: '2.0.0' }, percent: 30 },
    ];
    const three = split({ groups, random: seeded(8) }, roundRobin());
    expect(shareOf(three, [...stable, canary, v3], 20_000, (id) => id === 'v3a')).toBeCloseTo(0.1, 1);
    expect(shareOf(three, [...stable, canary, v3], 20_000, (id) => id === 'v2a')).toBeCloseTo(0.3, 1);
    // No 3.0.0 instance: its 10% goes to 2.0.0 (30 of 90) and the rest (60 of 90).
    expect(shareOf(three, [...stable, canary], 20_000, (id) => id === 'v2a')).toBeCloseTo(1 / 3, 1);
    const all = split({ groups: [{ select: { version: '2.0.0' }, percent: 100 }] }, roundRobin());
    expect(shareOf(all, stable, 300, (id) => id.startsWith('v1'))).toBe(1);
  });

  it('balances each group separately in the child and routes feedback to the right group', () => {
    const events: string[] = [];
    const child: Strategy = {
      name: 'recording',
      createPicker: (service, list) => {
        events.push(`picker ${service} ${list.map((i) => i.id).join(',')}`);
        const picker = roundRobin().createPicker(service, list);
        return {
          pick: (context) => {
            const picked = picker.pick(context);
            const { instance } = picked;
            return instance === undefined ? picked : { instance, done: () => events.push(`end ${service} ${instance.id}`) };
          },
        };
      },
      release: (service) => events.push(`release ${service}`),
    };
    const strategy = split({ groups: [{ select: { version: '2.0.0' }, percent: 5 }] }, child);
    const picker = strategy.createPicker('orders', [...stable, canary]);
    const ids = [...stable, canary].map((instance) => instance.id);
    pickOf(picker, 'v2a', ids).done?.({ ok: true, latencyMs: 1 });
    pickOf(picker, 'v1a', ids).done?.({ ok: true, latencyMs: 1 });
    strategy.createPicker('orders', stable);
    strategy.release?.('orders');
    expect(events).toEqual([
      'picker orders/0 v2a',
      'picker orders/rest v1a,v1b,v1c',
      'end orders/0 v2a',
      'end orders/rest v1a',
      'picker orders/rest v1a,v1b,v1c',
      'release orders/0',
      'release orders/rest',
    ]);
  });

  it('moves a retry to another group when its group has nothing else', () => {
    const picker = split({ groups: [{ select: { version: '2.0.0' }, percent: 100 }] }, roundRobin()).createPicker('orders', [...stable, canary]);
    expect(picker.pick().instance?.id).toBe('v2a');
    expect(picker.pick({ exclude: new Set(['v2a']) }).instance?.id).toMatch(/^v1/);
  });

  it('rejects malformed groups', () => {
    expect(() => split({ groups: [] }, roundRobin())).toThrow(/Invalid split.groups/);
    expect(() => split({ groups: [{ select: {}, percent: 60 }, { select: {}, percent: 50 }] }, roundRobin())).toThrow(/at most 100, got "a total of 110"/);
    expect(() => split({ groups: [{ select: {}, percent: -1 }] }, roundRobin())).toThrow(/split.groups\[0\].percent/);
    expect(() => split({ groups: [{ select: {} } as never] }, roundRobin())).toThrow(/split.groups\[0\].percent/);
  });
});
