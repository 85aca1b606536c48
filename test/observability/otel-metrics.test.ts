import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataPointType, type Histogram } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, MemoryBackend, autoRegister, createInstance, createResolver, outlierEjection, roundRobin, type Resolver } from '../../src/index.js';
import { createDiscoveryFetch } from '../../src/http/index.js';
import { DURATION_BUCKETS_SECONDS } from '../../src/observability/metrics.js';
import { observeRollcallMetrics, type RollcallOtelMetrics } from '../../src/otel/index.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { InMemoryReader, meterProviderWith, pointsOf } from './otel.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.useRealTimers();
});

function observe(options: Parameters<typeof observeRollcallMetrics>[0]): RollcallOtelMetrics {
  const observed = observeRollcallMetrics(options);
  cleanups.push(() => observed.close());
  return observed;
}

function withReader(): { reader: InMemoryReader; meterProvider: ReturnType<typeof meterProviderWith> } {
  const reader = new InMemoryReader();
  const meterProvider = meterProviderWith(reader);
  cleanups.push(() => meterProvider.shutdown());
  return { reader, meterProvider };
}

async function upstream(status: number): Promise<number> {
  const server = createServer((_request, response) => response.writeHead(status).end('x'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

describe('observeRollcallMetrics', () => {
  it('reports resolves, instances, degradation, the breaker, registration and heartbeats as observable instruments', async () => {
    vi.useFakeTimers();
    const memory = new MemoryBackend();
    cleanups.push(() => memory.close());
    const faulty = new FaultyBackend(memory);
    const registration = await autoRegister({ backend: faulty, service: 'orders', host: '10.0.0.1', port: 8001, ttlMs: 3_000, heartbeatIntervalMs: 1_000, random: () => 0 });
    cleanups.push(() => registration.stop());
    const resolver = createResolver({ backend: faulty, watch: false, cacheTtlMs: 500, breakerThreshold: 1, envFallback: { env: {} } });
    cleanups.push(() => resolver.close());
    const { reader, meterProvider } = withReader();
    observe({ meterProvider, resolver, registration, backend: memory });

    await resolver.resolve('orders');
    await resolver.resolve('orders');
    await expect(resolver.resolve('ghost')).rejects.toThrow();
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_000);
    await resolver.resolve('orders');

    const collected = await reader.metrics();
    expect(collected.get('rollcall.resolves')?.dataPointType).toBe(DataPointType.SUM);
    expect(collected.get('rollcall.resolves')?.descriptor.unit).toBe('{resolve}');
    expect(pointsOf(collected.get('rollcall.resolves'))).toMatchObject({
      'service=orders,source=registry': 1,
      'service=orders,source=cache': 1,
      'service=orders,source=stale': 1,
      'service=ghost,source=unavailable': 1,
    });
    expect(pointsOf(collected.get('rollcall.resolver.instances'))).toMatchObject({ 'service=orders,status=passing': 1 });
    expect(pointsOf(collected.get('rollcall.resolver.degraded_services'))).toEqual({ 'source=stale': 1, 'source=env': 0 });
    expect(pointsOf(collected.get('rollcall.registry.breaker_state'))).toEqual({ 'state=closed': 0, 'state=open': 1, 'state=half-open': 0 });
    expect(pointsOf(collected.get('rollcall.heartbeats'))).toEqual({ 'outcome=ok,service=orders': 0, 'outcome=lost,service=orders': 0, 'outcome=failed,service=orders': 1 });
    expect(pointsOf(collected.get('rollcall.registration.state'))).toMatchObject({ 'service=orders,state=standalone': 1, 'service=orders,state=registered': 0 });
    expect(pointsOf(collected.get('rollcall.watches'))).toEqual({ 'backend=memory': 0 });
  });

  it('records discovery-HTTP requests in a histogram with the documented buckets, and retries as a counter', async () => {
    const memory = new MemoryBackend();
    cleanups.push(() => memory.close());
    for (const [n, status] of [503, 200].entries()) {
      await memory.register(createInstance({ id: `orders-${n}`, service: 'orders', host: '127.0.0.1', port: await upstream(status) }, Date.now()), { ttlMs: 600_000 });
    }
    const resolver = createResolver({ backend: memory });
    cleanups.push(() => resolver.close());
    const { reader, meterProvider } = withReader();
    observe({ meterProvider, resolver, instanceLabels: true });
    const fetch = createDiscoveryFetch(resolver);

    for (let i = 0; i < 2; i++) expect((await fetch('http://orders/items')).status).toBe(200);

    const collected = await reader.metrics();
    const requests = collected.get('rollcall.http.request.duration');
    expect(requests?.descriptor.unit).toBe('s');
    expect(pointsOf(requests)).toEqual({
      'client=fetch,instance=orders-0,outcome=failure,service=orders': 1,
      'client=fetch,instance=orders-1,outcome=ok,service=orders': 2,
    });
    expect((requests?.dataPoints[0]?.value as Histogram).buckets.boundaries).toEqual(DURATION_BUCKETS_SECONDS);
    expect(pointsOf(collected.get('rollcall.http.retries'))).toEqual({ 'client=fetch,reason=status,service=orders': 1 });
    expect(pointsOf(collected.get('rollcall.instance.calls'))).toEqual({ 'instance=orders-0,service=orders': 1, 'instance=orders-1,service=orders': 2 });
  });

  it('close() removes the callbacks and stops recording events', async () => {
    const memory = new MemoryBackend();
    cleanups.push(() => memory.close());
    await memory.register(createInstance({ id: 'o1', service: 'orders', host: '10.0.0.1', port: 8001 }, Date.now()), { ttlMs: 600_000 });
    const resolver = createResolver({ backend: memory, strategy: outlierEjection({ consecutiveFailures: 1, maxEjectedPercent: 100 }, roundRobin()) });
    cleanups.push(() => resolver.close());
    const { reader, meterProvider } = withReader();
    const observed = observe({ meterProvider, resolver });
    await resolver.resolve('orders');
    expect(pointsOf((await reader.metrics()).get('rollcall.resolves'))).toMatchObject({ 'service=orders,source=registry': 1 });

    observed.close();
    observed.close();
    await resolver.resolve('orders');
    // The SDK keeps reporting a cumulative sum's last value; no callback updates it any more.
    expect(pointsOf((await reader.metrics()).get('rollcall.resolves'))).toMatchObject({ 'service=orders,source=registry': 1, 'service=orders,source=cache': 0 });
    (await resolver.pick('orders')).done({ ok: false, latencyMs: 1 });
    expect(resolver.instanceFigures('orders')?.[0]?.ejection?.state).toBe('ejected');
    expect(pointsOf((await reader.metrics()).get('rollcall.outlier.ejections'))).toEqual({});
  });

  it('is a no-op without an SDK, and refuses bad options', () => {
    const resolver = createResolver({ backend: new MemoryBackend() });
    cleanups.push(() => resolver.close());
    expect(() => observe({ resolver })).not.toThrow();
    expect(() => observeRollcallMetrics({ meterProvider: {} as never })).toThrow(InvalidArgumentError);
    expect(() => observeRollcallMetrics({ resolver: [resolver, {} as Resolver] })).toThrow(/options\.resolver\[1\]/);
    expect(() => observeRollcallMetrics({ instanceLabels: 1 as unknown as boolean })).toThrow(/instanceLabels/);
  });
});
