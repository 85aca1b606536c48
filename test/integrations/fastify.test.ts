import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend, MemoryRegistry, ServiceUnavailableError } from '../../src/index.js';
import { rollcall, type RollcallFastifyOptions } from '../../src/integrations/fastify.js';
import { fastify } from './adapters.js';
import { describeAdapterSuite } from './adapter-suite.js';
import { RecordingBackend, eventually, expectNoNewHandles, get, openHandles } from './helpers.js';

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

describeAdapterSuite(fastify);

describe('rollcall/fastify', () => {
  it('decorates the app: no registration until it listens, then app.rollcall.ready() resolves it', async () => {
    const before = openHandles();
    const backend = new MemoryBackend();
    const orders = Fastify();
    await orders.register(rollcall, { backend, service: 'orders', drainWaitMs: 0 });
    expect(orders.rollcall.registration).toBeUndefined();
    expect(orders.rollcall.state).toBe('idle');

    await orders.listen({ port: 0, host: '127.0.0.1' });
    const registration = await orders.rollcall.ready();

    expect(registration).toBe(orders.rollcall.registration);
    expect(registration?.state).toBe('registered');
    expect(await backend.instances('orders')).toEqual([expect.objectContaining({ host: '127.0.0.1', port: portOf(orders) })]);
    await orders.close();
    expect(orders.rollcall.state).toBe('stopped');
    await backend.close();
    await expectNoNewHandles(before);
  });

  it("makes a route of another app that resolves the instance answer 503 once it drains, while it still serves", async () => {
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
    await eventually(async () => (await orders.rollcall.resolver.resolveAll('inventory').catch(() => [])).length === 0);

    expect(await get(`http://127.0.0.1:${portOf(orders)}/order`)).toMatchObject({ status: 503 });
    // Draining, not gone: still in its drain wait, listed as draining and serving whoever picked it earlier.
    expect(inventory.rollcall.state).toBe('draining');
    expect(registry.instances('default', 'inventory')).toEqual([expect.objectContaining({ status: 'draining' })]);
    expect(await get(`http://127.0.0.1:${inventoryPort}/stock`)).toMatchObject({ status: 200, body: '{"apples":3}' });
    await closing;
    expect(registry.instances('default', 'inventory')).toEqual([]);
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
  });});
