/**
 * Consul down, slow, failing or refusing: typed errors within bounded time, and a resolver that
 * falls back to its stale cache or the environment.
 */
import { createServer } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { ConsulBackend } from '../../../src/backends/consul/index.js';
import { isRollcallError, type RollcallError } from '../../../src/core/errors.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { instance, useConsulHarness } from '../../helpers/consul-double/harness.js';

const start = useConsulHarness();

async function failure(promise: Promise<unknown>): Promise<RollcallError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isRollcallError(error)) throw new Error(`expected a rollcall error, got ${String(error)}`);
  return error;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Consul failures', () => {
  it('reports Consul down as REGISTRY_UNAVAILABLE at once, naming the address', async () => {
    const port = await closedPort();
    // Ten minutes of request timeout: a failure within the test's time is the refused connection's.
    const consul = new ConsulBackend({ address: `127.0.0.1:${port}`, token: 'secret-token-1234', env: {}, requestTimeoutMs: 600_000 });
    try {
      for (const call of [() => consul.register(instance(), { ttlMs: 15_000 }), () => consul.instances('orders'), () => consul.services()]) {
        const error = await failure(call());
        expect(error.code).toBe('REGISTRY_UNAVAILABLE');
        expect(error.message).toContain(`could not reach Consul at http://127.0.0.1:${port}`);
        expect(error.message).toContain('ECONNREFUSED');
        expect(error.message).not.toContain('secret-token-1234');
      }
    } finally {
      await consul.close();
    }
  });

  it('bounds a slow or silent Consul by requestTimeoutMs', async () => {
    const { double, backend } = await start();
    const consul = backend({ requestTimeoutMs: 200 });
    double.injectFault({ path: '/v1/health/service/orders', delayMs: 5_000 });
    double.injectFault({ path: '/v1/agent/service/register', hang: true });
    for (const [path, call] of [
      ['/v1/health/service/orders', () => consul.instances('orders')],
      ['/v1/agent/service/register', () => consul.register(instance(), { ttlMs: 15_000 })],
    ] as const) {
      const started = Date.now();
      const error = await failure(call());
      expect(error.code).toBe('REGISTRY_UNAVAILABLE');
      expect(error.message).toContain('within 200 ms');
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      // rollcall gave up on the request before Consul answered it (the slow one would have, after 5 s).
      await vi.waitFor(() => expect(double.requestsTo(path).map((r) => [r.aborted, r.status])).toEqual([[true, undefined]]));
    }
  });

  it('turns a 500 into REGISTRY_UNAVAILABLE and a 403 into REGISTRY_AUTH, quoting Consul', async () => {
    const { double, backend } = await start();
    const consul = backend({ token: 'secret-token-1234' });
    double.injectFault({ path: '/v1/health/service/orders', status: 500, body: 'No cluster leader', times: 1 });
    const unavailable = await failure(consul.instances('orders'));
    expect([unavailable.code, unavailable.message]).toEqual(['REGISTRY_UNAVAILABLE', 'consul registry: instances failed: Consul answered 500: No cluster leader']);
    double.injectFault({ path: '/v1/agent/service/register', status: 403, body: 'ACL not found', times: 1 });
    const refused = await failure(consul.register(instance(), { ttlMs: 15_000 }));
    expect(refused.code).toBe('REGISTRY_AUTH');
    expect(refused.message).toMatch(/^consul registry: register was refused: Consul answered 403 \(ACL not found\): the ACL token is unknown/);
    double.injectFault({ path: '/v1/catalog/services', status: 429, body: 'rate limit exceeded', times: 1 });
    expect((await failure(consul.services())).code).toBe('REGISTRY_UNAVAILABLE');
  });

  it('lets a resolver serve its stale cache while Consul fails, and recover after', async () => {
    const { double, backend } = await start();
    const consul = backend({ requestTimeoutMs: 300 });
    const registered = instance();
    await consul.register(registered, { ttlMs: 15_000 });
    const resolver = createResolver({ backend: consul, watch: false, cacheTtlMs: 50, degradedRetryMs: 50, envFallback: false });
    const degraded: string[] = [];
    resolver.on('degraded', (event) => degraded.push(event.source));
    try {
      expect((await resolver.resolve('orders')).id).toBe(registered.id);
      const remove = double.injectFault({ path: '/v1/health/service/orders', status: 500, body: 'No cluster leader' });
      // Once the 50 ms cache entry lapses, the registry's failure turns the answer stale.
      await vi.waitFor(async () => {
        expect((await resolver.resolve('orders')).id).toBe(registered.id);
        expect(resolver.status('orders')?.source).toBe('stale');
      });
      expect(degraded).toEqual(['stale']);
      remove();
      await vi.waitFor(async () => {
        await resolver.resolve('orders');
        expect(resolver.status('orders')?.source).toBe('cache');
      });
      expect(resolver.health).toBe('healthy');
    } finally {
      await resolver.close();
    }
  });

  it('lets a resolver fall back to the environment when Consul hangs, within its timeout', async () => {
    const { double, backend } = await start();
    double.injectFault({ path: '/v1/health/service/orders', hang: true });
    const resolver = createResolver({
      backend: backend({ requestTimeoutMs: 60_000 }),
      watch: false,
      registryTimeoutMs: 200,
      envFallback: { env: { ORDERS_URL: 'http://10.9.9.9:9000' } },
    });
    try {
      const found = await resolver.resolve('orders');
      expect([found.host, found.port, resolver.status('orders')?.source]).toEqual(['10.9.9.9', 9000, 'env']);
      // Answered by registryTimeoutMs: Consul never answered, and the backend's own timeout is a
      // minute away, longer than this test may run.
      expect(double.requestsTo('/v1/health/service/orders').map((r) => r.status)).toEqual([undefined]);
    } finally {
      // close() waits for the hung request: end it the way a restarting agent would.
      double.restart({ keepData: true });
      await resolver.close();
    }
  });

  it('lets a watching resolver keep its answer through a watch outage', async () => {
    const { double, backend } = await start();
    const consul = backend({ watchRetryInitialDelayMs: 50 });
    const registered = instance();
    await consul.register(registered, { ttlMs: 15_000 });
    const resolver = createResolver({ backend: consul, envFallback: false });
    try {
      expect((await resolver.resolve('orders')).id).toBe(registered.id);
      await vi.waitFor(() => expect(resolver.status('orders')?.watching).toBe(true));
      double.injectFault({ path: '/v1/health/service/orders', status: 503, body: 'unavailable', times: 3 });
      double.state.wakeBlockingQueries();
      await vi.waitFor(() => expect(resolver.status('orders')?.watching).toBe(false));
      expect((await resolver.resolve('orders')).id).toBe(registered.id);
      await vi.waitFor(() => expect(resolver.status('orders')?.watching).toBe(true), { timeout: 3_000 });
    } finally {
      await resolver.close();
    }
  });
});
