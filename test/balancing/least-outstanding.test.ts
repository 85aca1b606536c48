import { describe, expect, it } from 'vitest';
import { leastOutstanding, type Picker, type Strategy } from '../../src/balancing/index.js';
import type { ServiceInstance } from '../../src/index.js';
import { LoadTracker } from '../../src/balancing/load-tracker.js';
import { inst, list, seeded } from './helpers.js';

function start(strategy: Strategy, picker: Picker): ServiceInstance {
  const picked = picker.pick() as ServiceInstance;
  strategy.callStarted?.('orders', picked);
  return picked;
}

function end(strategy: Strategy, instance: ServiceInstance): void {
  strategy.callEnded?.('orders', instance, { ok: true, latencyMs: 1 });
}

describe('leastOutstanding', () => {
  it('sends each call to the instance with the fewest calls in flight', () => {
    const strategy = leastOutstanding({ random: () => 0 });
    const [a, b, c] = list('a', 'b', 'c') as [ServiceInstance, ServiceInstance, ServiceInstance];
    const picker = strategy.createPicker('orders', [a, b, c]);
    expect([start(strategy, picker), start(strategy, picker), start(strategy, picker)].map((i) => i.id).sort()).toEqual(['a', 'b', 'c']);
    end(strategy, b);
    expect(start(strategy, picker).id).toBe('b');
    end(strategy, a);
    end(strategy, c);
    const next = [start(strategy, picker).id, start(strategy, picker).id].sort();
    expect(next).toEqual(['a', 'c']);
  });

  it('never counts below zero when a call ends twice or after its instance left', () => {
    const load = new LoadTracker();
    const [slot] = load.slotsFor('orders', list('a'));
    load.started('orders', 'a');
    load.ended('orders', 'a', { ok: true, latencyMs: 1 });
    load.ended('orders', 'a', { ok: true, latencyMs: 1 });
    expect(slot?.outstanding).toBe(0);
    expect(load.ended('orders', 'gone', { ok: true, latencyMs: 1 })).toBeUndefined();
  });

  it('keeps in-flight counts when the resolver rebuilds the picker', () => {
    const strategy = leastOutstanding({ random: () => 0 });
    const first = strategy.createPicker('orders', list('a', 'b'));
    const held = [start(strategy, first).id, start(strategy, first).id, start(strategy, first).id];
    const once = held.filter((id) => held.indexOf(id) === held.lastIndexOf(id));
    const rebuilt = strategy.createPicker('orders', list('a', 'b', 'c'));
    expect([start(strategy, rebuilt).id, start(strategy, rebuilt).id]).toEqual(['c', ...once]);
  });

  it('spreads idle traffic by weight and loaded traffic by outstanding / weight', () => {
    const strategy = leastOutstanding({ random: () => 0 });
    const picker = strategy.createPicker('orders', [inst('big', { weight: 3 }), inst('small')]);
    const idle: Record<string, number> = {};
    for (let n = 0; n < 400; n++) {
      const picked = start(strategy, picker);
      idle[picked.id] = (idle[picked.id] ?? 0) + 1;
      end(strategy, picked);
    }
    expect(idle).toEqual({ big: 300, small: 100 });
    const held = Array.from({ length: 8 }, () => start(strategy, picker).id);
    expect(held.filter((id) => id === 'big')).toHaveLength(6);
  });

  it('tracks in-flight calls so a slow instance gets fewer calls', () => {
    const strategy = leastOutstanding({ random: seeded(3) });
    const picker = strategy.createPicker('orders', list('slow', 'fast1', 'fast2'));
    const durations: Record<string, number> = { slow: 20, fast1: 2, fast2: 2 };
    const inFlight: { instance: ServiceInstance; endsAt: number }[] = [];
    const counts: Record<string, number> = {};
    for (let tick = 0; tick < 2_000; tick++) {
      for (let i = inFlight.length - 1; i >= 0; i--) {
        const call = inFlight[i] as { instance: ServiceInstance; endsAt: number };
        if (call.endsAt > tick) continue;
        end(strategy, call.instance);
        inFlight.splice(i, 1);
      }
      for (let n = 0; n < 3; n++) {
        const picked = start(strategy, picker);
        counts[picked.id] = (counts[picked.id] ?? 0) + 1;
        inFlight.push({ instance: picked, endsAt: tick + (durations[picked.id] as number) });
      }
    }
    // Round-robin would give each a third (2000); in-flight counts cut the slow one's share.
    expect(counts.slow).toBeLessThan(6_000 * 0.15);
  });

  it('honours exclusions and drops a service on release', () => {
    const strategy = leastOutstanding({ random: () => 0 });
    const picker = strategy.createPicker('orders', list('a', 'b'));
    expect(picker.pick({ exclude: new Set(['a']) })?.id).toBe('b');
    expect(picker.pick({ exclude: new Set(['a', 'b']) })?.id).toBeDefined();
    start(strategy, picker);
    strategy.release?.('orders');
    const fresh = strategy.createPicker('orders', list('a', 'b'));
    expect(fresh.pick()?.id).toBe('a');
    expect(leastOutstanding().createPicker('orders', []).pick()).toBeUndefined();
  });
});
