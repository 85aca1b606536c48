import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { outlierEjection, slowStart, weighted, zoneAware, type OutlierEjectionStrategy } from '../../src/balancing/index.js';
import { MemoryBackend, createInstance, createResolver, type Resolver } from '../../src/index.js';
import { seeded } from './helpers.js';

let backend: MemoryBackend;
let resolver: Resolver;
let strategy: OutlierEjectionStrategy;

beforeEach(async () => {
  vi.useFakeTimers();
  vi.setSystemTime(10_000_000);
  backend = new MemoryBackend();
  const zones = { a1: 'eu-1a', a2: 'eu-1a', a3: 'eu-1a', b1: 'eu-1b', b2: 'eu-1b', b3: 'eu-1b' };
  for (const [id, zone] of Object.entries(zones)) {
    const instance = createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8000, zone, weight: id.endsWith('1') ? 2 : 1, registeredAt: 0 }, 0);
    await backend.register(instance, { ttlMs: 600_000 });
  }
  const random = seeded(42);
  strategy = outlierEjection(
    { consecutiveFailures: 3, baseEjectionMs: 10_000 },
    slowStart({ windowMs: 20_000, random }, zoneAware({ zone: 'eu-1a', random }, weighted({ random }))),
  );
  resolver = createResolver({ backend, strategy, envFallback: false });
});

afterEach(async () => {
  await resolver.close();
  await backend.close();
  vi.useRealTimers();
});

async function shares(calls: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let n = 0; n < calls; n++) {
    const picked = await resolver.pick('orders');
    counts[picked.instance.id] = (counts[picked.instance.id] ?? 0) + 1;
    picked.done({ ok: true, latencyMs: 5 });
  }
  return counts;
}

describe('composed decorators behind a resolver', () => {
  it('keeps calls in the local zone by weight, ejects a failing instance, spills over, and ramps it back in', async () => {
    expect(await shares(400)).toEqual({ a1: 200, a2: 100, a3: 100 });

    for (let n = 0; n < 3; n++) {
      const picked = await resolver.pick('orders', { exclude: new Set(['a2', 'a3']) });
      expect(picked.instance.id).toBe('a1');
      picked.done({ ok: false, latencyMs: 5 });
    }
    expect(strategy.ejection('orders')?.ejected).toEqual(['a1']);
    // a2 and a3 hold weight 2 of the 6 left, in two zones: the local zone keeps 2 × 2 / 6 = 2/3.
    const during = await shares(3_000);
    expect(during.a1).toBeUndefined();
    const local = (during.a2 ?? 0) + (during.a3 ?? 0);
    expect(local / 3_000).toBeGreaterThan(0.6);
    expect(local / 3_000).toBeLessThan(0.73);

    await vi.advanceTimersByTimeAsync(10_000);
    expect(strategy.ejection('orders')?.instances).toMatchObject([{ id: 'a1', state: 'half-open' }]);
    // The next call is a1's trial; it succeeds, so a1 is back.
    const trial = await resolver.pick('orders');
    expect(trial.instance.id).toBe('a1');
    trial.done({ ok: true, latencyMs: 5 });
    expect(strategy.ejection('orders')?.ejected).toEqual([]);
    const back = await shares(4_000);
    // Back in, a1 is warming: 10% of its normal half of the traffic.
    expect((back.a1 ?? 0) / 4_000).toBeGreaterThan(0.02);
    expect((back.a1 ?? 0) / 4_000).toBeLessThan(0.1);
    await vi.advanceTimersByTimeAsync(20_000);
    const warmed = await shares(400);
    expect(warmed.a1).toBe(200);
  });

  it('leaves no timer behind once the resolver and backend are closed', async () => {
    await shares(10);
    for (let n = 0; n < 3; n++) {
      const picked = await resolver.pick('orders', { exclude: new Set(['a2', 'a3']) });
      picked.done({ ok: false, latencyMs: 5 });
    }
    expect(strategy.ejection('orders')?.ejected).toHaveLength(1);
    await resolver.close();
    await backend.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
