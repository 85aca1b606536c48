import { describe, expect, it } from 'vitest';
import { MemoryBackend, createInstance, createResolver } from '../../src/index.js';

describe('Resolver.statuses()', () => {
  it('lists every cached service, most recently used first, however many there are', async () => {
    const backend = new MemoryBackend();
    for (const service of ['auth_service', 'Orders', 'orders.api']) {
      await backend.register(createInstance({ id: `${service}-1`, service, host: '127.0.0.1', port: 8080 }, Date.now()), { ttlMs: 60_000 });
    }
    const resolver = createResolver({ backend });
    for (const service of ['auth_service', 'Orders', 'orders.api', 'missing']) await resolver.resolve(service).catch(() => undefined);

    expect(resolver.statuses().map((status) => status.service)).toEqual(['missing', 'orders.api', 'Orders', 'auth_service']);
    await resolver.close();
    await backend.close();
  });
});
