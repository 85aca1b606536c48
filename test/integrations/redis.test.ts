import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { Redis } from 'ioredis';
import { autoRegister, createResolver, type Resolver } from '../../src/index.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { ADAPTERS } from './adapters.js';
import { eventually, expectNoNewHandles, get, openHandles } from './helpers.js';

// The same lifecycle as the memory-backed tests, against a real Redis: the registry is another
// process, the drain travels through Redis pub/sub, and the backends the integrations create
// from a factory hold real connections that must be closed.
let redis: RedisServer;
let observer: RedisBackend;
let client: Resolver;

beforeAll(async () => {
  redis = await startRedis();
  observer = new RedisBackend({ url: redis.url });
  client = createResolver({ backend: observer });
  // Opens the observer's connections (commands, and watches) now, so that each test's open-handles
  // count only sees the connections of the app under test.
  await expect(client.resolve('warm-up')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
});

afterAll(async () => {
  await client.close();
  await observer.close();
  await redis.stop();
});

for (const adapter of ADAPTERS) {
  describe(`${adapter.name} on Redis`, () => {
    it('registers the bound port in Redis, stops being picked as soon as it drains, is gone after close, and leaves nothing open', async () => {
      const service = `redis-${ADAPTERS.indexOf(adapter)}`;
      const before = openHandles();
      const app = await adapter.start({
        options: { backend: () => new RedisBackend({ url: redis.url }), service, drainWaitMs: 1_000 },
        routes: { '/': () => adapter.name },
      });
      await app.handle.ready();

      expect(await observer.instances(service)).toEqual([expect.objectContaining({ host: '127.0.0.1', port: app.port, status: 'passing' })]);
      expect(await client.resolveUrl(service)).toBe(`http://127.0.0.1:${app.port}`);

      const closing = app.close();
      await eventually(async () => (await client.resolveAll(service).catch(() => [])).length === 0);
      // As soon as it drains: still in its drain wait, listed as draining in Redis, still serving.
      expect(app.handle.state).toBe('draining');
      expect(await observer.instances(service)).toEqual([expect.objectContaining({ status: 'draining' })]);
      expect(await get(`http://127.0.0.1:${app.port}/`)).toMatchObject({ status: 200, body: adapter.name });
      await closing;

      expect(await observer.instances(service)).toEqual([]);
      expect(app.handle.state).toBe('stopped');
      await expectNoNewHandles(before);
    });
  });
}

describe('a health check that pings Redis', () => {
  it('counts ioredis PONG as passing, and a failing ping as critical after failuresBeforeCritical rounds', async () => {
    const pinger = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    const registration = await autoRegister({
      backend: observer,
      service: 'redis-pinged',
      host: '127.0.0.1',
      port: 9000,
      ttlMs: 1_000,
      failuresBeforeCritical: 2,
      healthChecks: { redis: () => pinger.ping() },
    });
    expect(registration.health.checks.redis).toEqual({ status: 'passing' });
    expect(await observer.instances('redis-pinged')).toEqual([expect.objectContaining({ status: 'passing' })]);

    pinger.disconnect();
    await eventually(async () => (await observer.instances('redis-pinged'))[0]?.status === 'critical');
    expect(registration.health.checks.redis).toEqual({ status: 'critical', output: expect.stringMatching(/closed/i) as unknown });
    await registration.stop();
  });
});
