import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  STRATEGY_NAMES,
  consistentHash,
  filter,
  p2c,
  roundRobin,
  slowStart,
  split,
  strategyByName,
  zoneAware,
  type Picker,
  type Strategy,
} from '../../src/balancing/index.js';
import { MemoryBackend, createInstance, createResolver } from '../../src/index.js';
import { call as callTo, inst, list, pickOf } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_000_000);
});

afterEach(() => {
  vi.useRealTimers();
});

/** One call to `id` through `picker`, whose list is `ids`. */
function call(picker: Picker, ids: readonly string[], id: string, ok: boolean, latencyMs: number): void {
  callTo(picker, id, ids, { ok, latencyMs });
}

describe('Strategy.inspect: per-instance figures', () => {
  it.each(STRATEGY_NAMES)('%s counts calls, failures, calls in flight and recent latency per instance, in list order', (name) => {
    const strategy = strategyByName(name, { random: () => 0 });
    expect(strategy.inspect?.('orders')).toBeUndefined();
    const ids = ['a', 'b', 'c'];
    const picker = strategy.createPicker('orders', list(...ids));
    call(picker, ids, 'a', true, 100);
    call(picker, ids, 'a', false, 200);
    call(picker, ids, 'b', true, 40);
    pickOf(picker, 'c', ids).started?.();
    const figures = strategy.inspect?.('orders') ?? [];
    expect(figures.map(({ id, outstanding, calls, failures, latencyMs }) => ({ id, outstanding, calls, failures, latencyMs })).sort((x, y) => x.id.localeCompare(y.id))).toEqual([
      { id: 'a', outstanding: 0, calls: 2, failures: 1, latencyMs: 110 },
      { id: 'b', outstanding: 0, calls: 1, failures: 0, latencyMs: 40 },
      { id: 'c', outstanding: 1, calls: 0, failures: 0, latencyMs: undefined },
    ]);
    strategy.close?.();
  });

  it('keeps figures across picker rebuilds, drops those of instances that leave, and forgets a released service', () => {
    const strategy = roundRobin();
    call(strategy.createPicker('orders', list('a', 'b')), ['a', 'b'], 'a', true, 10);
    strategy.createPicker('orders', list('a', 'c'));
    expect(strategy.inspect?.('orders')?.map((entry) => [entry.id, entry.calls])).toEqual([
      ['a', 1],
      ['c', 0],
    ]);
    strategy.release?.('orders');
    expect(strategy.inspect?.('orders')).toBeUndefined();
  });

  it('weighs each new call 10% into the latency figure and reads bad latencies as 0', () => {
    const strategy = roundRobin();
    const picker = strategy.createPicker('orders', list('a'));
    call(picker, ['a'], 'a', true, 100);
    for (let n = 0; n < 30; n++) call(picker, ['a'], 'a', true, 10);
    expect(strategy.inspect?.('orders')?.[0]?.latencyMs).toBeCloseTo(10 + 90 * 0.9 ** 30, 6);
    call(picker, ['a'], 'a', true, Number.NaN);
    call(picker, ['a'], 'a', true, -5);
    expect(strategy.inspect?.('orders')?.[0]?.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('p2c adds its latency estimate, which decays while the instance is idle', () => {
    const strategy = p2c({ decayMs: 1_000 });
    call(strategy.createPicker('orders', list('a', 'b')), ['a', 'b'], 'a', true, 100);
    expect(strategy.inspect?.('orders')?.[0]).toMatchObject({ id: 'a', latencyMs: 100, estimateMs: 100 });
    expect(strategy.inspect?.('orders')?.[1]?.estimateMs).toBeUndefined();
    // Idle for two time constants (the first tick only clears the call's mark): e^-1.9 of it is left.
    vi.advanceTimersByTime(2_000);
    expect(strategy.inspect?.('orders')?.[0]?.estimateMs).toBeCloseTo(100 * Math.exp(-1.9), 6);
    expect(strategy.inspect?.('orders')?.[0]?.latencyMs).toBe(100);
    strategy.close?.();
  });

  it('slowStart adds the share a warming instance gets; zoneAware, split and filter pass the child\'s figures on', () => {
    const warming = slowStart({ windowMs: 10_000 }, roundRobin());
    warming.createPicker('orders', list('a', 'b'));
    warming.createPicker('orders', list('a', 'b', 'c'));
    expect(warming.inspect?.('orders')?.map((entry) => entry.warmingShare)).toEqual([undefined, undefined, 0.1]);
    warming.close?.();

    const zoned = [inst('l1', { zone: 'z1' }), inst('r1', { zone: 'z2' }), inst('r2', { zone: 'z2' })];
    for (const strategy of [
      zoneAware({ zone: 'z1' }, consistentHash()),
      split({ groups: [{ select: { zone: 'z2' }, percent: 30 }] }, roundRobin()),
      filter({ select: { zone: ['z1', 'z2'] } }, p2c()),
    ]) {
      call(strategy.createPicker('orders', zoned), ['l1', 'r1', 'r2'], 'r2', false, 7);
      const figures = strategy.inspect?.('orders') ?? [];
      expect(figures.map((entry) => entry.id).sort()).toEqual(['l1', 'r1', 'r2']);
      expect(figures.find((entry) => entry.id === 'r2')).toMatchObject({ calls: 1, failures: 1, latencyMs: 7 });
      strategy.close?.();
    }
  });

  it('a custom strategy without inspect reports nothing, and decorators over it report nothing either', () => {
    const custom: Strategy = { name: 'custom', createPicker: (_s, instances) => ({ pick: () => ({ instance: instances[0] as never }) }) };
    const decorated = slowStart({}, custom);
    decorated.createPicker('orders', list('a'));
    expect(decorated.inspect?.('orders')).toBeUndefined();
  });
});

describe('Resolver.instanceFigures', () => {
  it('reads the figures of the calls made through pick() and done()', async () => {
    const backend = new MemoryBackend();
    for (const id of ['a', 'b']) await backend.register(createInstance({ id, service: 'orders', host: '10.0.0.1', port: 80 }, Date.now()), { ttlMs: 600_000 });
    const resolver = createResolver({ backend, envFallback: false, random: () => 0 });
    expect(resolver.instanceFigures('orders')).toBeUndefined();
    for (let n = 0; n < 4; n++) {
      const picked = await resolver.pick('orders');
      picked.done({ ok: picked.instance.id === 'b', latencyMs: picked.instance.id === 'a' ? 300 : 20 });
    }
    expect(resolver.instanceFigures('orders')).toEqual([
      { id: 'a', outstanding: 0, calls: 2, failures: 2, latencyMs: 300 },
      { id: 'b', outstanding: 0, calls: 2, failures: 0, latencyMs: 20 },
    ]);
    await resolver.close();
    await backend.close();
  });
});
