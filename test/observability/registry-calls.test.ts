/**
 * Registry calls that went to the network, as the `rollcall:registry:call` tracing channel and
 * the Prometheus histogram see them, on real Redis and on the Consul double; watch reconnections.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { serviceKeys } from '../../src/backends/redis/keys.js';
import { createInstance } from '../../src/index.js';
import { CHANNELS, type RegistryCallMessage } from '../../src/observability/channels.js';
import { registerRollcallMetrics } from '../../src/prometheus/index.js';
import { instance as consulInstance, useConsulHarness } from '../helpers/consul-double/harness.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { scrape } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every registry-call message published until the test ends, at each event. */
function recordCalls(): { started: RegistryCallMessage[]; ended: RegistryCallMessage[]; failed: RegistryCallMessage[] } {
  const recorded = { started: [] as RegistryCallMessage[], ended: [] as RegistryCallMessage[], failed: [] as RegistryCallMessage[] };
  const handlers: [string, (message: unknown) => void][] = [
    [`tracing:${CHANNELS.registryCall}:start`, (message) => recorded.started.push(message as RegistryCallMessage)],
    [`tracing:${CHANNELS.registryCall}:asyncEnd`, (message) => recorded.ended.push(message as RegistryCallMessage)],
    [`tracing:${CHANNELS.registryCall}:error`, (message) => recorded.failed.push(message as RegistryCallMessage)],
  ];
  for (const [name, handler] of handlers) subscribe(name, handler);
  cleanups.push(() => handlers.forEach(([name, handler]) => unsubscribe(name, handler)));
  return recorded;
}

function metricsOn(options: Parameters<typeof registerRollcallMetrics>[1]): Registry {
  const registry = new Registry();
  const metrics = registerRollcallMetrics(registry, options);
  cleanups.push(() => metrics.unregister());
  return registry;
}

describe('Redis', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  function backend(): RedisBackend {
    const created = new RedisBackend({ url: server.url, namespace: `obs${Math.random().toString(36).slice(2, 8)}` });
    cleanups.push(() => created.close());
    return created;
  }

  it('reports each call with its target, operation, service and outcome; a refused one as an error', async () => {
    const owner = backend();
    const intruder = new RedisBackend({ url: server.url, namespace: owner.namespace });
    cleanups.push(() => intruder.close());
    const registry = metricsOn({ backend: [owner, intruder] });
    const calls = recordCalls();
    const orders = createInstance({ id: 'o1', service: 'orders', host: '10.0.0.1', port: 8001 }, Date.now());

    await owner.register(orders, { ttlMs: 30_000 });
    await owner.renew(orders, 'passing');
    await owner.instances('orders');
    await owner.services();
    await expect(intruder.deregister(orders)).rejects.toMatchObject({ code: 'REGISTRY_AUTH' });

    expect(calls.started.map((call) => [call.operation, call.service])).toEqual([
      ['register', 'orders'],
      ['renew', 'orders'],
      ['instances', 'orders'],
      ['services', undefined],
      ['deregister', 'orders'],
    ]);
    expect(calls.ended[0]?.target).toEqual({ backend: 'redis', address: server.host, port: server.port });
    expect(calls.ended.map((call) => call.outcome)).toEqual(['ok', 'ok', 'ok', 'ok', 'error']);
    expect(calls.failed.map((call) => (call.error as { code?: string }).code)).toEqual(['REGISTRY_AUTH']);
    expect(calls.ended.every((call) => typeof call.durationMs === 'number' && call.durationMs >= 0)).toBe(true);

    const scraped = await scrape(registry);
    for (const operation of ['register', 'renew', 'instances', 'services']) {
      expect(scraped.value('rollcall_registry_call_duration_seconds_count', { backend: 'redis', operation, outcome: 'ok' })).toBe(1);
    }
    expect(scraped.value('rollcall_registry_call_duration_seconds_count', { backend: 'redis', operation: 'deregister', outcome: 'error' })).toBe(1);
    expect(scraped.value('rollcall_registry_call_duration_seconds_bucket', { backend: 'redis', operation: 'register', outcome: 'ok', le: '+Inf' })).toBe(1);
  });

  it('counts watch reconnections and malformed records', async () => {
    const reader = backend();
    const registry = metricsOn({ backend: reader });
    let lists = 0;
    reader.watch('orders', { onChange: () => lists++ });
    await vi.waitFor(() => expect(lists).toBe(1));
    const keys = serviceKeys(reader.namespace, 'orders');
    const [seconds] = await admin.time();
    await admin.zadd(keys.deadlines, Number(seconds) * 1000 + 60_000, 'bad');
    await admin.hset(keys.records, 'bad', 'not a record');
    await reader.instances('orders');

    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await vi.waitFor(() => expect(reader.stats().watchReconnects).toBe(1), { timeout: 5_000 });
    // The read after a reconnection comes at a random moment of a short window.
    const watchReads = async (): Promise<number | undefined> =>
      (await scrape(registry)).value('rollcall_registry_call_duration_seconds_count', { backend: 'redis', operation: 'watch', outcome: 'ok' });
    await vi.waitFor(async () => expect(await watchReads()).toBeGreaterThanOrEqual(2));

    const scraped = await scrape(registry);
    expect(scraped.value('rollcall_watch_reconnects_total', { backend: 'redis' })).toBe(1);
    expect(scraped.value('rollcall_malformed_records_total', { backend: 'redis' })).toBeGreaterThanOrEqual(1);
    expect(scraped.value('rollcall_watches', { backend: 'redis' })).toBe(1);
  });
});

