/**
 * Every closable rollcall object can be disposed with `using` / `await using`, and the emitters
 * are Node's own, so `events.once()` and `events.on()` work on them and type-check.
 */
import { once } from 'node:events';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import * as backend from '../../src/backends/index.js';
import * as consul from '../../src/backends/consul/index.js';
import * as dns from '../../src/backends/dns/index.js';
import * as etcd from '../../src/backends/etcd/index.js';
import * as redis from '../../src/backends/redis/index.js';
import * as http from '../../src/http/index.js';
import * as root from '../../src/index.js';
import { WatchHub } from '../../src/backends/index.js';
import { MemoryBackend, autoRegister, createInstance, createResolver, type DegradedEvent, type StateChangeEvent } from '../../src/index.js';
import * as otel from '../../src/otel/index.js';
import * as prometheus from '../../src/prometheus/index.js';
import * as testing from '../../src/testing/index.js';
import { FaultyBackend } from '../../src/testing/index.js';

const entries = { root, backend, testing, redis, consul, etcd, dns, http, otel, prometheus };

describe('disposal', () => {
  it('gives every exported class with close() or stop() a Symbol.asyncDispose (or Symbol.dispose when close() is synchronous)', () => {
    const closable: string[] = [];
    for (const [entry, exports] of Object.entries(entries)) {
      for (const [name, value] of Object.entries(exports)) {
        const prototype = (value as { prototype?: Record<PropertyKey, unknown> } | undefined)?.prototype;
        if (typeof value !== 'function' || (typeof prototype?.close !== 'function' && typeof prototype?.stop !== 'function')) continue;
        closable.push(name);
        const disposes = typeof prototype[Symbol.asyncDispose] === 'function' || typeof prototype[Symbol.dispose] === 'function';
        expect(disposes, `${entry}: ${name}`).toBe(true);
      }
    }
    expect(closable.sort()).toEqual(
      expect.arrayContaining(['ConsulBackend', 'DnsBackend', 'EtcdBackend', 'FaultyBackend', 'Lifespan', 'MemoryBackend', 'RedisBackend', 'Registration', 'Resolver', 'WatchHub']),
    );
  });

  it('closes backends left by `await using`', async () => {
    const closed: root.RegistryBackend[] = [];
    {
      await using memory = new MemoryBackend();
      await using faulty = new FaultyBackend(new MemoryBackend());
      await using consulBackend = new consul.ConsulBackend({ address: 'http://127.0.0.1:1', env: {} });
      await using etcdBackend = new etcd.EtcdBackend({ endpoints: 'http://127.0.0.1:1', env: {} });
      await using dnsBackend = new dns.DnsBackend({ servers: ['127.0.0.1:1'], env: {} });
      closed.push(memory, faulty, consulBackend, etcdBackend, dnsBackend);
    }
    for (const backend of closed) await expect(backend.instances('orders'), backend.kind).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('stops a WatchHub left by `using`', () => {
    const stopped: string[] = [];
    {
      using hub = new WatchHub(
        (service) => () => stopped.push(service),
        () => {},
      );
      hub.subscribe('orders', { onChange: () => {} });
    }
    expect(stopped).toEqual(['orders']);
  });

  it('unregisters metrics and stops telemetry left by `using`', () => {
    const registry = new Registry();
    {
      using metrics = prometheus.registerRollcallMetrics(registry);
      expect(registry.getSingleMetric(metrics.names[0] as string)).toBeDefined();
      using otelMetrics = otel.observeRollcallMetrics();
      using tracing = otel.traceRollcall();
      expect([otelMetrics, tracing].every((handle) => typeof handle.close === 'function')).toBe(true);
    }
    expect(registry.getMetricsAsArray()).toEqual([]);
    // Registering again works only once the first set was unregistered.
    prometheus.registerRollcallMetrics(registry).unregister();
  });
});

describe('events', () => {
  it('work with events.once() on a resolver, typed', async () => {
    const backend = new FaultyBackend(new MemoryBackend());
    await backend.register(createInstance({ id: 'a', service: 'orders', host: '10.0.0.1', port: 80 }, Date.now()), { ttlMs: 30_000 });
    await using resolver = createResolver({ backend, watch: false, envFallback: { env: { ORDERS_URL: 'http://10.0.0.9:80' } } });
    backend.fail();
    const degraded = once(resolver, 'degraded');
    await resolver.resolve('orders');
    const [event] = (await degraded) as [DegradedEvent];
    expect(event).toMatchObject({ service: 'orders', source: 'env' });

    backend.heal();
    const recovered = once(resolver, 'recovered');
    resolver.invalidate('orders');
    await resolver.resolve('orders');
    expect(await recovered).toEqual([expect.objectContaining({ service: 'orders' })]);
  });

  it('work with events.once() on a registration, typed', async () => {
    const registration = await autoRegister({ backend: new MemoryBackend(), service: 'orders', host: '10.0.0.1', port: 80 });
    const stopped = once(registration, 'stateChange');
    await registration.stop();
    const [change] = (await stopped) as [StateChangeEvent];
    expect(change).toMatchObject({ from: 'registered', to: 'stopped' });
  });
});
