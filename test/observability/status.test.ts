/**
 * The status view, and the opt-in routes that serve it from Fastify, Express and Nest.
 */
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  InvalidArgumentError,
  MemoryBackend,
  autoRegister,
  createInstance,
  createResolver,
  describeStatus,
  outlierEjection,
  roundRobin,
  type InstanceStatus,
  type RegistryBackend,
  type Resolver,
  type StatusView,
} from '../../src/index.js';
import { lifespan, statusRouter } from '../../src/integrations/express.js';
import { rollcall } from '../../src/integrations/fastify.js';
import { ROLLCALL_LIFESPAN, RollcallModule, type RollcallHandle } from '../../src/integrations/nest/index.js';
import { FaultyBackend } from '../../src/testing/index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.useRealTimers();
});

async function registerInstance(backend: RegistryBackend, service: string, id: string, status: InstanceStatus = 'passing', registeredAt = Date.now()): Promise<void> {
  await backend.register(createInstance({ id, service, host: '10.0.0.1', port: 8000 + Number(id.replace(/\D/g, '')), status, zone: 'eu-1', registeredAt, updatedAt: registeredAt }, registeredAt), { ttlMs: 600_000 });
}

function closing<T extends { close(): Promise<void> }>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

describe('describeStatus', () => {
  it("shows each service's answer source and age, its instances with status, age, ejection and latency, and the whole registry", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const memory = closing(new MemoryBackend());
    const faulty = new FaultyBackend(memory);
    await registerInstance(memory, 'orders', 'o1', 'passing', 990_000);
    await registerInstance(memory, 'orders', 'o2');
    await registerInstance(memory, 'orders', 'o3', 'critical');
    await registerInstance(memory, 'billing', 'b1');
    const resolver = closing(
      createResolver({ backend: faulty, watch: false, cacheTtlMs: 1_000, strategy: outlierEjection({ consecutiveFailures: 1 }, roundRobin({ random: () => 0 })) }),
    );
    const o1 = await resolver.pick('orders');
    o1.done({ ok: false, latencyMs: 40 });
    (await resolver.pick('orders')).done({ ok: true, latencyMs: 12 });
    await resolver.resolve('billing');
    await expect(resolver.resolve('payments')).rejects.toThrow();
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_500);
    await resolver.resolve('billing');
    await expect(resolver.resolve('ghost')).rejects.toThrow();

    const view = await describeStatus({ resolver, backend: memory });

    expect(view.generatedAt).toBe(Date.now());
    expect(view.resolver.health).toBe('degraded');
    expect(view.resolver.services.map((s) => [s.service, s.source, s.instances.length])).toEqual([
      ['billing', 'stale', 1],
      ['orders', 'cache', 2],
      ['payments', 'cache', 0],
    ]);
    expect(view.resolver.services.find((s) => s.service === 'payments')?.resolves.unavailable).toBe(1);
    const orders = view.resolver.services.find((s) => s.service === 'orders');
    expect(orders).toMatchObject({ fresh: false, counts: { passing: 2, warning: 0, critical: 1, draining: 0 }, ejected: 1, resolves: { registry: 1, cache: 1 } });
    expect(orders?.ageMs).toBe(1_500);
    expect(orders?.instances.map((i) => i.id)).toEqual(['o1', 'o2']);
    expect(orders?.instances[0]).toMatchObject({ id: 'o1', url: 'http://10.0.0.1:8001', status: 'passing', zone: 'eu-1', ageMs: 11_500 });
    expect(orders?.instances[0]?.figures).toMatchObject({ inFlight: 0, calls: 1, failures: 1, latencyMs: 40, ejection: { id: 'o1', state: 'ejected', reason: 'consecutive-failures' } });
    expect(orders?.instances[1]?.figures).toMatchObject({ calls: 1, failures: 0, latencyMs: 12 });
    expect(orders?.instances[1]?.figures?.ejection).toBeUndefined();
    expect(view.resolver.uncached).toEqual([{ service: 'ghost', resolves: { cache: 0, registry: 0, stale: 0, env: 0, unavailable: 1 } }]);

    expect(view.registry).toMatchObject({ backend: 'memory', reachable: true, instanceCounts: { passing: 3, critical: 1 } });
    const listed = view.registry?.reachable === true ? view.registry.services : [];
    expect(listed.map((s) => [s.service, s.health, s.instances.map((i) => `${i.id}:${i.status}`)])).toEqual([
      ['billing', 'passing', ['b1:passing']],
      ['orders', 'passing', ['o1:passing', 'o2:passing', 'o3:critical']],
    ]);
    expect(view.registration).toBeNull();
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
  });

  it('reports a registry it cannot read instead of failing, and shows the registration', async () => {
    const memory = closing(new MemoryBackend());
    const faulty = new FaultyBackend(memory);
    const registration = await autoRegister({ backend: memory, service: 'orders', host: '127.0.0.1', port: 8080 });
    cleanups.push(() => registration.stop());
    const resolver = closing(createResolver({ backend: faulty }));
    faulty.fail();

    const view = await describeStatus({ resolver, backend: faulty, registration });

    expect(view.registry).toEqual({ backend: 'memory', reachable: false, error: { code: 'REGISTRY_UNAVAILABLE', message: expect.stringContaining('injected fault') as unknown } });
    expect(view.registration).toEqual({ service: 'orders', id: registration.instance.id, state: 'registered', health: 'passing', heartbeats: { ok: 0, lost: 0, failed: 0 } });
    expect(view.resolver.services).toEqual([]);
  });

  it('rejects bad options with INVALID_ARGUMENT', async () => {
    await expect(describeStatus({ resolver: {} as Resolver })).rejects.toBeInstanceOf(InvalidArgumentError);
    const resolver = closing(createResolver({ backend: closing(new MemoryBackend()) }));
    await expect(describeStatus({ resolver, backend: {} as RegistryBackend })).rejects.toThrow(/backend/);
    await expect(describeStatus({ resolver, describe: { timeoutMs: -1 } })).rejects.toThrow(/describe\.timeoutMs/);
  });
});