describe('Consul', () => {
  const start = useConsulHarness();

  it('reports each HTTP request with method and path, a 5xx as an error and a 404 as ok', async () => {
    const { double, backend } = await start();
    const consul = backend();
    const registry = metricsOn({ backend: consul });
    const calls = recordCalls();
    const orders = consulInstance({ id: 'o1' });

    await consul.register(orders, { ttlMs: 15_000 });
    await consul.deregister(orders);
    // Deregistering an id Consul does not know: 404, which is fine.
    await consul.deregister(orders);
    double.injectFault({ path: '/v1/health/service/orders', status: 500, body: 'rpc error: No cluster leader', times: 1 });
    await expect(consul.instances('orders')).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });

    const url = new URL(double.url);
    expect(calls.ended[0]?.target).toEqual({ backend: 'consul', address: url.hostname, port: Number(url.port) });
    expect(calls.ended.find((call) => call.operation === 'register')?.request).toEqual({ method: 'PUT', path: '/v1/agent/service/register' });
    const deregisters = calls.ended.filter((call) => call.operation === 'deregister');
    expect(deregisters.map((call) => [call.statusCode, call.outcome, call.service])).toEqual([
      [200, 'ok', 'orders'],
      [404, 'ok', 'orders'],
    ]);
    const read = calls.ended.find((call) => call.operation === 'instances');
    expect([read?.statusCode, read?.outcome, read?.service, read?.request?.path]).toEqual([500, 'error', 'orders', '/v1/health/service/orders']);

    const scraped = await scrape(registry);
    expect(scraped.value('rollcall_registry_call_duration_seconds_count', { backend: 'consul', operation: 'deregister', outcome: 'ok' })).toBe(2);
    expect(scraped.value('rollcall_registry_call_duration_seconds_count', { backend: 'consul', operation: 'instances', outcome: 'error' })).toBe(1);
  });

  it('counts a watch that recovers after failing as one reconnection', async () => {
    const { double, backend } = await start();
    const consul = backend({ watchRetryInitialDelayMs: 20 });
    const registry = metricsOn({ backend: consul });
    const lists: number[] = [];
    consul.watch('orders', { onChange: (list) => lists.push(list.length), onError: () => undefined });
    await vi.waitFor(() => expect(double.blockingQueries('/v1/health/service/orders')).toBe(1));
    double.injectFault({ path: '/v1/health/service/orders', status: 500, body: 'rpc error', times: 2 });
    double.state.wakeBlockingQueries();
    await vi.waitFor(() => expect(lists).toHaveLength(2), { timeout: 3_000 });

    expect((await scrape(registry)).value('rollcall_watch_reconnects_total', { backend: 'consul' })).toBe(1);
  });
});
