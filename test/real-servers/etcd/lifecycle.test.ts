/**
 * Resource hygiene on a real etcd: after a registration, a watching resolver and close(), the
 * process holds no handle (sockets, watch streams, timers); a renewal racing close() settles.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EtcdBackend } from '../../../src/backends/etcd/index.js';
import { autoRegister } from '../../../src/registration/registration.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { startEtcd, type EtcdMember } from '../../helpers/etcd-server.js';

let member: EtcdMember;

beforeAll(async () => {
  member = await startEtcd();
});

afterAll(async () => {
  await member?.stop();
});

const resources = (): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
};

describe('EtcdBackend lifecycle', () => {
  it('holds no handle after registration, watching and close()', async () => {
    const before = resources();
    const backend = new EtcdBackend({ endpoints: member.clientUrl, namespace: 'lifecycle', env: {} });
    const registration = await autoRegister({ backend, service: 'orders', host: '127.0.0.1', port: 8080, ttlMs: 2_000, required: true });
    const resolver = createResolver({ backend });
    await resolver.resolve('orders');
    await vi.waitFor(() => expect(resolver.status('orders')?.watching).toBe(true));
    expect(backend.stats().activeWatches).toBe(1);
    await registration.stop();
    await resolver.close();
    const renewing = backend.renew({ service: 'orders', id: registration.instance.id }, 'passing').catch((error: unknown) => error);
    await backend.close();
    await renewing;
    expect(backend.stats().activeWatches).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const grown = [...resources()].filter(([name, count]) => count > (before.get(name) ?? 0));
    expect(grown).toEqual([]);
  });
});
