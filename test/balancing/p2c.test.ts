import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { p2c, type PickedInstance, type Picker } from '../../src/balancing/index.js';
import { call as callTo, list, seeded } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** One call: pick, start, end after `latencyMs` (reported at once; time is the caller's business). */
function call(picker: Picker, latencyOf: (id: string) => number): string {
  const picked = picker.pick() as PickedInstance;
  picked.started?.();
  picked.done?.({ ok: true, latencyMs: latencyOf(picked.instance.id) });
  return picked.instance.id;
}

describe('p2c (power of two choices over peak EWMA)', () => {
  it('moves load away from a slow instance under concurrent traffic', () => {
    let now = 0;
    const strategy = p2c({ random: seeded(11), clock: { now: () => now } });
    const picker = strategy.createPicker('orders', list('slow', 'fast1', 'fast2'));
    const latency: Record<string, number> = { slow: 100, fast1: 10, fast2: 10 };
    const inFlight: { picked: PickedInstance; endsAt: number }[] = [];
    const counts: Record<string, number> = { slow: 0, fast1: 0, fast2: 0 };
    for (now = 0; now < 5_000; now++) {
      for (let i = inFlight.length - 1; i >= 0; i--) {
        const pending = inFlight[i] as { picked: PickedInstance; endsAt: number };
        if (pending.endsAt > now) continue;
        pending.picked.done?.({ ok: true, latencyMs: latency[pending.picked.instance.id] as number });
        inFlight.splice(i, 1);
      }
      for (let n = 0; n < 2; n++) {
        const picked = picker.pick() as PickedInstance;
        picked.started?.();
        const id = picked.instance.id;
        if (now >= 1_000) counts[id] = (counts[id] ?? 0) + 1;
        inFlight.push({ picked, endsAt: now + (latency[id] as number) });
      }
    }
    // Round-robin would send it a third (2667 of 8000).
    expect(counts.slow).toBeLessThan(8_000 * 0.05);
    expect(Math.abs((counts.fast1 as number) - (counts.fast2 as number))).toBeLessThan(8_000 * 0.1);
    strategy.close?.();
  });

  it('tries an instance that was slow again once its idle estimate has decayed', () => {
    const strategy = p2c({ random: seeded(5), decayMs: 10_000 });
    const picker = strategy.createPicker('orders', list('a', 'b'));
    let latencyOfA = 1_000;
    const latencyOf = (id: string): number => (id === 'a' ? latencyOfA : 10);
    while (call(picker, latencyOf) !== 'a');
    latencyOfA = 5;
    let elapsed = 0;
    let backAfter = -1;
    while (elapsed < 120_000 && backAfter === -1) {
      vi.advanceTimersByTime(100);
      elapsed += 100;
      if (call(picker, latencyOf) === 'a') backAfter = elapsed;
    }
    // 1000 ms decays below b's 10 ms after ln(100) × decayMs ≈ 46 s of idleness.
    expect(backAfter).toBeGreaterThan(40_000);
    expect(backAfter).toBeLessThan(60_000);
    expect(Array.from({ length: 20 }, () => call(picker, latencyOf)).filter((id) => id === 'a').length).toBeGreaterThan(10);
    strategy.close?.();
  });

  it('probes a new instance once but sends no more until its first call returns', () => {
    const strategy = p2c({ random: seeded(2) });
    const first = strategy.createPicker('orders', list('a', 'b'));
    for (const id of ['a', 'b']) callTo(first, id, ['a', 'b'], { ok: true, latencyMs: 10 });
    const picker = strategy.createPicker('orders', list('a', 'b', 'c'));
    let probe: PickedInstance | undefined;
    while (probe === undefined) {
      const picked = picker.pick() as PickedInstance;
      picked.started?.();
      if (picked.instance.id === 'c') probe = picked;
      else picked.done?.({ ok: true, latencyMs: 10 });
    }
    expect(Array.from({ length: 50 }, () => call(picker, () => 10))).not.toContain('c');
    probe.done?.({ ok: true, latencyMs: 5 });
    expect(Array.from({ length: 50 }, () => call(picker, () => 10))).toContain('c');
    strategy.close?.();
  });

  it('honours exclusions, even when both candidates are excluded', () => {
    const strategy = p2c({ random: seeded(9) });
    const picker = strategy.createPicker('orders', list('a', 'b', 'c'));
    for (let n = 0; n < 30; n++) expect(picker.pick({ exclude: new Set(['a', 'b']) }).instance?.id).toBe('c');
    expect(picker.pick({ exclude: new Set(['a', 'b', 'c']) }).instance?.id).toMatch(/^[abc]$/);
    expect(strategy.createPicker('orders', list('solo')).pick({ exclude: new Set(['solo']) }).instance?.id).toBe('solo');
    strategy.close?.();
  });

  it('runs one decay timer while it tracks a service and none after release or close', () => {
    const strategy = p2c();
    expect(vi.getTimerCount()).toBe(0);
    strategy.createPicker('orders', list('a', 'b'));
    strategy.createPicker('billing', list('c'));
    expect(vi.getTimerCount()).toBe(1);
    strategy.release?.('orders');
    expect(vi.getTimerCount()).toBe(1);
    strategy.release?.('billing');
    expect(vi.getTimerCount()).toBe(0);
    strategy.createPicker('orders', list('a'));
    strategy.close?.();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects invalid options', () => {
    expect(() => p2c({ decayMs: 0 })).toThrow(/Invalid p2c.decayMs: expected an integer from 10 to 3600000, got 0/);
    expect(() => p2c({ random: 3 as never })).toThrow(/p2c.random/);
  });
});
