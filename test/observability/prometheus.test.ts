import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  InvalidArgumentError,
  MemoryBackend,
  autoRegister,
  createInstance,
  createResolver,
  lifespan,
  outlierEjection,
  roundRobin,
  type Registration,
  type Resolver,
} from '../../src/index.js';
import { createDiscoveryFetch } from '../../src/http/index.js';
import { registerRollcallMetrics, type RollcallPrometheusMetrics } from '../../src/prometheus/index.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { scrape } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.useRealTimers();
});

function collectors(registry: Registry, options: Parameters<typeof registerRollcallMetrics>[1]): RollcallPrometheusMetrics {
  const metrics = registerRollcallMetrics(registry, options);
  cleanups.push(() => metrics.unregister());
  return metrics;
}

function track<T extends { close(): Promise<void> } | { stop(): Promise<void> }>(thing: T): T {
  cleanups.push(() => ('close' in thing ? thing.close() : thing.stop()));
  return thing;
}

describe('registerRollcallMetrics: state read at scrape time', () => {
  it('reports resolves by source, cached instances by status, degraded services and the breaker after traffic and a registry outage', async () => {
    vi.useFakeTimers();
    const memory = track(new MemoryBackend());
    const faulty = new FaultyBackend(memory);
    for (const [id, status] of [['o1', 'passing'], ['o2', 'passing'], ['o3', 'critical']] as const) {
      await memory.register(createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8001, status }, Date.now()), { ttlMs: 600_000 });
    }
    const resolver = track(
      createResolver({ backend: faulty, watch: false, cacheTtlMs: 1_000, breakerThreshold: 2, envFallback: { env: { PAYMENTS_URL: 'http://10.9.9.9:80' } } }),
    );
    const registry = new Registry();
    collectors(registry, { resolver });

    await resolver.resolve('orders');
    for (let i = 0; i < 4; i++) await resolver.resolve('orders');
    await expect(resolver.resolve('ghost')).rejects.toThrow();
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_100);
    await resolver.resolve('orders');
    await resolver.resolve('payments');

    const scraped = await scrape(registry);
    expect(scraped.series('rollcall_resolves_total')).toEqual({
      'service=orders,source=cache': 4,
      'service=orders,source=registry': 1,
      'service=orders,source=stale': 1,
      'service=orders,source=env': 0,
      'service=orders,source=unavailable': 0,
      'service=ghost,source=cache': 0,
      'service=ghost,source=registry': 0,
      'service=ghost,source=stale': 0,
      'service=ghost,source=env': 0,
      'service=ghost,source=unavailable': 1,
      'service=payments,source=cache': 0,
      'service=payments,source=registry': 0,
      'service=payments,source=stale': 0,
      'service=payments,source=env': 1,
      'service=payments,source=unavailable': 0,
    });
    expect(scraped.value('rollcall_resolver_instances', { service: 'orders', status: 'passing' })).toBe(2);
    expect(scraped.value('rollcall_resolver_instances', { service: 'orders', status: 'critical' })).toBe(1);
    expect(scraped.value('rollcall_resolver_instances', { service: 'payments', status: 'passing' })).toBe(1);
    expect(scraped.series('rollcall_resolver_degraded_services')).toEqual({ 'source=stale': 1, 'source=env': 1 });
    expect(scraped.series('rollcall_registry_breaker_state')).toEqual({ 'state=closed': 0, 'state=open': 1, 'state=half-open': 0 });

    // Healed: the next resolve is answered stale at once while one background call succeeds.
    faulty.heal();
    await vi.advanceTimersByTimeAsync(6_000);
    await resolver.resolve('orders');
    await vi.advanceTimersByTimeAsync(10);
    await resolver.resolve('orders');
    const healed = await scrape(registry);
    expect(healed.series('rollcall_registry_breaker_state')).toEqual({ 'state=closed': 1, 'state=open': 0, 'state=half-open': 0 });
    expect(healed.series('rollcall_resolver_degraded_services')).toEqual({ 'source=stale': 0, 'source=env': 1 });
    expect(healed.value('rollcall_resolves_total', { service: 'orders', source: 'stale' })).toBe(2);
    expect(healed.value('rollcall_resolves_total', { service: 'orders', source: 'cache' })).toBe(5);
  });

  it('reports the registration state and heartbeats ok, lost and failed', async () => {
    vi.useFakeTimers();
    const memory = track(new MemoryBackend());
    const faulty = new FaultyBackend(memory);
    const registration = track(await autoRegister({ backend: faulty, service: 'orders', host: '127.0.0.1', port: 8080, ttlMs: 3_000, heartbeatIntervalMs: 1_000, random: () => 0 }));
    const registry = new Registry();
    collectors(registry, { registration, backend: memory });

    await vi.advanceTimersByTimeAsync(2_000);
    await faulty.wipe();
    await vi.advanceTimersByTimeAsync(1_000);
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_000);

    const scraped = await scrape(registry);
    expect(scraped.series('rollcall_heartbeats_total')).toEqual({ 'outcome=ok,service=orders': 2, 'outcome=lost,service=orders': 1, 'outcome=failed,service=orders': 1 });
    expect(scraped.series('rollcall_registration_state')).toEqual({
      'service=orders,state=starting': 0,
      'service=orders,state=registered': 0,
      'service=orders,state=standalone': 1,
      'service=orders,state=draining': 0,
      'service=orders,state=stopped': 0,
    });
    expect(scraped.value('rollcall_malformed_records_total', { backend: 'memory' })).toBe(0);
    expect(scraped.value('rollcall_watch_reconnects_total', { backend: 'memory' })).toBe(0);
  });

  it("reads a lifespan's parts at every scrape, its registration once the server listens", async () => {
    const memory = track(new MemoryBackend());
    const life = lifespan({ backend: memory, service: 'orders', host: '127.0.0.1', drainWaitMs: 0 });
    cleanups.push(() => life.shutdown());
    const registry = new Registry();
    collectors(registry, { lifespan: life });

    expect((await scrape(registry)).series('rollcall_registration_state')).toEqual({});
    await life.start({ port: 8080 });
    await life.resolver.resolve('orders');

    const scraped = await scrape(registry);
    expect(scraped.value('rollcall_registration_state', { service: 'orders', state: 'registered' })).toBe(1);
    expect(scraped.value('rollcall_resolves_total', { service: 'orders', source: 'registry' })).toBe(1);
    expect(scraped.value('rollcall_watches', { backend: 'memory' })).toBe(1);
  });

  it('sums the series of several resolvers', async () => {
    const memory = track(new MemoryBackend());
    await memory.register(createInstance({ id: 'o1', service: 'orders', host: '10.0.0.1', port: 8001 }, Date.now()), { ttlMs: 600_000 });
    const one = track(createResolver({ backend: memory }));
    const two = track(createResolver({ backend: memory }));
    const registry = new Registry();
    collectors(registry, { resolver: [one, two] });
    await one.resolve('orders');
    await two.resolve('orders');
    await two.resolve('orders');

    const scraped = await scrape(registry);
    expect(scraped.value('rollcall_resolves_total', { service: 'orders', source: 'registry' })).toBe(2);
    expect(scraped.value('rollcall_resolves_total', { service: 'orders', source: 'cache' })).toBe(1);
    expect(scraped.series('rollcall_registry_breaker_state')).toEqual({ 'state=closed': 2, 'state=open': 0, 'state=half-open': 0 });
  });
});

