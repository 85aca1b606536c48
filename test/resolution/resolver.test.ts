import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  InvalidArgumentError,
  MemoryBackend,
  ServiceUnavailableError,
  createInstance,
  createResolver,
  random,
  type CallOutcome,
  type InstanceStatus,
  type Resolver,
  type ResolverOptions,
  type ServiceInstance,
  type Strategy,
} from '../../src/index.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { recordingLogger } from '../helpers/recording-logger.js';

let memory: MemoryBackend;
let faulty: FaultyBackend;
const open: Resolver[] = [];

function instance(id: string, status: InstanceStatus = 'passing', extra: Partial<ServiceInstance> = {}): ServiceInstance {
  return createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8000 + Number(id.replace(/\D/g, '') || 0), status, ...extra }, Date.now());
}

async function register(...instances: ServiceInstance[]): Promise<void> {
  for (const i of instances) await memory.register(i, { ttlMs: 600_000 });
}

function resolver(options: Partial<ResolverOptions> = {}): Resolver {
  const created = createResolver({ backend: faulty, envFallback: { env: {} }, ...options });
  open.push(created);
  return created;
}

/** Settles promises that wait on fake timers. */
async function settle<T>(promise: Promise<T>, advanceMs = 10_000): Promise<T> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await vi.advanceTimersByTimeAsync(advanceMs);
  const result = await outcome;
  if ('error' in result) throw result.error;
  return result.value;
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

describe('picking', () => {
  it('spreads calls over passing instances and never picks draining or critical ones', async () => {
    await register(instance('a1'), instance('a2'), instance('a3'), instance('d4', 'draining'), instance('c5', 'critical'));
    const r = resolver();
    const picked = new Map<string, number>();
    for (let n = 0; n < 30; n++) {
      const { id } = await r.resolve('orders');
      picked.set(id, (picked.get(id) ?? 0) + 1);
    }
    expect(Object.fromEntries(picked)).toEqual({ a1: 10, a2: 10, a3: 10 });
    expect((await r.resolveAll('orders')).map((i) => i.id).sort()).toEqual(['a1', 'a2', 'a3']);
  });

  it('uses warning instances only when no instance passes, by default', async () => {
    await register(instance('p1'), instance('w2', 'warning'));
    const r = resolver({ watch: true });
    expect((await r.resolveAll('orders')).map((i) => i.id)).toEqual(['p1']);
    await memory.renew({ service: 'orders', id: 'p1' }, 'critical');
    await vi.waitFor(async () => expect((await r.resolveAll('orders')).map((i) => i.id)).toEqual(['w2']));
  });

  it('includes or excludes warning instances as configured', async () => {
    await register(instance('p1'), instance('w2', 'warning'));
    expect((await resolver({ warning: 'include' }).resolveAll('orders')).map((i) => i.id).sort()).toEqual(['p1', 'w2']);
    await memory.renew({ service: 'orders', id: 'p1' }, 'critical');
    await expect(resolver({ warning: 'exclude' }).resolve('orders')).rejects.toBeInstanceOf(ServiceUnavailableError);
  });

  it('uses the given strategy', async () => {
    await register(instance('a1'), instance('a2'));
    const r = resolver({ strategy: random({ random: () => 0.99 }) });
    expect((await r.resolve('orders')).id).toBe((await r.resolveAll('orders'))[1]?.id);
    expect((await r.resolve('orders')).id).toBe((await r.resolveAll('orders'))[1]?.id);
  });

  it('builds URLs, with IPv6 hosts in brackets and the path appended', async () => {
    await register(instance('a1', 'passing', { host: '::1', protocol: 'https' }));
    const r = resolver();
    await expect(r.resolveUrl('orders', '/api/v1/items')).resolves.toBe('https://[::1]:8001/api/v1/items');
    await expect(r.resolveUrl('orders', 'health')).resolves.toBe('https://[::1]:8001/health');
    await expect(r.resolveUrl('orders')).resolves.toBe('https://[::1]:8001');
  });
});

