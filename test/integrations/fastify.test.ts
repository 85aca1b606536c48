import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend, MemoryRegistry, ServiceUnavailableError } from '../../src/index.js';
import { rollcall, type RollcallFastifyOptions } from '../../src/integrations/fastify.js';
import { defaultHost } from '../../src/registration/registration.js';
import { RecordingBackend, expectNoNewHandles, gate, get, openHandles, recordDraining, within, shutDownDuringRequest } from './helpers.js';

const apps: FastifyInstance[] = [];
const backends: MemoryBackend[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(backends.splice(0).map((backend) => backend.close()));
});

function memory(registry?: MemoryRegistry): MemoryBackend {
  const backend = new MemoryBackend(registry === undefined ? {} : { registry });
  backends.push(backend);
  return backend;
}

async function app(options: RollcallFastifyOptions, fastifyOptions: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const instance = Fastify(fastifyOptions);
  apps.push(instance);
  await instance.register(rollcall, options);
  return instance;
}

function portOf(instance: FastifyInstance): number {
  const address = instance.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  return address.port;
}

describe('rollcall/fastify', () => {
  it('registers once listening, with the port actually bound, decorates the app, and close() removes it', async () => {
    const before = openHandles();
    const backend = new MemoryBackend();
    const orders = Fastify();
    await orders.register(rollcall, { backend, service: 'orders', drainWaitMs: 0 });
    expect(orders.rollcall.registration).toBeUndefined();

    await orders.listen({ port: 0, host: '127.0.0.1' });
    const registration = await orders.rollcall.ready();

    expect(registration).toBe(orders.rollcall.registration);
    expect(registration?.state).toBe('registered');
    expect(await backend.instances('orders')).toEqual([expect.objectContaining({ host: '127.0.0.1', port: portOf(orders) })]);
    expect(await orders.rollcall.resolver.resolveUrl('orders', '/x')).toBe(`http://127.0.0.1:${portOf(orders)}/x`);

    await orders.close();
    expect(await backend.instances('orders')).toEqual([]);
    expect(orders.rollcall.state).toBe('stopped');
    // The backend was passed in: it is the caller's, still open.
    await expect(backend.services()).resolves.toEqual([]);
    await backend.close();
    await expectNoNewHandles(before);
  });

  it('registers the default host when bound to a wildcard address, an explicit host when given', async () => {
    const backend = memory();
    const wild = await app({ backend, service: 'wild', drainWaitMs: 0 });
    const named = await app({ backend, service: 'named', host: 'named.internal', drainWaitMs: 0 });
    await wild.listen({ port: 0, host: '0.0.0.0' });
    await named.listen({ port: 0, host: '127.0.0.1' });
    await Promise.all([wild.rollcall.ready(), named.rollcall.ready()]);

    expect(await backend.instances('wild')).toEqual([expect.objectContaining({ host: defaultHost(), port: portOf(wild) })]);
    expect(await backend.instances('named')).toEqual([expect.objectContaining({ host: 'named.internal', port: portOf(named) })]);
  });

  it('closes in order: drain → drain wait → in-flight requests finish → deregister → close the backend it created', async () => {
    const before = openHandles();
    const registry = new MemoryRegistry();
    const events: string[] = [];
    const observer = new MemoryBackend({ registry });
    const unwatch = recordDraining(observer, 'orders', events);
    const release = gate();
    const entered = gate();
    const drainWaitMs = 300;
    const orders = Fastify();
    await orders.register(rollcall, { backend: () => new RecordingBackend({ registry }, events), service: 'orders', drainWaitMs });
    orders.get('/slow', async (_request, reply) => {
      entered.open();
      await release.promise;
      reply.raw.once('finish', () => events.push('in-flight done'));
      return 'slow answer';
    });
    await orders.listen({ port: 0, host: '127.0.0.1' });
    await orders.rollcall.ready();
    const close = orders.server.close.bind(orders.server);
    orders.server.close = (callback) => {
      events.push('server closing');
      return close(callback);
    };

    const { answer, waited } = await shutDownDuringRequest({
      url: `http://127.0.0.1:${portOf(orders)}/slow`,
      entered: entered.promise,
      release,
      events,
      shutdown: () => orders.close(),
    });

    expect(answer).toMatchObject({ status: 200, body: 'slow answer' });
    expect(events).toEqual(['draining', 'server closing', 'in-flight done', 'deregister', 'backend closed']);
    expect(waited).toBeGreaterThanOrEqual(drainWaitMs - 5);
    unwatch();
    await observer.close();
    await expectNoNewHandles(before);
  });

  it("makes another app's resolver stop picking the instance as soon as it drains", async () => {
    const registry = new MemoryRegistry();
    // return503OnClosing: false keeps serving the callers that picked the instance just before it drained.
    const inventory = await app({ backend: memory(registry), service: 'inventory', drainWaitMs: 1_000 }, { return503OnClosing: false });
    inventory.get('/stock', () => ({ apples: 3 }));
    const orders = await app({ backend: memory(registry), service: 'orders', drainWaitMs: 0 });
    orders.get('/order', async (_request, reply) => {
      try {
        const url = await orders.rollcall.resolver.resolveUrl('inventory', '/stock');
        return { stock: await (await fetch(url)).json() };
      } catch (error) {
        if (error instanceof ServiceUnavailableError) return reply.code(503).send({ error: error.message });
        throw error;
      }
    });
    await inventory.listen({ port: 0, host: '127.0.0.1' });
    await orders.listen({ port: 0, host: '127.0.0.1' });
    await Promise.all([inventory.rollcall.ready(), orders.rollcall.ready()]);
    expect(JSON.parse((await get(`http://127.0.0.1:${portOf(orders)}/order`)).body)).toEqual({ stock: { apples: 3 } });

    const inventoryPort = portOf(inventory);
    const closing = inventory.close();
    const tookMs = await within(300, async () => (await orders.rollcall.resolver.resolveAll('inventory').catch(() => [])).length === 0);

    expect(tookMs).toBeLessThan(300);
    expect(await get(`http://127.0.0.1:${portOf(orders)}/order`)).toMatchObject({ status: 503 });
    // Draining, not gone: still listed as draining and still serving whoever picked it earlier.
    expect(registry.instances('default', 'inventory')).toEqual([expect.objectContaining({ status: 'draining' })]);
    expect(await get(`http://127.0.0.1:${inventoryPort}/stock`)).toMatchObject({ status: 200, body: '{"apples":3}' });
    await closing;
    expect(registry.instances('default', 'inventory')).toEqual([]);
  });

  it('serves the health route: 200 passing, 503 critical, 503 once draining', async () => {
    let db: 'passing' | 'critical' = 'passing';
    const healthy = await app(
      {
        backend: memory(),
        service: 'orders',
        healthRoute: '/_health',
        drainWaitMs: 1_000,
        ttlMs: 1_000,
        heartbeatIntervalMs: 100,
        failuresBeforeCritical: 1,
        healthChecks: { db: () => db },
      },
      { return503OnClosing: false },
    );
    await healthy.listen({ port: 0, host: '127.0.0.1' });
    await healthy.rollcall.ready();
    const url = `http://127.0.0.1:${portOf(healthy)}/_health`;

    const passing = await get(url);
    expect(passing.status).toBe(200);
    expect(JSON.parse(passing.body)).toMatchObject({ status: 'passing', service: 'orders', registration: 'registered', checks: { db: { status: 'passing' } } });
    db = 'critical';
    await within(2_000, async () => (await get(url)).status === 503);
    expect(JSON.parse((await get(url)).body)).toMatchObject({ status: 'critical', checks: { db: { status: 'critical' } } });
    db = 'passing';
    await within(2_000, async () => (await get(url)).status === 200);

    const closing = healthy.close();
    await within(300, async () => (await get(url)).status === 503);
    expect(JSON.parse((await get(url)).body)).toMatchObject({ status: 'draining' });
    await closing;
  });

  it('answers the health route before listening, and closes what it created when it never listened', async () => {
    const registry = new MemoryRegistry();
    const events: string[] = [];
    const never = await app({ backend: () => new RecordingBackend({ registry }, events), service: 'orders', healthRoute: true });

    const answer = await never.inject('/health');
    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toMatchObject({ status: 'starting', registration: 'none' });

    await never.close();
    expect(events).toEqual(['backend closed']);
    await expect(never.rollcall.resolver.resolve('orders')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(never.rollcall.ready()).resolves.toBeUndefined();
  });

  it('closes the app on SIGTERM only when asked to', async () => {
    const backend = memory();
    const listeners = process.listenerCount('SIGTERM');
    const quiet = await app({ backend, service: 'quiet', drainWaitMs: 0 });
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
    const handled = await app({ backend, service: 'handled', drainWaitMs: 0, signals: true });
    expect(process.listenerCount('SIGTERM')).toBe(listeners + 1);
    await handled.listen({ port: 0, host: '127.0.0.1' });
    await handled.rollcall.ready();

    process.emit('SIGTERM', 'SIGTERM');
    await within(1_000, () => handled.rollcall.state === 'stopped');

    expect(handled.server.listening).toBe(false);
    expect(await backend.instances('handled')).toEqual([]);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
    expect(quiet.rollcall.state).toBe('idle');
  });

  it('fails registering the plugin, not later, when an option is invalid', async () => {
    const bad = Fastify();
    apps.push(bad);
    await expect(bad.register(rollcall, { backend: memory(), service: 'orders', heartbeatIntervalMs: 20_000 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'heartbeatIntervalMs',
    });
    const badRoute = Fastify();
    apps.push(badRoute);
    await expect(badRoute.register(rollcall, { backend: memory(), service: 'orders', healthRoute: 'health' })).rejects.toMatchObject({ field: 'healthRoute' });
  });
});
