import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend, MemoryRegistry, createResolver, type RegistryBackend } from '../../src/index.js';
import { lifespan } from '../../src/integrations/lifespan.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { recordingLogger } from '../helpers/recording-logger.js';
import { nodeHttp } from './adapters.js';
import { describeAdapterSuite } from './adapter-suite.js';
import { eventually, expectNoNewHandles, gate, get, openHandles } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

describeAdapterSuite(nodeHttp);

describe('lifespan() with a node:http server', () => {
  it('is idle until the server it is attached to listens, then registers the port and address it bound', async () => {
    const before = openHandles();
    const registry = new MemoryRegistry();
    const backend = new MemoryBackend({ registry });
    const server = createServer((_req, res) => res.end('ok'));
    const life = lifespan({ backend, service: 'orders', drainWaitMs: 0 }).attach(server);
    expect(life.state).toBe('idle');

    const port = await listen(server);
    const registration = await life.ready();

    expect(life.state).toBe('running');
    expect(registration?.state).toBe('registered');
    expect(await backend.instances('orders')).toEqual([expect.objectContaining({ host: '127.0.0.1', port, status: 'passing' })]);

    await life.shutdown();
    expect(life.state).toBe('stopped');
    expect(server.listening).toBe(false);
    expect(await backend.instances('orders')).toEqual([]);
    await backend.close();
    await expectNoNewHandles(before);
  });

  it('deregisters (without the drain) when the server is closed directly, and says so', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const logger = recordingLogger();
    const server = createServer();
    const life = lifespan({ backend, service: 'orders', logger }).attach(server);
    await listen(server);
    await life.ready();

    await new Promise((resolve) => server.close(resolve));
    await eventually(() => life.state === 'stopped');

    expect(await backend.instances('orders')).toEqual([]);
    expect(logger.at('warn').map((line) => line.msg)).toContain('server closed without shutdown(): deregistering without a drain');
  });

  it('cuts connections still open after inFlightTimeoutMs', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const hanging = gate();
    // Never answers.
    const server = createServer(() => hanging.open());
    const life = lifespan({ backend, service: 'orders', drainWaitMs: 0, inFlightTimeoutMs: 100 }).attach(server);
    const port = await listen(server);
    await life.ready();
    const answer = get(`http://127.0.0.1:${port}/hang`).catch((error: unknown) => error);
    await hanging.promise;

    await life.shutdown();

    expect(await answer).toMatchObject({ code: 'ECONNRESET' });
    expect(await backend.instances('orders')).toEqual([]);
  });
});

describe('lifespan() without a server (a worker)', () => {
  it('registers nothing without a port, aborts its signal when shutdown begins and closes the resolver it created', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const life = lifespan({ backend, service: 'mailer' });

    expect(await life.start()).toBeUndefined();
    expect(life.state).toBe('running');
    expect(life.health()).toMatchObject({ statusCode: 200, body: { status: 'passing', registration: 'none' } });
    expect(await backend.services()).toEqual([]);

    let jobsDone = 0;
    const worker = (async () => {
      while (!life.signal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        jobsDone++;
      }
    })();
    await life.shutdown(() => worker);

    expect(jobsDone).toBeGreaterThan(0);
    await expect(life.resolver.resolve('orders')).rejects.toMatchObject({ code: 'CLOSED' });
    expect(await backend.services()).toEqual([]);
  });

  it('registers an explicit port, and leaves the backend and resolver it was given open', async () => {
    const backend = new MemoryBackend();
    const resolver = createResolver({ backend });
    cleanups.push(() => resolver.close(), () => backend.close());
    const life = lifespan({ backend, resolver, service: 'grpc-worker', port: 50051, protocol: 'grpc', drainWaitMs: 0 });

    await life.start();
    expect(await resolver.resolveUrl('grpc-worker')).toMatch(/^grpc:\/\/.+:50051$/);
    await life.shutdown();

    expect(await backend.instances('grpc-worker')).toEqual([]);
    await expect(backend.services()).resolves.toEqual([]);
    await expect(resolver.resolve('grpc-worker')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });
});

describe('lifespan() health answers', () => {
  it('answers 503 before registering, 200 while passing or warning, 503 when critical and once draining', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    let db: 'passing' | 'warning' | 'critical' = 'warning';
    const life = lifespan({
      backend,
      service: 'orders',
      port: 8080,
      ttlMs: 1_000,
      heartbeatIntervalMs: 100,
      failuresBeforeCritical: 1,
      drainWaitMs: 0,
      healthChecks: { db: () => ({ status: db, output: `db is ${db}` }) },
    });
    expect(life.health()).toMatchObject({ statusCode: 503, body: { status: 'starting', registration: 'none' } });

    const registration = await life.start();
    expect(life.health()).toEqual({
      statusCode: 200,
      body: { status: 'warning', service: 'orders', id: registration?.instance.id, registration: 'registered', checks: { db: { status: 'warning', output: 'db is warning' } } },
    });
    db = 'critical';
    await eventually(() => life.health().body.status === 'critical');
    expect(life.health().statusCode).toBe(503);
    db = 'passing';
    await eventually(() => life.health().body.status === 'passing');
    expect(life.health().statusCode).toBe(200);

    const draining = life.drain();
    expect(life.health()).toMatchObject({ statusCode: 503, body: { status: 'draining' } });
    await draining;
    await life.stop();
    expect(life.health()).toMatchObject({ statusCode: 503, body: { status: 'stopped' } });
  });
});

describe('lifespan() failures', () => {
  it('rejects invalid options when created, not once the server listens, and closes a backend it created', async () => {
    let created: RegistryBackend | undefined;
    const make = (): RegistryBackend => (created = new MemoryBackend());
    const closedAfter = async (attempt: () => unknown): Promise<void> => {
      created = undefined;
      expect(attempt).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      await eventually(async () => (await created?.services().catch((error: unknown) => error)) instanceof Error);
    };
    await closedAfter(() => lifespan({ backend: make, service: 'orders', ttlMs: 10 }));
    await closedAfter(() => lifespan({ backend: make, service: 'orders', resolver: { cacheTtlMs: -1 } }));
    expect(() => lifespan({ backend: new MemoryBackend(), service: 'Not A Name' })).toThrow(expect.objectContaining({ field: 'service' }));
    expect(() => lifespan({ backend: new MemoryBackend(), service: 'orders', signals: ['TERM' as NodeJS.Signals] })).toThrow(
      expect.objectContaining({ field: 'signals' }),
    );
  });

  it('reports a failed required registration through ready() and the log, and keeps the server serving', async () => {
    const memory = new MemoryBackend();
    const backend = new FaultyBackend(memory);
    backend.fail();
    cleanups.push(() => memory.close());
    const logger = recordingLogger();
    const server = createServer((_req, res) => res.end('still here'));
    const life = lifespan({ backend, service: 'orders', required: true, startupTimeoutMs: 50, logger }).attach(server);
    const port = await listen(server);

    await expect(life.ready()).rejects.toMatchObject({ code: 'REGISTRATION_FAILED' });
    expect(logger.at('error')[0]?.msg).toMatch(/^not registered: Could not register orders/);
    expect(await get(`http://127.0.0.1:${port}/`)).toMatchObject({ body: 'still here' });
    await life.shutdown();
    expect(server.listening).toBe(false);
  });
});
