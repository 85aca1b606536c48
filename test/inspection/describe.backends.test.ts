import { afterEach, describe, expect, it } from 'vitest';
import { ConsulBackend } from '../../src/backends/consul/index.js';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { createInstance, describeRegistry, type InstanceStatus, type RegistryBackend } from '../../src/index.js';
import { ConsulDouble } from '../helpers/consul-double/index.js';
import { startRedis } from '../helpers/redis-server.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Registers the seed-style fleet on `backend` and returns what describeRegistry reports of it. */
async function describeFleet(backend: RegistryBackend): Promise<unknown> {
  const fleet: Array<[string, string, InstanceStatus]> = [
    ['auth_service', 'auth-1', 'passing'],
    ['auth_service', 'auth-2', 'critical'],
    ['Orders', 'orders-1', 'warning'],
    ['orders.api', 'api-1', 'critical'],
  ];
  for (const [service, id, status] of fleet) {
    await backend.register(createInstance({ id, service, host: '127.0.0.1', port: 9000, status }, Date.now()), { ttlMs: 60_000 });
  }
  const registry = await describeRegistry(backend);
  return {
    services: registry.services.map((s) => ({ service: s.service, health: s.health, ids: s.instances.map((i) => i.id), statuses: s.instances.map((i) => i.status) })),
    instanceCounts: registry.instanceCounts,
  };
}

const expected = {
  services: [
    { service: 'Orders', health: 'warning', ids: ['orders-1'], statuses: ['warning'] },
    { service: 'auth_service', health: 'passing', ids: ['auth-1', 'auth-2'], statuses: ['passing', 'critical'] },
    { service: 'orders.api', health: 'critical', ids: ['api-1'], statuses: ['critical'] },
  ],
  instanceCounts: { passing: 1, warning: 1, critical: 2, draining: 0 },
};

describe('describeRegistry on real registries', () => {
  it('reads the same picture from real Redis', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const backend = new RedisBackend({ url: redis.url });
    cleanups.push(() => backend.close());

    expect(await describeFleet(backend)).toEqual(expected);
  });

  it('reads the same picture from Consul (the double)', async () => {
    const double = await ConsulDouble.start();
    cleanups.push(() => double.close());
    const backend = new ConsulBackend({ address: double.url, env: {} });
    cleanups.push(() => backend.close());

    // Consul lists itself as the service `consul`, as a real agent does.
    expect(await describeFleet(backend)).toEqual({
      services: [...expected.services.slice(0, 2), { service: 'consul', health: 'passing', ids: ['consul'], statuses: ['passing'] }, ...expected.services.slice(2)],
      instanceCounts: { ...expected.instanceCounts, passing: 2 },
    });
  });
});
