/**
 * Resource hygiene on a real etcd: after a registration, a watching resolver and close(), the
 * process holds no handle (sockets, watch streams, timers); a renewal racing close() settles.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EtcdBackend } from '../../../src/backends/etcd/index.js';
import { autoRegister } from '../../../src/registration/registration.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { startEtcd, type EtcdMember } from '../../helpers/etcd-server.js';
import { activeResources, grownSince } from '../../helpers/resources.js';

let member: EtcdMember;

beforeAll(async () => {
  member = await startEtcd();
});

afterAll(async () => {
  await member?.stop();
});

describe('EtcdBackend lifecycle', () => {
  it('holds no handle after registration, watching and close()', async () => {
    const before = activeResources();
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
    expect(await grownSince(before)).toEqual([]);
  });
});