describe('strategy hooks', () => {
  it('pick() reports each call start and its outcome through the pick, once', async () => {
    await register(instance('a1'));
    const events: string[] = [];
    const strategy: Strategy = {
      name: 'recording',
      createPicker: (service, list) => {
        const first = list[0] as ServiceInstance;
        const picked = {
          instance: first,
          started: () => events.push(`start ${service} ${first.id}`),
          done: (outcome: CallOutcome) => events.push(`end ${service} ${first.id} ${outcome.ok} ${outcome.latencyMs}`),
        };
        return { pick: () => picked };
      },
    };
    const r = resolver({ strategy });
    await r.resolve('orders');
    expect(events, 'resolve() reports nothing').toEqual([]);
    const picked = await r.pick('orders');
    expect(picked.instance.id).toBe('a1');
    picked.done({ ok: false, latencyMs: 12 });
    picked.done({ ok: true, latencyMs: 99 });
    expect(events).toEqual(['start orders a1', 'end orders a1 false 12']);
  });

  it('avoids excluded instances while others remain', async () => {
    await register(instance('a1'), instance('a2'), instance('a3'));
    const r = resolver({ strategy: 'random', random: () => 0 });
    expect((await r.resolve('orders')).id).toBe('a1');
    expect((await r.resolve('orders', { exclude: new Set(['a1']) })).id).not.toBe('a1');
    expect((await r.resolve('orders', { exclude: new Set(['a1', 'a2']) })).id).toBe('a3');
    expect((await r.resolve('orders', { exclude: new Set(['a1', 'a2', 'a3']) })).id).toBe('a1');
  });

  it('rejects with the reason of a picker that answers no instance, never overriding it', async () => {
    await register(instance('a1'), instance('a2'));
    const r = resolver({ strategy: { name: 'refuses', createPicker: () => ({ pick: () => ({ reason: 'closed for lunch' }) }) } });
    for (const call of [() => r.resolve('orders'), () => r.resolve('orders'), () => r.pick('orders', { key: 'k' })]) {
      const error = (await call().catch((e: unknown) => e)) as ServiceUnavailableError;
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      expect(error.attempts).toEqual([{ tier: 'balancer', reason: 'closed for lunch' }]);
    }
    expect(r.resolveCounts()).toEqual([expect.objectContaining({ service: 'orders', unavailable: 3 })]);
  });

  it('rejects with the error a picker gives with its "none"', async () => {
    await register(instance('a1'));
    const own = new ServiceUnavailableError('orders', [{ tier: 'balancer', reason: 'all ejected' }]);
    const r = resolver({ strategy: { name: 'ejects', createPicker: () => ({ pick: () => ({ reason: 'all ejected', error: own }) }) } });
    await expect(r.resolve('orders')).rejects.toBe(own);
  });

  it('reports a picker that answers neither an instance nor a reason as unavailable', async () => {
    await register(instance('a1'), instance('a2'));
    const r = resolver({ strategy: { name: 'refuses', createPicker: () => ({ pick: () => undefined as never }) } });
    const error = (await r.resolve('orders').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error.attempts).toEqual([{ tier: 'balancer', reason: 'strategy refuses picked none of 2 eligible instance(s)' }]);
  });

  it('never falls back to an instance the strategy did not offer when avoiding exclusions', async () => {
    await register(instance('a1'), instance('a2'));
    const onlyA1: Strategy = { name: 'only-a1', createPicker: (_s, list) => ({ pick: () => ({ instance: list.find((i) => i.id === 'a1') as ServiceInstance }) }) };
    const r = resolver({ strategy: onlyA1 });
    expect((await r.resolve('orders', { exclude: new Set(['a1']) })).id).toBe('a1');
  });

  it('selects strategies by name and rejects unknown names', async () => {
    await register(instance('a1'), instance('a2'));
    expect(resolver({ strategy: 'random' })).toBeDefined();
    expect(() => createResolver({ backend: faulty, strategy: 'fastest' as never })).toThrow(/Invalid strategy: expected a Strategy or one of round-robin, random, weighted, least-outstanding, p2c, consistent-hash, got "fastest"/);
  });

  it('releases per-service strategy state on eviction and closes the strategy with the resolver', async () => {
    await register(instance('a1'), instance('b1', 'passing', { service: 'billing' }));
    const release = vi.fn();
    const close = vi.fn();
    const r = resolver({ maxServices: 1, strategy: { name: 's', createPicker: (_s, list) => ({ pick: () => ({ instance: list[0] as ServiceInstance }) }), release, close } });
    await r.resolve('orders');
    await r.resolve('billing');
    expect(release).toHaveBeenCalledWith('orders');
    await r.close();
    expect(close).toHaveBeenCalledTimes(1);
  });
});