describe('registerRollcallMetrics: events', () => {
  async function upstream(status: number): Promise<{ server: Server; port: number }> {
    const server = createServer((_request, response) => response.writeHead(status).end('x'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    return { server, port: (server.address() as AddressInfo).port };
  }

  async function twoInstances(statuses: [number, number]): Promise<{ memory: MemoryBackend; ids: string[] }> {
    const memory = track(new MemoryBackend());
    const ids: string[] = [];
    for (const [n, status] of statuses.entries()) {
      const { port } = await upstream(status);
      const id = `orders-${n}`;
      ids.push(id);
      await memory.register(createInstance({ id, service: 'orders', host: '127.0.0.1', port }, Date.now()), { ttlMs: 600_000 });
    }
    return { memory, ids };
  }

  it('observes discovery-HTTP requests by service, client and outcome, and retries, with instance labels only when asked', async () => {
    const { memory } = await twoInstances([503, 200]);
    const resolver = track(createResolver({ backend: memory }));
    const registry = new Registry();
    collectors(registry, { resolver });
    const fetch = createDiscoveryFetch(resolver);

    for (let i = 0; i < 4; i++) expect((await fetch('http://orders/items')).status).toBe(200);

    const scraped = await scrape(registry);
    // Round robin: two calls start on the 503 instance and are retried on the other.
    expect(scraped.value('rollcall_http_request_duration_seconds_count', { service: 'orders', client: 'fetch', outcome: 'ok' })).toBe(4);
    expect(scraped.value('rollcall_http_request_duration_seconds_count', { service: 'orders', client: 'fetch', outcome: 'failure' })).toBe(2);
    expect(scraped.value('rollcall_http_retries_total', { service: 'orders', client: 'fetch', reason: 'status' })).toBe(2);
    expect(scraped.names).not.toContain('rollcall_instance_calls_total');
    expect(Object.keys(scraped.series('rollcall_http_request_duration_seconds_count')).some((labels) => labels.includes('instance='))).toBe(false);
  });

  it('with instanceLabels, labels requests by instance and exports per-instance figures', async () => {
    const { memory, ids } = await twoInstances([500, 200]);
    const resolver = track(createResolver({ backend: memory, strategy: roundRobin() }));
    const registry = new Registry();
    collectors(registry, { resolver, instanceLabels: true });
    const fetch = createDiscoveryFetch(resolver, { retry: false });

    for (let i = 0; i < 4; i++) await fetch('http://orders/items');

    const scraped = await scrape(registry);
    const [failing, healthy] = ids as [string, string];
    expect(scraped.value('rollcall_http_request_duration_seconds_count', { service: 'orders', client: 'fetch', outcome: 'failure', instance: failing })).toBe(2);
    expect(scraped.value('rollcall_http_request_duration_seconds_count', { service: 'orders', client: 'fetch', outcome: 'ok', instance: healthy })).toBe(2);
    expect(scraped.value('rollcall_instance_calls_total', { service: 'orders', instance: failing })).toBe(2);
    expect(scraped.value('rollcall_instance_failures_total', { service: 'orders', instance: failing })).toBe(2);
    expect(scraped.value('rollcall_instance_failures_total', { service: 'orders', instance: healthy })).toBe(0);
    expect(scraped.value('rollcall_instance_in_flight', { service: 'orders', instance: healthy })).toBe(0);
    expect(scraped.value('rollcall_instance_latency_seconds', { service: 'orders', instance: healthy })).toBeGreaterThan(0);
  });

  it('counts retries the budget refused', async () => {
    const { memory } = await twoInstances([503, 503]);
    const resolver = track(createResolver({ backend: memory }));
    const registry = new Registry();
    collectors(registry, { resolver });
    const fetch = createDiscoveryFetch(resolver, { retry: { budget: { ratio: 0, minPerSecond: 0.1, windowMs: 10_000 } } });

    for (let i = 0; i < 3; i++) expect((await fetch('http://orders/items')).status).toBe(503);

    const scraped = await scrape(registry);
    expect(scraped.value('rollcall_http_retries_total', { service: 'orders', client: 'fetch', reason: 'status' })).toBe(1);
    expect(scraped.value('rollcall_http_retry_budget_refusals_total', { service: 'orders', client: 'fetch' })).toBe(2);
  });

  it('counts outlier ejections by reason and shows ejected instances per service', async () => {
    const memory = track(new MemoryBackend());
    for (const id of ['o1', 'o2']) await memory.register(createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8001 }, Date.now()), { ttlMs: 600_000 });
    const resolver = track(createResolver({ backend: memory, strategy: outlierEjection({ consecutiveFailures: 2 }, roundRobin()) }));
    const registry = new Registry();
    collectors(registry, { resolver, instanceLabels: true });

    for (let i = 0; i < 4; i++) {
      const picked = await resolver.pick('orders');
      picked.done({ ok: picked.instance.id !== 'o1', latencyMs: 1 });
    }

    const scraped = await scrape(registry);
    expect(scraped.series('rollcall_outlier_ejections_total')).toEqual({ 'reason=consecutive-failures,service=orders': 1 });
    expect(scraped.value('rollcall_ejected_instances', { service: 'orders' })).toBe(1);
    expect(scraped.series('rollcall_instance_ejected')).toEqual({ 'instance=o1,service=orders': 1, 'instance=o2,service=orders': 0 });
  });
});

