/**
 * Service names as real systems write them (`auth_service`, `Orders`, `orders.api`) work end to end
 * on a real redis-server: register, list, watch, services(), resolve, with case preserved.
 */
import { describe, expect, it, vi } from 'vitest';
import { serviceKeys } from '../../../src/backends/redis/keys.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { useRedisServer } from '../../helpers/redis-fixture.js';
import { redisCommand } from '../../helpers/redis-server.js';

const NAMES = ['auth_service', 'model_service', 'osint_service', 'Orders', 'orders', 'orders.api', 'ip-intel', 'A', '9lives', 'x'.repeat(128)];

const redis = useRedisServer();

function instance(service: string, n: number): ServiceInstance {
  return createInstance({ id: `${service.slice(0, 100)}-${n}`, service, host: `10.0.0.${n}`, port: 8080 }, Date.now());
}

describe('seed-style service names on Redis', () => {
  it('registers, lists, watches, resolves and indexes each name, case preserved', async () => {
    const writer = redis.backend({ namespace: 'names' });
    const reader = redis.backend({ namespace: 'names' });
    const watched = new Map<string, string[]>();
    for (const service of NAMES) reader.watch(service, { onChange: (list) => watched.set(service, list.map((i) => i.id)) });
    await vi.waitFor(() => expect(NAMES.map((service) => watched.get(service))).toEqual(NAMES.map(() => [])));

    for (const service of NAMES) await writer.register(instance(service, 1), { ttlMs: 30_000 });
    await writer.register(instance('Orders', 2), { ttlMs: 30_000 });

    expect(await reader.services()).toEqual([...NAMES].sort());
    for (const service of NAMES) {
      const expected = service === 'Orders' ? [instance(service, 1).id, instance(service, 2).id] : [instance(service, 1).id];
      expect((await reader.instances(service)).map((i) => [i.service, i.id])).toEqual(expected.map((id) => [service, id]));
      await vi.waitFor(() => expect(watched.get(service)).toEqual(expected));
    }
    // `Orders` and `orders` are two services with two sets of keys.
    expect(serviceKeys('names', 'Orders').records).not.toBe(serviceKeys('names', 'orders').records);
    const keys = (await redisCommand(redis.server, 'KEYS', '{names:*')) as string[];
    expect(keys).toContain('{names:auth_service}:records');
    expect(keys).toContain('{names:orders.api}:deadlines');

    const resolver = createResolver({ backend: reader, envFallback: false });
    redis.defer(() => resolver.close());
    expect((await resolver.resolve('auth_service')).host).toBe('10.0.0.1');
    expect((await resolver.resolve('orders.api')).service).toBe('orders.api');

    await writer.renew(instance('auth_service', 1), 'draining');
    await vi.waitFor(async () => expect((await reader.instances('auth_service'))[0]?.status).toBe('draining'));
    await writer.deregister(instance('orders.api', 1));
    await vi.waitFor(() => expect(watched.get('orders.api')).toEqual([]));
    expect(await reader.services()).not.toContain('orders.api');
  });
});
