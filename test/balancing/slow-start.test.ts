import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { consistentHash, roundRobin, slowStart, type PickedInstance, type Picker, type Strategy } from '../../src/balancing/index.js';
import { inst, list, seeded, tally } from './helpers.js';

const NOW = 1_000_000;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.useRealTimers();
});

function shareOf(picker: Picker, id: string, picks = 40_000): number {
  return (tally(picker, picks)[id] ?? 0) / picks;
}

describe('slowStart', () => {
  it('ramps a newly appearing instance from minShare to its full share over the window, in steps', () => {
    const strategy = slowStart({ windowMs: 10_000, random: seeded(1) }, roundRobin());
    strategy.createPicker('orders', list('a', 'b', 'c'));
    expect(vi.getTimerCount()).toBe(0);
    const picker = strategy.createPicker('orders', list('a', 'b', 'c', 'd'));
    expect(vi.getTimerCount()).toBe(1);
    // Full share is 1/4; at first it gets minShare (10%) of that.
    expect(shareOf(picker, 'd')).toBeCloseTo(0.025, 2);
    vi.advanceTimersByTime(2_999);
    expect(shareOf(picker, 'd')).toBeCloseTo(0.25 * 0.2, 2); // the step at 2 s, not yet the one at 3 s
    vi.advanceTimersByTime(2_001);
    expect(shareOf(picker, 'd')).toBeCloseTo(0.25 * 0.5, 2);
    vi.advanceTimersByTime(5_000);
    expect(shareOf(picker, 'd')).toBeCloseTo(0.25, 2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('on first sight warms only instances registered less than a window ago, from their registration', () => {
    const strategy = slowStart({ windowMs: 10_000, random: seeded(2) }, roundRobin());
    const picker = strategy.createPicker('orders', [...list('a', 'b', 'c'), inst('d', { registeredAt: NOW - 5_000 })]);
    expect(shareOf(picker, 'd')).toBeCloseTo(0.25 * 0.5, 2);
    expect(shareOf(picker, 'a')).toBeCloseTo((1 - 0.125) / 3, 2);
  });

  it('warms an instance again when it comes back after leaving the list', () => {
    const strategy = slowStart({ windowMs: 10_000, random: seeded(3) }, roundRobin());
    strategy.createPicker('orders', list('a', 'b'));
    strategy.createPicker('orders', list('a'));
    const picker = strategy.createPicker('orders', list('a', 'b'));
    expect(shareOf(picker, 'b')).toBeCloseTo(0.05, 2);
  });

  it('follows the aggression curve: share = (elapsed / window) ^ (1 / aggression)', () => {
    const strategy = slowStart({ windowMs: 10_000, aggression: 2, minShare: 0, stepMs: 1_000, random: seeded(4) }, roundRobin());
    strategy.createPicker('orders', list('a'));
    const picker = strategy.createPicker('orders', list('a', 'b'));
    expect(shareOf(picker, 'b')).toBe(0);
    vi.advanceTimersByTime(2_500);
    expect(shareOf(picker, 'b')).toBeCloseTo(0.5 * Math.sqrt(0.2), 2);
  });

  it('redirects nothing while every instance is warming', () => {
    const strategy = slowStart({ windowMs: 10_000 }, roundRobin());
    const picker = strategy.createPicker('orders', [inst('a', { registeredAt: NOW }), inst('b', { registeredAt: NOW })]);
    expect(tally(picker, 100)).toEqual({ a: 50, b: 50 });
  });

  it('lets the same keys reach a warming instance as its share grows, never fewer', () => {
    const strategy = slowStart({ windowMs: 10_000 }, consistentHash());
    strategy.createPicker('orders', list('a', 'b', 'c'));
    const picker = strategy.createPicker('orders', list('a', 'b', 'c', 'd'));
    const keys = Array.from({ length: 4_000 }, (_, n) => `user-${n}`);
    const onD = (): Set<string> => new Set(keys.filter((key) => picker.pick({ key }).instance?.id === 'd'));
    const early = onD();
    vi.advanceTimersByTime(5_000);
    const later = onD();
    expect([...early].every((key) => later.has(key))).toBe(true);
    expect(later.size).toBeGreaterThan(early.size * 3);
  });

  it('honours exclusions on the redirect and passes feedback through', () => {
    const { ended, recording } = recordingRoundRobin();
    const strategy = slowStart({ windowMs: 10_000, minShare: 0 }, recording);
    strategy.createPicker('orders', list('a', 'b'));
    const picker = strategy.createPicker('orders', list('a', 'b', 'c'));
    for (let n = 0; n < 9; n++) expect(picker.pick({ exclude: new Set(['a']) }).instance?.id).toBe('b');
    (picker.pick({ exclude: new Set(['a', 'b']) }) as PickedInstance).done?.({ ok: true, latencyMs: 1 });
    expect(ended).toEqual(['orders c']);
  });

  it('a redirected call carries the feedback of the child pick it was redirected to', () => {
    const { ended, recording } = recordingRoundRobin();
    const strategy = slowStart({ windowMs: 10_000, minShare: 0 }, recording);
    strategy.createPicker('orders', list('a', 'b'));
    const picker = strategy.createPicker('orders', list('a', 'b', 'c'));
    // `c` has just joined with a share of 0: every pick that lands on it goes elsewhere.
    const picks = Array.from({ length: 6 }, () => picker.pick() as PickedInstance);
    expect(picks.map((picked) => picked.instance.id)).not.toContain('c');
    for (const picked of picks) picked.done?.({ ok: true, latencyMs: 1 });
    expect(ended).toEqual(picks.map((picked) => `orders ${picked.instance.id}`));
  });

  it('clears its timer on release and close', () => {
    const strategy = slowStart({ windowMs: 10_000 }, roundRobin());
    strategy.createPicker('orders', list('a'));
    strategy.createPicker('orders', list('a', 'b'));
    expect(vi.getTimerCount()).toBe(1);
    strategy.release?.('orders');
    expect(vi.getTimerCount()).toBe(0);
    strategy.createPicker('billing', [inst('x', { registeredAt: NOW })]);
    expect(vi.getTimerCount()).toBe(1);
    strategy.close?.();
    expect(vi.getTimerCount()).toBe(0);
    expect(() => slowStart({ minShare: 2 }, roundRobin())).toThrow(/Invalid slowStart.minShare: expected a number from 0 to 1, got 2/);
  });
});

/** Round robin whose picks record `service id` in `ended` when their call is reported done. */
function recordingRoundRobin(): { ended: string[]; recording: Strategy } {
  const ended: string[] = [];
  const child = roundRobin({ random: () => 0 });
  const recording: Strategy = {
    ...child,
    createPicker: (service, instances) => {
      const picker = child.createPicker(service, instances);
      return {
        pick: (context) => {
          const picked = picker.pick(context);
          const { instance } = picked;
          return instance === undefined ? picked : { instance, done: () => ended.push(`${service} ${instance.id}`) };
        },
      };
    },
  };
  return { ended, recording };
}