describe('cache', () => {
  it('answers from cache within the TTL and asks the registry again after it', async () => {
    await register(instance('a1'));
    const r = resolver({ watch: false, cacheTtlMs: 5_000 });
    await r.resolve('orders');
    await r.resolve('orders');
    expect(faulty.calls.instances).toBe(1);
    await vi.advanceTimersByTimeAsync(5_001);
    await r.resolve('orders');
    expect(faulty.calls.instances).toBe(2);
    expect(r.stats()).toMatchObject({ hits: 1, registryFetches: 2 });
  });

  it('makes one registry call for concurrent resolves of a cold service', async () => {
    await register(instance('a1'), instance('a2'));
    faulty.slow(50);
    const r = resolver();
    const answers = await settle(Promise.all(Array.from({ length: 50 }, () => r.resolve('orders'))), 100);
    expect(answers).toHaveLength(50);
    expect(faulty.calls.instances).toBe(1);
  });

  it('keeps the cache current through the watch, without asking the registry again', async () => {
    await register(instance('a1'), instance('a2'));
    const r = resolver({ cacheTtlMs: 1_000 });
    expect(await r.resolveAll('orders')).toHaveLength(2);
    await vi.waitFor(() => expect(r.status('orders')?.watching).toBe(true));
    await memory.renew({ service: 'orders', id: 'a2' }, 'draining');
    await vi.waitFor(async () => expect((await r.resolveAll('orders')).map((i) => i.id)).toEqual(['a1']));
    await vi.advanceTimersByTimeAsync(60_000);
    await r.resolve('orders');
    expect(faulty.calls.instances).toBe(1);
    expect(faulty.calls.watch).toBe(1);
  });

  it('ages a watched answer again once the watch breaks', async () => {
    await register(instance('a1'));
    const r = resolver({ cacheTtlMs: 1_000 });
    await r.resolve('orders');
    await vi.waitFor(() => expect(r.status('orders')?.watching).toBe(true));
    faulty.fail();
    expect(r.status('orders')?.watching).toBe(false);
    await vi.advanceTimersByTimeAsync(1_001);
    expect(r.status('orders')?.fresh).toBe(false);
  });

  it('stops the watch of a service evicted from the cache', async () => {
    await register(instance('a1'), instance('b1', 'passing', { service: 'billing' }));
    const r = resolver({ maxServices: 1 });
    await r.resolve('orders');
    expect(memory.activeWatches).toBe(1);
    await r.resolve('billing');
    expect(memory.activeWatches).toBe(1);
    expect(r.status('orders')).toBeUndefined();
  });

  it('invalidate() forgets a service so the next call asks the registry', async () => {
    await register(instance('a1'));
    const r = resolver({ watch: false });
    await r.resolve('orders');
    r.invalidate('orders');
    await r.resolve('orders');
    expect(faulty.calls.instances).toBe(2);
  });
});

