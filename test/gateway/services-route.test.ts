import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { rollcallGateway } from '../../src/gateway/index.js';
import { MemoryBackend, createResolver, type RegistryBackend } from '../../src/index.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { call, echoed, onCleanup, register, startGateway, startUpstream } from './helpers.js';

describe('rollcallGateway services route', () => {
  it('lists every service with its health and instances, and what the resolver caches and routes to', async () => {
    const backend = new MemoryBackend();
    const upstream = await startUpstream('auth-1');
    await register(backend, 'auth_service', 'auth-1', upstream.port);
    await register(backend, 'auth_service', 'auth-2', upstream.port, { status: 'critical' });
    await register(backend, 'Orders', 'orders-1', 9, { status: 'draining', zone: 'eu-1', version: '2.1.0' });
    const { base } = await startGateway({ backend });
    await call(`${base}/api/v1/auth_service/x`);

    const listing = await call(`${base}/services`);

    expect(listing.status).toBe(200);
    expect(listing.headers['cache-control']).toBe('no-store');
    expect(listing.json).toEqual({
      registry: {
        backend: 'memory',
        reachable: true,
        readAt: expect.any(Number) as number,
        instanceCounts: { passing: 1, warning: 0, critical: 1, draining: 1 },
        healthCounts: { passing: 1, warning: 0, critical: 1, 'no-instances': 0, unknown: 0 },
        services: [
          {
            service: 'Orders',
            health: 'critical',
            counts: { passing: 0, warning: 0, critical: 0, draining: 1 },
            instances: [{ id: 'orders-1', url: 'http://127.0.0.1:9', status: 'draining', zone: 'eu-1', version: '2.1.0' }],
          },
          {
            service: 'auth_service',
            health: 'passing',
            counts: { passing: 1, warning: 0, critical: 1, draining: 0 },
            instances: [
              { id: 'auth-1', url: `http://127.0.0.1:${upstream.port}`, status: 'passing' },
              { id: 'auth-2', url: `http://127.0.0.1:${upstream.port}`, status: 'critical' },
            ],
          },
        ],
      },
      resolver: {
        health: 'healthy',
        breaker: 'closed',
        services: [{ service: 'auth_service', source: 'cache', fresh: true, watching: true, ageMs: expect.any(Number) as number, listed: 2, eligible: ['auth-1'] }],
      },
    });
  });

  it('says the registry is unreachable and still shows what the resolver routes to', async () => {
    const faulty = new FaultyBackend(new MemoryBackend());
    const upstream = await startUpstream('auth-1');
    await register(faulty, 'auth_service', 'auth-1', upstream.port);
    const { base } = await startGateway({ backend: faulty, resolver: { watch: false } });
    await call(`${base}/api/v1/auth_service/x`);

    faulty.fail();
    const listing = await call(`${base}/services`);
    const routed = await call(`${base}/api/v1/auth_service/x`);
    faulty.heal();

    expect(listing.status).toBe(200);
    expect(listing.json).toMatchObject({
      registry: { backend: 'memory', reachable: false, error: { code: 'REGISTRY_UNAVAILABLE' } },
      resolver: { services: [{ service: 'auth_service', eligible: ['auth-1'] }] },
    });
    expect(echoed(routed).id).toBe('auth-1');
  });

  it('is configurable: another path, or none; given only a resolver it shows the resolver’s view', async () => {
    const backend = new MemoryBackend();
    const { base } = await startGateway({ backend, servicesRoute: '/gateway/services' });
    expect((await call(`${base}/gateway/services`)).json).toMatchObject({ registry: { reachable: true } });
    expect((await call(`${base}/services`)).status).toBe(404);

    const { base: none } = await startGateway({ backend, servicesRoute: false });
    expect((await call(`${none}/services`)).status).toBe(404);

    const resolver = createResolver({ backend });
    onCleanup(() => resolver.close());
    const { base: resolverOnly } = await startGateway({ resolver });
    expect((await call(`${resolverOnly}/services`)).json).toEqual({ registry: null, resolver: { health: 'healthy', breaker: 'closed', services: [] } });
  });

  it('serves concurrent listings from one registry read', async () => {
    const inner = new MemoryBackend();
    let reads = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const counting: RegistryBackend = Object.assign(Object.create(inner) as RegistryBackend, {
      kind: 'memory',
      services: async () => {
        reads++;
        await gate;
        return inner.services();
      },
    });
    const app = Fastify();
    let arrived = 0;
    app.addHook('preHandler', (_request, _reply, done) => {
      arrived++;
      done();
    });
    await app.register(rollcallGateway, { backend: counting });
    onCleanup(() => app.close());

    const listings = Promise.all([1, 2, 3].map(() => app.inject({ url: '/services' })));
    while (arrived < 3) await new Promise((resolve) => setImmediate(resolve));
    release();

    expect((await listings).map((reply) => reply.statusCode)).toEqual([200, 200, 200]);
    expect(reads).toBe(1);
    await app.inject({ url: '/services' });
    expect(reads).toBe(2);
  });
});
