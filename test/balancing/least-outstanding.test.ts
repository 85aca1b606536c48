import { describe, expect, it } from 'vitest';
import { leastOutstanding, type PickedInstance, type Picker } from '../../src/balancing/index.js';
import { LoadTracker } from '../../src/balancing/load-tracker.js';
import { inst, list, seeded } from './helpers.js';

/** Starts a call through the picker; its pick ends it later. */
function start(picker: Picker): PickedInstance {
  const picked = picker.pick() as PickedInstance;
  picked.started?.();
  return picked;
}

function end(picked: PickedInstance): void {
  picked.done?.({ ok: true, latencyMs: 1 });
}

/** The call of `calls` to instance `id`. */
function to(calls: readonly PickedInstance[], id: string): PickedInstance {
  return calls.find((picked) => picked.instance.id === id) as PickedInstance;
}

describe('leastOutstanding', () => {
  it('sends each call to the instance with the fewest calls in flight', () => {
    const strategy = leastOutstanding({ random: () => 0 });
    const picker = strategy.createPicker('orders', list('a', 'b', 'c'));
    const calls = [start(picker), start(picker), start(picker)];
    expect(calls.map((picked) => picked.instance.id).sort()).toEqual(['a', 'b', 'c']);
    end(to(calls, 'b'));
    expect(start(picker).instance.id).toBe('b');
    end(to(calls, 'a'));
    end(to(calls, 'c'));
    const next = [start(picker).instance.id, start(picker).instance.id].sort();
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
    const held = [start(first).instance.id, start(first).instance.id, start(first).instance.id];
    const once = held.filter((id) => held.indexOf(id) === held.lastIndexOf(id));
    const rebuilt = strategy.createPicker('orders', list('a', 'b', 'c'));
    expect([start(rebuilt).instance.id, start(rebuilt).instance.id]).toEqual(['c', ...once]);
  });

  it('spreads idle traffic by weight and loaded traffic by outstanding / weight', () => {
    const strategy = leastOutstanding({ random: () => 0 });
    const picker = strategy.createPicker('orders', [inst('big', { weight: 3 }), inst('small')]);
    const idle: Record<string, number> = {};
    for (let n = 0; n < 400; n++) {
      const picked = start(picker);
      idle[picked.instance.id] = (idle[picked.instance.id] ?? 0) + 1;
      end(picked);
    }
    expect(idle).toEqual({ big: 300, small: 100 });
    const held = Array.from({ length: 8 }, () => start(picker).instance.id);
    expect(held.filter((id) => id === 'big')).toHaveLength(6);
  });

  it('tracks in-flight calls so a slow instance gets fewer calls', () => {
    const strategy = leastOutstanding({ random: seeded(3) });
    const picker = strategy.createPicker('orders', list('slow', 'fast1', 'fast2'));
    const durations: Record<string, number> = { slow: 20, fast1: 2, fast2: 2 };
    const inFlight: { picked: PickedInstance; endsAt: number }[] = [];
    const counts: Record<string, number> = {};
    for (let tick = 0; tick < 2_000; tick++) {
      for (let i = inFlight.length - 1; i >= 0; i--) {
        const call = inFlight[i] as { picked: PickedInstance; endsAt: number };
        if (call.endsAt > tick) continue;
        end(call.picked);
        inFlight.splice(i, 1);
      }
      for (let n = 0; n < 3; n++) {
        const picked = start(picker);
        const id = picked.instance.id;
        counts[id] = (counts[id] ?? 0) + 1;
        inFlight.push({ picked, endsAt: tick + (durations[id] as number) });
      }
    }
    // Round-robin would give each a third (2000); in-flight counts cut the slow one's share.
    expect(counts.slow).toBeLessThan(6_000 * 0.15);
  });

  it('honours exclusions and drops a service on release', () => {
    const strategy = leastOutstanding({ random: () => 0 });
    const picker = strategy.createPicker('orders', list('a', 'b'));
    expect(picker.pick({ exclude: new Set(['a']) }).instance?.id).toBe('b');
    expect(picker.pick({ exclude: new Set(['a', 'b']) }).instance?.id).toBeDefined();
    start(picker);
    strategy.release?.('orders');
    const fresh = strategy.createPicker('orders', list('a', 'b'));
    expect(fresh.pick().instance?.id).toBe('a');
    expect(leastOutstanding().createPicker('orders', []).pick().instance).toBeUndefined();
  });
});