describe('degradation', () => {
  it('serves stale answers while the registry fails, then recovers; one log line each way', async () => {
    await register(instance('a1'), instance('a2'));
    const logger = recordingLogger();
    const r = resolver({ watch: false, cacheTtlMs: 1_000, logger });
    const degraded = vi.fn();
    const recovered = vi.fn();
    r.on('degraded', degraded);
    r.on('recovered', recovered);
    await r.resolve('orders');
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_001);
    for (let n = 0; n < 20; n++) expect(['a1', 'a2']).toContain((await r.resolve('orders')).id);
    await vi.advanceTimersByTimeAsync(3_000);
    for (let n = 0; n < 20; n++) await r.resolve('orders');
    expect(r.health).toBe('degraded');
    expect(r.status('orders')).toMatchObject({ source: 'stale' });
    expect(degraded).toHaveBeenCalledTimes(1);
    expect(degraded.mock.calls[0]?.[0]).toMatchObject({ service: 'orders', source: 'stale' });
    expect(logger.at('warn').filter((l) => l.fields.service === 'orders')).toHaveLength(1);

    faulty.heal();
    await vi.advanceTimersByTimeAsync(1_001);
    // Answered from stale at once; the background call it starts brings the registry's answer.
    expect(r.status('orders')).toMatchObject({ source: 'stale' });
    await r.resolve('orders');
    await vi.waitFor(() => expect(r.health).toBe('healthy'));
    expect(r.status('orders')).toMatchObject({ source: 'cache' });
    expect(recovered).toHaveBeenCalledTimes(1);
    expect(logger.at('info').filter((l) => l.fields.service === 'orders')).toHaveLength(1);
  });

  it('retries the registry at most once per degradedRetryMs while serving stale', async () => {
    await register(instance('a1'));
    const r = resolver({ watch: false, cacheTtlMs: 1_000, degradedRetryMs: 1_000, breakerThreshold: 1_000 });
    await r.resolve('orders');
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_001);
    const before = faulty.calls.instances;
    for (let second = 0; second < 10; second++) {
      for (let n = 0; n < 100; n++) await r.resolve('orders');
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(faulty.calls.instances - before).toBeLessThanOrEqual(11);
    expect(faulty.calls.instances - before).toBeGreaterThanOrEqual(5);
  });

  it('falls back to the environment after maxStaleMs, then names every tier when all fail', async () => {
    await register(instance('a1'));
    const env: Record<string, string | undefined> = { ORDERS_URL: 'http://10.9.9.9:7000, https://orders.internal' };
    const r = resolver({ watch: false, cacheTtlMs: 1_000, maxStaleMs: 10_000, envFallback: { env } });
    const degraded = vi.fn();
    r.on('degraded', degraded);
    await r.resolve('orders');
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_001);
    expect((await r.resolve('orders')).id).toBe('a1');
    await vi.advanceTimersByTimeAsync(10_000);
    const fromEnv = await Promise.all([r.resolveUrl('orders'), r.resolveUrl('orders')]);
    expect(fromEnv.sort()).toEqual(['http://10.9.9.9:7000', 'https://orders.internal:443']);
    expect(degraded.mock.calls.map(([event]) => (event as { source: string }).source)).toEqual(['stale', 'env']);
    expect(r.status('orders')?.source).toBe('env');

    delete env.ORDERS_URL;
    await vi.advanceTimersByTimeAsync(1_001);
    const error = await r.resolve('orders').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    const attempts = (error as ServiceUnavailableError).attempts;
    expect(attempts.map((a) => a.tier)).toEqual(['registry', 'stale', 'env']);
    expect(attempts[0]?.reason).toContain('injected fault');
    expect(attempts[1]?.reason).toContain('no earlier registry answer');
    expect(attempts[2]?.reason).toBe('ORDERS_URL is not set');
    expect((error as ServiceUnavailableError).code).toBe('SERVICE_UNAVAILABLE');
    expect(r.stats()).toMatchObject({ staleFallbacks: 1, envFallbacks: 1, unavailable: 1 });
  });

  it('explains a stale answer that is too old', async () => {
    await register(instance('a1'));
    const r = resolver({ watch: false, cacheTtlMs: 1_000, maxStaleMs: 2_000 });
    await r.resolve('orders');
    faulty.fail();
    await vi.advanceTimersByTimeAsync(5_000);
    const error = (await r.resolve('orders').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(error.attempts[1]?.reason).toBe('the cached answer was last confirmed by the registry 5000 ms ago, over maxStaleMs (2000)');
  });

  it('reads IP_INTEL_URL for ip-intel, a custom variable when configured, and nothing when disabled', async () => {
    faulty.fail();
    const env = { IP_INTEL_URL: 'http://127.0.0.1:9100', GEO: 'http://127.0.0.1:9200' };
    await expect(resolver({ envFallback: { env } }).resolveUrl('ip-intel')).resolves.toBe('http://127.0.0.1:9100');
    const custom = resolver({ envFallback: { env, variable: () => 'GEO' } });
    await expect(custom.resolveUrl('ip-intel')).resolves.toBe('http://127.0.0.1:9200');
    const off = resolver({ envFallback: false });
    const error = (await off.resolve('ip-intel').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(error.attempts.at(-1)).toEqual({ tier: 'env', reason: 'disabled (envFallback: false)' });
  });

  it('treats an unusable environment value as a failed tier, saying why', async () => {
    faulty.fail();
    const r = resolver({ envFallback: { env: { ORDERS_URL: 'http://ok:80,not a url' } } });
    const error = (await r.resolve('orders').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(error.attempts.at(-1)?.reason).toMatch(/ORDERS_URL entry 2 \("not a url"\) is not usable: expected an absolute URL/);
    const withPath = resolver({ envFallback: { env: { ORDERS_URL: 'http://ok:80/base' } } });
    const pathError = (await withPath.resolve('orders').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(pathError.attempts.at(-1)?.reason).toMatch(/expected no path/);
  });

  it('gives up on a hanging registry after registryTimeoutMs and serves stale', async () => {
    await register(instance('a1'));
    const r = resolver({ watch: false, cacheTtlMs: 1_000, registryTimeoutMs: 300 });
    await r.resolve('orders');
    faulty.hang();
    await vi.advanceTimersByTimeAsync(1_001);
    const started = Date.now();
    const answer = r.resolve('orders');
    await vi.advanceTimersByTimeAsync(300);
    expect((await answer).id).toBe('a1');
    expect(Date.now() - started).toBeLessThanOrEqual(300);
    faulty.heal();
  });

  it('waits on many services at once without piling listeners on a shared AbortSignal', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): number => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const services = Array.from({ length: 25 }, (_, n) => `svc-${n}`);
      for (const [n, service] of services.entries()) await memory.register(instance(`a${n}`, 'passing', { service }), { ttlMs: 600_000 });
      const r = resolver({ watch: false, registryTimeoutMs: 300, breakerThreshold: 100 });
      expect((await Promise.all(services.map((service) => r.resolve(service)))).map((i) => i.service)).toEqual(services);
      // And as many calls hanging together each time out on their own.
      faulty.hang();
      const hanging = Promise.all(services.map((service) => r.resolve(service.replace('svc', 'other')).catch((e: unknown) => e)));
      await vi.advanceTimersByTimeAsync(300);
      expect((await hanging).map((error) => (error as ServiceUnavailableError).attempts[0]?.reason)).toEqual(
        services.map(() => 'no answer within registryTimeoutMs (300 ms)'),
      );
      faulty.heal();
      await new Promise((resolve) => process.nextTick(resolve));
      expect(warnings.map((warning) => warning.name)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('takes an empty registry answer as final: no stale instance, the environment or an error', async () => {
    await register(instance('a1'));
    const r = resolver({ watch: false, cacheTtlMs: 1_000 });
    await r.resolve('orders');
    await memory.renew({ service: 'orders', id: 'a1' }, 'draining');
    await vi.advanceTimersByTimeAsync(1_001);
    const error = (await r.resolve('orders').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(error.attempts.map((a) => [a.tier, a.reason])).toEqual([
      ['registry', 'the registry listed 1 instance(s), none passing or warning'],
      ['stale', 'not used: the registry answered'],
      ['env', 'ORDERS_URL is not set'],
    ]);
    const second = (await r.resolve('orders').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(second.attempts[0]?.tier).toBe('cache');
    expect(faulty.calls.instances).toBe(2);
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive registry failures and closes after recovery', async () => {
    const r = resolver({ watch: false, breakerThreshold: 3, breakerHalfOpenAfterMs: 5_000, degradedRetryMs: 1 });
    const states: string[] = [];
    r.on('breaker', ({ state }) => states.push(state));
    faulty.fail();
    for (let n = 0; n < 3; n++) await expect(r.resolve('orders')).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(r.stats().breaker).toBe('open');
    const callsWhenOpen = faulty.calls.instances;
    const error = (await r.resolve('orders').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(error.attempts[0]?.reason).toBe('circuit breaker open after repeated registry failures');
    expect(faulty.calls.instances).toBe(callsWhenOpen);

    faulty.heal();
    await register(instance('a1'));
    await vi.advanceTimersByTimeAsync(5_000);
    expect((await r.resolve('orders')).id).toBe('a1');
    expect(r.stats().breaker).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });
});

describe('status and stats', () => {
  it('reports where each answer comes from and how old it is', async () => {
    await register(instance('a1'));
    const r = resolver({ watch: false, cacheTtlMs: 5_000 });
    expect(r.status('orders')).toBeUndefined();
    await r.resolve('orders');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(r.status('orders')).toMatchObject({ service: 'orders', source: 'cache', fresh: true, watching: false, ageMs: 2_000, listed: 1 });
    expect(r.statuses().map((s) => s.service)).toEqual(['orders']);
  });
});

describe('input and lifecycle', () => {
  it('rejects invalid service names and options with typed errors', async () => {
    const r = resolver();
    for (const bad of ['', 'a b', 'orders*', '../x', 'x'.repeat(129)]) {
      await expect(r.resolve(bad)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(r.resolveUrl('orders', 5 as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'path' });
    expect(() => createResolver({ backend: undefined as never })).toThrow(InvalidArgumentError);
    expect(() => createResolver({ backend: faulty, cacheTtlMs: -1 })).toThrow(/Invalid cacheTtlMs: expected an integer number of milliseconds from 1/);
    expect(() => createResolver({ backend: faulty, warning: 'maybe' as never })).toThrow(/Invalid warning/);
    expect(() => createResolver({ backend: faulty, breakerThreshold: 0 })).toThrow(/Invalid breakerThreshold/);
  });

  it('close() stops watches, leaves no timers and rejects later calls', async () => {
    await register(instance('a1'));
    const timersBefore = vi.getTimerCount();
    const r = resolver();
    const listener = vi.fn();
    r.on('degraded', listener);
    await r.resolve('orders');
    expect(memory.activeWatches).toBe(1);
    await r.close();
    await r.close();
    expect(memory.activeWatches).toBe(0);
    expect(r.listenerCount('degraded')).toBe(0);
    await vi.advanceTimersByTimeAsync(100);
    expect(vi.getTimerCount()).toBe(timersBefore);
    await expect(r.resolve('orders')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('supports await using', async () => {
    await register(instance('a1'));
    {
      await using r = createResolver({ backend: memory });
      await r.resolve('orders');
      expect(memory.activeWatches).toBe(1);
    }
    expect(memory.activeWatches).toBe(0);
  });
});

describe('status views', () => {
  const names = Array.from({ length: 1_000 }, (_, n) => `svc-${n}`);

  async function cacheAll(r: Resolver, services: readonly string[]): Promise<void> {
    for (const service of services) await r.resolve(service);
  }

  beforeEach(async () => {
    for (const [n, service] of names.entries()) {
      await memory.register(createInstance({ id: `${service}-1`, service, host: '10.0.0.1', port: 1_000 + n }, Date.now()), { ttlMs: 600_000 });
    }
  });

  it('lists all 1,000 cached services, most recent first, those past cacheTtlMs as not fresh', async () => {
    const r = resolver({ watch: false, cacheTtlMs: 5_000, maxServices: 1_000, random: () => 0 });
    await cacheAll(r, names.slice(0, 400));
    await vi.advanceTimersByTimeAsync(6_000);
    await cacheAll(r, names.slice(400));
    const statuses = r.statuses();
    expect(statuses.map((s) => s.service)).toEqual([...names].reverse());
    expect(statuses.filter((s) => !s.fresh).map((s) => s.service)).toEqual(names.slice(0, 400).reverse());
    expect(statuses.at(-1)).toMatchObject({ service: 'svc-0', source: 'cache', fresh: false, ageMs: 6_000 });
    expect(statuses[0]).toMatchObject({ service: 'svc-999', fresh: true, ageMs: 0 });
  });

  it('never changes what is evicted next', async () => {
    const r = resolver({ watch: false, maxServices: 3 });
    await cacheAll(r, ['svc-0', 'svc-1', 'svc-2']);
    for (let n = 0; n < 10; n++) {
      expect(r.status('svc-0')?.service).toBe('svc-0');
      expect(r.statuses()).toHaveLength(3);
    }
    await r.resolve('svc-3');
    expect(r.statuses().map((s) => s.service)).toEqual(['svc-3', 'svc-2', 'svc-1']);
    expect(r.status('svc-0')).toBeUndefined();
  });

  it('reports a watched answer as confirmed now, and the stale age from when its watch broke', async () => {
    const r = resolver({ cacheTtlMs: 1_000 });
    await r.resolve('svc-1');
    await vi.waitFor(() => expect(r.status('svc-1')?.watching).toBe(true));
    const deliveredAt = r.status('svc-1')?.updatedAt;
    await vi.advanceTimersByTimeAsync(300_000);
    expect(r.status('svc-1')).toMatchObject({ fresh: true, updatedAt: deliveredAt, confirmedAt: Date.now(), ageMs: 0 });
    faulty.fail();
    const brokeAt = Date.now();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(r.status('svc-1')).toMatchObject({ watching: false, fresh: false, confirmedAt: brokeAt, ageMs: 2_000 });
  });
});

describe('stale age', () => {
  it('counts from the moment the watch last confirmed the answer, not from the first fetch', async () => {
    await register(instance('a1'));
    const r = resolver({ cacheTtlMs: 1_000, maxStaleMs: 60_000 });
    await r.resolve('orders');
    await vi.waitFor(() => expect(r.status('orders')?.watching).toBe(true));
    await vi.advanceTimersByTimeAsync(300_000);
    faulty.fail();
    await vi.advanceTimersByTimeAsync(59_000);
    expect((await r.resolve('orders')).id).toBe('a1');
    expect(r.status('orders')).toMatchObject({ source: 'stale', ageMs: 59_000 });
    await vi.advanceTimersByTimeAsync(1_001);
    const error = (await r.resolve('orders').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error.attempts.find((a) => a.tier === 'stale')?.reason).toMatch(/last confirmed by the registry 6000\d ms ago/);
  });

  it('counts from the last watch delivery, even of an unchanged list', async () => {
    await register(instance('a1'));
    const r = resolver({ cacheTtlMs: 1_000, maxStaleMs: 10_000 });
    await r.resolve('orders');
    await vi.waitFor(() => expect(r.status('orders')?.watching).toBe(true));
    await vi.advanceTimersByTimeAsync(60_000);
    faulty.fail();
    await vi.advanceTimersByTimeAsync(8_000);
    faulty.heal();
    await vi.advanceTimersByTimeAsync(0);
    const confirmedAt = Date.now();
    faulty.fail();
    await vi.advanceTimersByTimeAsync(9_000);
    expect(await r.resolve('orders')).toMatchObject({ id: 'a1' });
    expect(r.status('orders')).toMatchObject({ source: 'stale', confirmedAt });
  });
});

describe('degraded callers never wait', () => {
  /** Whether `promise` settles while no fake time passes. */
  async function settlesAtOnce(promise: Promise<unknown>): Promise<boolean> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    await vi.advanceTimersByTimeAsync(0);
    return settled;
  }

  it('answers from stale at once while the registry hangs, with one background call per retry', async () => {
    await register(instance('a1'), instance('b1', 'passing', { service: 'billing' }));
    const r = resolver({ watch: false, cacheTtlMs: 1_000, registryTimeoutMs: 2_000, degradedRetryMs: 1_000, breakerThreshold: 100, random: () => 0 });
    await r.resolve('orders');
    await r.resolve('billing');
    faulty.hang();
    await vi.advanceTimersByTimeAsync(1_001);
    // The first caller to meet the hang waits registryTimeoutMs once: then the registry is known failing.
    await settle(r.resolve('orders'), 2_000);
    expect(r.status('orders')?.source).toBe('stale');
    for (let round = 0; round < 5; round++) {
      const before = faulty.calls.instances;
      const answers = Promise.all([...Array.from({ length: 20 }, () => r.resolve('orders')), r.resolve('billing'), r.resolveAll('orders')]);
      expect(await settlesAtOnce(answers)).toBe(true);
      expect(faulty.calls.instances - before).toBeLessThanOrEqual(2);
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(r.status('billing')?.source).toBe('stale');
    faulty.heal();
    await vi.advanceTimersByTimeAsync(3_000);
    await r.resolve('orders');
    await vi.waitFor(() => expect(r.health).toBe('healthy'));
  });

  it('lets a registry that fails fast for one service degrade only that service', async () => {
    await register(instance('a1'), instance('b1', 'passing', { service: 'billing' }));
    const backend = { ...faulty, kind: 'picky', watch: undefined, instances: (service: string) => (service === 'billing' && failBilling ? Promise.reject(new Error('ACL: denied')) : memory.instances(service)) };
    let failBilling = false;
    const r = createResolver({ backend: backend as never, cacheTtlMs: 1_000, envFallback: false, random: () => 0 });
    open.push(r);
    const degraded = vi.fn();
    r.on('degraded', degraded);
    await r.resolve('orders');
    await r.resolve('billing');
    failBilling = true;
    await vi.advanceTimersByTimeAsync(1_001);
    await r.resolve('billing');
    await r.resolve('orders');
    expect(r.status('orders')).toMatchObject({ source: 'cache', fresh: true });
    expect(r.status('billing')).toMatchObject({ source: 'stale' });
    expect(degraded.mock.calls.map(([event]) => (event as { service: string }).service)).toEqual(['billing']);
  });

  it('answers from the environment at once once that is where the service is served from', async () => {
    faulty.hang();
    const r = resolver({ watch: false, registryTimeoutMs: 2_000, envFallback: { env: { ORDERS_URL: 'http://10.9.9.9:7000' } } });
    await settle(r.resolve('orders'), 2_000);
    expect(r.status('orders')?.source).toBe('env');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await settlesAtOnce(r.resolveUrl('orders', '/x'))).toBe(true);
    faulty.heal();
  });
});

describe('circuit breaker after recovery', () => {
  it('reports closed once a watch delivery shows the registry answers again', async () => {
    await register(instance('a1'));
    const r = resolver({ breakerThreshold: 2, breakerHalfOpenAfterMs: 60_000 });
    const states: string[] = [];
    r.on('breaker', ({ state }) => states.push(state));
    await r.resolve('orders');
    faulty.fail();
    await expect(r.resolve('billing')).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(r.resolve('inventory')).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(r.stats().breaker).toBe('open');
    faulty.heal();
    await vi.advanceTimersByTimeAsync(0);
    expect(r.stats().breaker).toBe('closed');
    expect(states).toEqual(['open', 'closed']);
    await register(instance('b1', 'passing', { service: 'billing' }));
    await vi.advanceTimersByTimeAsync(1_000);
    expect((await r.resolve('billing')).id).toBe('b1');
    expect(r.stats().breaker).toBe('closed');
  });

  it('needs as many failures as before to open again', async () => {
    await register(instance('a1'));
    const r = resolver({ breakerThreshold: 2, breakerHalfOpenAfterMs: 60_000 });
    await r.resolve('orders');
    faulty.fail();
    await expect(r.resolve('billing')).rejects.toThrow();
    await expect(r.resolve('inventory')).rejects.toThrow();
    faulty.heal();
    await vi.advanceTimersByTimeAsync(0);
    faulty.fail();
    await expect(r.resolve('payments')).rejects.toThrow();
    expect(r.stats().breaker).toBe('closed');
  });
});

describe('typed errors for every bad input', () => {
  it('rejects resolve options that are not an options object with a Set of ids to exclude', async () => {
    await register(instance('a1'));
    const r = resolver();
    await r.resolve('orders');
    for (const [options, field] of [
      [{ exclude: ['a1'] }, 'options.exclude'],
      [{ exclude: null }, 'options.exclude'],
      [{ exclude: 'a1' }, 'options.exclude'],
      [{ key: 42 }, 'options.key'],
      [null, 'options'],
      ['a1', 'options'],
    ] as const) {
      await expect(r.resolve('orders', options as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field });
      await expect(r.pick('orders', options as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field });
      await expect(r.resolveUrl('orders', '/', options as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field });
    }
    expect((await r.resolve('orders', { exclude: new Set(['zz']), key: 'user-1' })).id).toBe('a1');
  });

  it('rejects paths that carry control characters or raw whitespace, naming the character', async () => {
    await register(instance('a1'));
    const r = resolver();
    for (const path of ['\r\nHost: evil', '/a\nb', '/a b', '/a\tb', '/\u0000', '/\u007f', '/a\u2028b']) {
      await expect(r.resolveUrl('orders', path)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'path' });
    }
    const error = (await r.resolveUrl('orders', '/x\r\nHost: evil').catch((e: unknown) => e)) as InvalidArgumentError;
    expect(error.problem).toBe('character U+000D at position 3 is not allowed');
    expect(error.message).not.toMatch(/[\r\n]/);
    await expect(r.resolveUrl('orders', '/a%20b?q=%0D#top')).resolves.toBe('http://10.0.0.1:8001/a%20b?q=%0D#top');
    await expect(r.resolveUrl('orders', '?page=2')).resolves.toBe('http://10.0.0.1:8001/?page=2');
  });

  it('rejects bad options at construction, naming the option', () => {
    const bad: Array<[Partial<Record<keyof ResolverOptions, unknown>>, RegExp]> = [
      [{ maxServices: 1e8 }, /Invalid maxServices: expected an integer from 1 to 1000000, got 100000000/],
      [{ maxServices: 2 ** 32 }, /Invalid maxServices/],
      [{ maxServices: 0.5 }, /Invalid maxServices/],
      [{ envFallback: { variable: 'ORDERS_URL' } }, /Invalid envFallback\.variable: expected a function/],
      [{ envFallback: { env: 'ORDERS_URL=http://x' } }, /Invalid envFallback\.env/],
      [{ envFallback: { env: null } }, /Invalid envFallback\.env/],
      [{ envFallback: 'yes' }, /Invalid envFallback/],
      [{ clock: 'x' }, /Invalid clock: expected a Clock/],
      [{ clock: { now: () => 'soon' } }, /Invalid clock/],
      [{ watch: 'str' }, /Invalid watch: expected true or false, got "str"/],
      [{ watch: null }, /Invalid watch/],
      [{ cacheTtlMs: null }, /Invalid cacheTtlMs/],
      [{ random: 0.5 }, /Invalid random/],
      [{ logger: 'console' }, /Invalid logger/],
      [{ resetGraceMs: -1 }, /Invalid resetGraceMs/],
      [{ strategy: '__proto__' }, /Invalid strategy: expected a Strategy or one of/],
      [{ strategy: 'toString' }, /Invalid strategy/],
      [{ strategy: 5 }, /Invalid strategy/],
      [{ strategy: null }, /Invalid strategy/],
      [{ warning: 'maybe' }, /Invalid warning/],
      [{ backend: { ...new MemoryBackend(), instances: () => Promise.resolve([]), kind: 'x', watch: 'yes' } }, /Invalid backend\.watch/],
      [{ backend: { instances: () => Promise.resolve([]), kind: 'x', onReset: 1 } }, /Invalid backend\.onReset/],
    ];
    for (const [options, message] of bad) {
      expect(() => createResolver({ backend: faulty, ...options } as ResolverOptions)).toThrow(message);
      expect(() => createResolver({ backend: faulty, ...options } as ResolverOptions)).toThrow(InvalidArgumentError);
    }
    expect(() => createResolver(null as never)).toThrow(InvalidArgumentError);
    expect(resolver({ maxServices: 1_000_000 })).toBeDefined();
  });

  it('rejects invalid service names in status() and invalidate()', () => {
    const r = resolver();
    for (const bad of [5, '', 'a b', null]) {
      expect(() => r.status(bad as never)).toThrow(InvalidArgumentError);
      expect(() => r.invalidate(bad as never)).toThrow(InvalidArgumentError);
    }
    expect(r.status('Orders.api_v2')).toBeUndefined();
  });

  it('fails the registry tier, not the process, when a backend answers something other than a list', async () => {
    const r = createResolver({ backend: { ...faulty, kind: 'broken', instances: () => Promise.resolve('nope') } as never, envFallback: false });
    open.push(r);
    const error = (await r.resolve('orders').catch((e: unknown) => e)) as ServiceUnavailableError;
    expect(error.attempts[0]).toEqual({ tier: 'registry', reason: 'broken registry: instances failed: expected an array of instances, got "nope"' });
  });
});

describe('served from the environment while the registry lists nobody', () => {
  it.each([false, true])('stays degraded once, without recovered/degraded on every retry (watch: %s)', async (watch) => {
    await register(instance('orders-1', 'critical'));
    const r = resolver({ watch, degradedRetryMs: 100, cacheTtlMs: 100, envFallback: { env: { ORDERS_URL: 'http://127.0.0.1:9000' } } });
    const events: string[] = [];
    r.on('degraded', ({ source }) => events.push(`degraded:${source}`));
    r.on('recovered', () => events.push('recovered'));
    for (let n = 0; n < 20; n++) {
      expect((await r.resolve('orders')).port).toBe(9000);
      await vi.advanceTimersByTimeAsync(50);
    }
    expect(events).toEqual(['degraded:env']);
    expect(r.health).toBe('degraded');

    // The registry lists an eligible instance again: recovered, once.
    await register(instance('orders-1', 'passing'));
    await vi.waitFor(async () => {
      await vi.advanceTimersByTimeAsync(50);
      expect((await r.resolve('orders')).port).toBe(8001);
    });
    expect(events).toEqual(['degraded:env', 'recovered']);
    expect(r.health).toBe('healthy');
  });
});