describe('the status routes', () => {
  async function expectStatus(url: string, service: string): Promise<StatusView> {
    const answer = await fetch(url);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    const view = (await answer.json()) as StatusView;
    expect(view.registration).toMatchObject({ service, state: 'registered' });
    expect(view.resolver.services.map((s) => s.service)).toEqual(['orders']);
    expect(view.registry).toMatchObject({ backend: 'memory', reachable: true });
    return view;
  }

  it('Fastify: statusRoute serves the view, off by default', async () => {
    const memory = closing(new MemoryBackend());
    await registerInstance(memory, 'orders', 'o1');
    const withRoute = Fastify();
    cleanups.push(() => withRoute.close());
    await withRoute.register(rollcall, { backend: memory, service: 'api', drainWaitMs: 0, statusRoute: true });
    await withRoute.listen({ port: 0, host: '127.0.0.1' });
    await withRoute.rollcall.ready();
    await withRoute.rollcall.resolver.resolve('orders');

    await expectStatus(`http://127.0.0.1:${(withRoute.server.address() as AddressInfo).port}/rollcall/status`, 'api');
    const without = Fastify();
    cleanups.push(() => without.close());
    await without.register(rollcall, { backend: memory, service: 'api', drainWaitMs: 0 });
    expect((await without.inject('/rollcall/status')).statusCode).toBe(404);
    await expect(Fastify().register(rollcall, { backend: memory, service: 'api', statusRoute: 'status' })).rejects.toThrow(/statusRoute/);
  });

  it('Express: statusRouter serves the view on its path and lets other requests through', async () => {
    const memory = closing(new MemoryBackend());
    await registerInstance(memory, 'orders', 'o1');
    const app = express();
    const life = lifespan({ backend: memory, service: 'api', drainWaitMs: 0 });
    app.use(statusRouter(life, { path: '/ops/status' }));
    app.get('/hello', (_request, response) => void response.send('hello'));
    const server = app.listen(0, '127.0.0.1');
    life.attach(server);
    cleanups.push(() => life.shutdown());
    await life.ready();
    await life.resolver.resolve('orders');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    await expectStatus(`${base}/ops/status?pretty`, 'api');
    expect(await (await fetch(`${base}/hello`)).text()).toBe('hello');
    expect((await fetch(`${base}/ops/status`, { method: 'HEAD' })).status).toBe(200);
    expect(() => statusRouter(life, { path: 'status' })).toThrow(InvalidArgumentError);
  });

  it('Nest: RollcallModule.forRoot({ statusRoute: true }) serves the view', async () => {
    const memory = closing(new MemoryBackend());
    await registerInstance(memory, 'orders', 'o1');
    const module: DynamicModule = { module: class AppModule {}, imports: [RollcallModule.forRoot({ backend: memory, service: 'api', drainWaitMs: 0, statusRoute: true })] };
    const app = await NestFactory.create(module, { logger: false });
    cleanups.push(() => app.close());
    await app.listen(0, '127.0.0.1');
    const life = app.get<RollcallHandle>(ROLLCALL_LIFESPAN);
    await life.ready();
    await life.resolver.resolve('orders');

    await expectStatus(`http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}/rollcall/status`, 'api');
    expect(() => RollcallModule.forRoot({ backend: memory, service: 'api', statusRoute: 'x' })).toThrow(/statusRoute/);
  });
});
