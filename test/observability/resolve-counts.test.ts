import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  MemoryBackend,
  ServiceUnavailableError,
  createInstance,
  createResolver,
  filter,
  outlierEjection,
  roundRobin,
  type InstanceStatus,
  type Resolver,
  type ResolverOptions,
  type ServiceInstance,
} from '../../src/index.js';
import { FaultyBackend } from '../../src/testing/index.js';

let memory: MemoryBackend;
let faulty: FaultyBackend;
const open: Resolver[] = [];

function instance(service: string, id: string, status: InstanceStatus = 'passing'): ServiceInstance {
  return createInstance({ id, service, host: '10.0.0.1', port: 8000 + Number(id.replace(/\D/g, '') || 0), status }, Date.now());
}

function resolver(options: Partial<ResolverOptions> = {}): Resolver {
  const created = createResolver({ backend: faulty, envFallback: { env: {} }, ...options });
  open.push(created);
  return created;
}

function countsOf(r: Resolver, service: string): Record<string, number> | undefined {
  const found = r.resolveCounts().find((counts) => counts.service === service);
  if (found === undefined) return undefined;
  return { cache: found.cache, registry: found.registry, stale: found.stale, env: found.env, unavailable: found.unavailable };
}

beforeEach(() => {
  vi.useFakeTimers();
  memory = new MemoryBackend();
  faulty = new FaultyBackend(memory);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
  await memory.close();
  vi.useRealTimers();
});

describe('resolveCounts()', () => {
  it('counts each resolve, pick and resolveAll by the tier that answered it', async () => {
    await memory.register(instance('orders', 'o1'), { ttlMs: 600_000 });
    const r = resolver({ watch: false });

    await r.resolve('orders');
    await r.resolve('orders');
    await r.pick('orders');
    await r.resolveAll('orders');

    expect(countsOf(r, 'orders')).toEqual({ cache: 3, registry: 1, stale: 0, env: 0, unavailable: 0 });
  });

  it('tells pick() callers which tier answered: registry on a miss, cache on a hit, stale and env while the registry fails', async () => {
    await memory.register(instance('orders', 'o1'), { ttlMs: 600_000 });
    const r = resolver({ watch: false, cacheTtlMs: 1_000, envFallback: { env: { PAYMENTS_URL: 'http://10.9.9.9:80' } } });

    expect((await r.pick('orders')).source).toBe('registry');
    expect((await r.pick('orders')).source).toBe('cache');
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_100);
    expect((await r.pick('orders')).source).toBe('stale');
    expect((await r.pick('orders')).source).toBe('stale');
    expect((await r.pick('payments')).source).toBe('env');
    expect((await r.pick('payments')).source).toBe('env');

    expect(countsOf(r, 'orders')).toEqual({ cache: 1, registry: 1, stale: 2, env: 0, unavailable: 0 });
    expect(countsOf(r, 'payments')).toEqual({ cache: 0, registry: 0, stale: 0, env: 2, unavailable: 0 });
  });

  it('counts ServiceUnavailableError as unavailable: no instance anywhere, none eligible, or a strategy refusing', async () => {
    await memory.register(instance('billing', 'b1', 'critical'), { ttlMs: 600_000 });
    await memory.register(instance('search', 's1'), { ttlMs: 600_000 });
    const strict = filter({ select: { tags: ['never'] }, fallback: 'fail' }, roundRobin());
    const r = resolver({ watch: false, strategy: strict });

    await expect(r.resolve('ghost')).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(r.resolve('billing')).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(r.resolve('billing')).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(r.pick('search')).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(r.resolve('search')).rejects.toBeInstanceOf(ServiceUnavailableError);

    expect(countsOf(r, 'ghost')).toEqual({ cache: 0, registry: 0, stale: 0, env: 0, unavailable: 1 });
    expect(countsOf(r, 'billing')).toEqual({ cache: 0, registry: 0, stale: 0, env: 0, unavailable: 2 });
    expect(countsOf(r, 'search')).toEqual({ cache: 0, registry: 0, stale: 0, env: 0, unavailable: 2 });
  });

  it('counts an outlier-ejection refusal (allEjected: fail) on a cache hit as unavailable', async () => {
    await memory.register(instance('orders', 'o1'), { ttlMs: 600_000 });
    const r = resolver({ watch: false, strategy: outlierEjection({ consecutiveFailures: 1, allEjected: 'fail', maxEjectedPercent: 100 }, roundRobin()) });
    const first = await r.pick('orders');
    first.done({ ok: false, latencyMs: 1 });

    await expect(r.resolve('orders')).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(countsOf(r, 'orders')).toEqual({ cache: 0, registry: 1, stale: 0, env: 0, unavailable: 1 });
  });

  it('does not count invalid names, and forgets the oldest uncached service past 100 of them', async () => {
    const r = resolver({ watch: false });
    await expect(r.resolve('not a name')).rejects.toThrow();
    faulty.fail();
    for (let n = 0; n < 105; n++) await expect(r.resolve(`gone-${n}`)).rejects.toBeInstanceOf(ServiceUnavailableError);

    const names = r.resolveCounts().map((counts) => counts.service);
    expect(names).toHaveLength(100);
    expect(names).not.toContain('not a name');
    expect(names[0]).toBe('gone-5');
    expect(names.at(-1)).toBe('gone-104');
  });

  it('keeps counting services in cache however many uncached names come and go', async () => {
    await memory.register(instance('orders', 'o1'), { ttlMs: 600_000 });
    const r = resolver({ watch: false, cacheTtlMs: 600_000 });
    await r.resolve('orders');
    faulty.fail();
    for (let n = 0; n < 150; n++) await expect(r.resolve(`gone-${n}`)).rejects.toBeInstanceOf(ServiceUnavailableError);
    await r.resolve('orders');

    expect(countsOf(r, 'orders')).toEqual({ cache: 1, registry: 1, stale: 0, env: 0, unavailable: 0 });
  });
});

describe('status().counts', () => {
  it('counts the listed instances by status, eligible or not', async () => {
    await memory.register(instance('orders', 'o1'), { ttlMs: 600_000 });
    await memory.register(instance('orders', 'o2', 'warning'), { ttlMs: 600_000 });
    await memory.register(instance('orders', 'o3', 'critical'), { ttlMs: 600_000 });
    await memory.register(instance('orders', 'o4', 'draining'), { ttlMs: 600_000 });
    const r = resolver({ watch: false });
    await r.resolve('orders');

    expect(r.status('orders')?.counts).toEqual({ passing: 1, warning: 1, critical: 1, draining: 1 });
    expect(r.status('orders')?.instances.map((i) => i.id)).toEqual(['o1']);
  });
});