describe('registerRollcallMetrics: setup', () => {
  it('refuses what is not a registry, a second set on one registry, and parts of the wrong kind', () => {
    const registry = new Registry();
    expect(() => registerRollcallMetrics({} as Registry)).toThrow(InvalidArgumentError);
    collectors(registry, {});
    expect(() => registerRollcallMetrics(registry)).toThrow(/rollcall_resolves_total/);
    expect(() => registerRollcallMetrics(new Registry(), { resolver: {} as Resolver })).toThrow(/options\.resolver/);
    expect(() => registerRollcallMetrics(new Registry(), { registration: [{}] as unknown as Registration[] })).toThrow(/options\.registration\[0\]/);
    expect(() => registerRollcallMetrics(new Registry(), { instanceLabels: 'yes' as unknown as boolean })).toThrow(/instanceLabels/);
  });

  it('unregister() removes the metrics and stops observing; the registry takes a new set', async () => {
    const memory = track(new MemoryBackend());
    await memory.register(createInstance({ id: 'o1', service: 'orders', host: '10.0.0.1', port: 8001 }, Date.now()), { ttlMs: 600_000 });
    const resolver = track(createResolver({ backend: memory, strategy: outlierEjection({ consecutiveFailures: 1, maxEjectedPercent: 100 }, roundRobin()) }));
    const registry = new Registry();
    const first = registerRollcallMetrics(registry, { resolver });
    first.unregister();
    first.unregister();
    expect((await scrape(registry)).names).toEqual([]);

    const second = collectors(registry, { resolver });
    (await resolver.pick('orders')).done({ ok: false, latencyMs: 1 });
    expect((await scrape(registry)).value('rollcall_outlier_ejections_total', { service: 'orders', reason: 'consecutive-failures' })).toBe(1);
    expect(second.names).toContain('rollcall_registry_call_duration_seconds');
  });
});
