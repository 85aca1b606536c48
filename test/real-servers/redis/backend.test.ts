/**
 * RedisBackend against a real redis-server: key layout, one round trip per operation, the services
 * index, and who closes what.
 */
import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { serviceKeys, servicesIndexKey } from '../../../src/backends/redis/keys.js';
import { namespaceKeys } from '../../../src/backends/redis/keys.js';
import { createInstance, type InstanceInput, type ServiceInstance } from '../../../src/core/instance.js';
import { freshNamespace, useRedisServer } from '../../helpers/redis-fixture.js';
import { activeResources, grownSince } from '../../helpers/resources.js';
import { freePort, startRedis } from '../../helpers/redis-server.js';

const redis = useRedisServer();
let sequence = 0;

function userClient(): Redis {
  const client = new Redis(redis.server.url);
  redis.defer(() => client.disconnect());
  return client;
}

function instance(overrides: Partial<InstanceInput> = {}): ServiceInstance {
  return createInstance({ id: `i-${++sequence}`, service: 'orders', host: '10.0.0.1', port: 8080, ...overrides }, Date.now());
}

describe('key layout', () => {
  it('keeps one service in three keys under one hash tag, plus a services index and an expiry index', async () => {
    const b = redis.backend();
    const registered = instance({ status: 'warning' });
    const before = await redis.serverTime();
    await b.register(registered, { ttlMs: 5_000 });
    const keys = serviceKeys(b.namespace, 'orders');
    const index = servicesIndexKey(b.namespace);
    const { expiries } = namespaceKeys(b.namespace);
    expect([keys.deadlines, keys.records, keys.log, keys.channel, index, expiries]).toEqual([
      `{${b.namespace}:orders}:deadlines`,
      `{${b.namespace}:orders}:records`,
      `{${b.namespace}:orders}:log`,
      `{${b.namespace}:orders}:changes`,
      `{${b.namespace}}:services`,
      `{${b.namespace}}:expiries`,
    ]);
    expect((await redis.admin.keys(`*${b.namespace}*`)).sort()).toEqual([index, expiries, keys.deadlines, keys.records, keys.log].sort());

    const after = await redis.serverTime();
    // The server's time at registration plus the TTL.
    const deadline = Number(await redis.admin.zscore(keys.deadlines, registered.id));
    expect(deadline).toBeGreaterThanOrEqual(before + 5_000);
    expect(deadline).toBeLessThanOrEqual(after + 5_000);
    expect(Number(await redis.admin.zscore(index, 'orders'))).toBe(deadline);
    // The expiry index holds the service's earliest deadline, the log the version of each change.
    expect(Number(await redis.admin.zscore(expiries, 'orders'))).toBe(deadline);
    expect(await redis.admin.zrange(keys.log, 0, -1, 'WITHSCORES')).toEqual([registered.id, await redis.admin.hget(keys.records, '#version')]);
    const record = (await redis.admin.hget(keys.records, registered.id)) ?? '';
    const prefix = `5000 warning ${registered.updatedAt} `;
    expect(record.startsWith(prefix)).toBe(true);
    expect(JSON.parse(record.slice(prefix.length))).toEqual(JSON.parse(JSON.stringify(registered)));
    // The service's version, a µs timestamp of the server's clock or past it.
    expect(Number(await redis.admin.hget(keys.records, '#version'))).toBeGreaterThanOrEqual(before * 1_000);
    // Abandoned services clean themselves up: the keys expire a minute after the last deadline.
    for (const key of [keys.deadlines, keys.records, keys.log]) {
      const expiresAt = Number(await redis.admin.call('PEXPIRETIME', key));
      expect(expiresAt).toBeGreaterThanOrEqual(before + 5_000 + 60_000);
      expect(expiresAt).toBeLessThanOrEqual(after + 5_000 + 60_000);
    }
    expect(await redis.admin.pttl(index)).toBe(-1);
    expect(await redis.admin.pttl(expiries)).toBe(-1);
  });

  it('publishes every change on the service channel, as its new version and nothing else', async () => {
    const b = redis.backend();
    const subscriber = userClient();
    const messages: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe(serviceKeys(b.namespace, 'orders').channel);
    const registered = instance({ id: 'watched' });
    await b.register(registered, { ttlMs: 30_000 });
    // A renewal that changes nothing tells nobody.
    await b.renew(registered, 'passing');
    await b.renew(registered, 'draining');
    await b.deregister(registered);
    await vi.waitFor(() => expect(messages).toHaveLength(3));
    for (const message of messages) expect(message).toMatch(/^\d{16}$/);
    const versions = messages.map(Number);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect(new Set(versions).size).toBe(3);
    expect(Number(await redis.admin.hget(serviceKeys(b.namespace, 'orders').records, '#version'))).toBe(versions.at(-1));
  });

  it('stores who owns each instance as digests, never the owner secret, and an epoch per records hash', async () => {
    const b = redis.backend();
    const registered = instance({ id: 'owned' });
    const before = await redis.serverTime();
    await b.register(registered, { ttlMs: 30_000 });
    const keys = serviceKeys(b.namespace, 'orders');
    const fields = await redis.admin.hgetall(keys.records);
    expect(Object.keys(fields).sort()).toEqual(['#epoch', '#logfrom', '#owner:owned', '#version', 'owned']);
    expect(fields['#owner:owned']).toMatch(/^[0-9a-f]{40}$/);
    expect(Number(fields['#epoch'])).toBeGreaterThanOrEqual(before * 1_000);
    // The epoch stays as long as the hash does.
    await b.register(instance({ id: 'second' }), { ttlMs: 30_000 });
    await b.deregister(registered);
    expect(await redis.admin.hget(keys.records, '#epoch')).toBe(fields['#epoch']);
    expect(await redis.admin.hexists(keys.records, '#owner:owned')).toBe(0);
  });
});

describe('round trips', () => {
  it('sends one command per register, renew, listing, deregistration and services() outside Cluster', async () => {
    const client = userClient();
    const b = redis.backend({ client });
    const registered = instance();
    // The first call of each script loads it (NOSCRIPT, then EVAL); the steady state is measured after.
    await b.register(registered, { ttlMs: 30_000 });
    await b.renew(registered, 'passing');
    await b.instances('orders');
    await b.services();
    await b.deregister(instance());

    const sent = vi.spyOn(client, 'sendCommand');
    const count = async (operation: () => Promise<unknown>): Promise<string[]> => {
      sent.mockClear();
      await operation();
      return sent.mock.calls.map(([command]) => command.name);
    };
    expect(await count(() => b.register(instance(), { ttlMs: 30_000 }))).toEqual(['evalsha']);
    expect(await count(() => b.renew(registered, 'warning'))).toEqual(['evalsha']);
    expect(await count(() => b.instances('orders'))).toEqual(['evalsha']);
    expect(await count(() => b.services())).toEqual(['evalsha']);
    expect(await count(() => b.deregister(registered))).toEqual(['evalsha']);
  });

  it('loads its scripts again after the server lost them', async () => {
    const b = redis.backend();
    await b.register(instance(), { ttlMs: 30_000 });
    await redis.admin.script('FLUSH');
    await b.register(instance(), { ttlMs: 30_000 });
    expect(await b.instances('orders')).toHaveLength(2);
  });
});

describe('services index', () => {
  it('drops a service when its last instance leaves or expires, without KEYS or SCAN', async () => {
    const b = redis.backend();
    const staying = instance({ service: 'payments' });
    const leaving = instance({ service: 'orders' });
    const expiring = instance({ service: 'billing' });
    await b.register(staying, { ttlMs: 30_000 });
    await b.register(leaving, { ttlMs: 30_000 });
    await b.register(expiring, { ttlMs: 1_000 });
    expect(await b.services()).toEqual(['billing', 'orders', 'payments']);
    await b.deregister(leaving);
    expect(await b.services()).toEqual(['billing', 'payments']);
    await vi.waitFor(async () => expect(await b.services()).toEqual(['payments']), { timeout: 2_500, interval: 100 });
    expect(await redis.admin.zrange(servicesIndexKey(b.namespace), 0, -1)).toEqual(['payments']);
  });

  it('keeps a service listed while any instance lives, whatever order they come and go in', async () => {
    const b = redis.backend();
    const long = instance();
    const short = instance();
    await b.register(long, { ttlMs: 30_000 });
    await b.register(short, { ttlMs: 1_000 });
    await b.deregister(long);
    expect(await b.services()).toEqual(['orders']);
    await b.register(long, { ttlMs: 30_000 });
    await b.deregister(short);
    expect(await b.services()).toEqual(['orders']);
  });

  it('prunes expired instances with their records', async () => {
    const b = redis.backend({ pruneLimit: 2 });
    const keys = serviceKeys(b.namespace, 'orders');
    const expiring = Array.from({ length: 5 }, () => instance());
    for (const dying of expiring) await b.register(dying, { ttlMs: 1_000 });
    const kept = instance();
    await b.register(kept, { ttlMs: 30_000 });
    const lastDeadline = Math.max(...(await Promise.all(expiring.map(async (dying) => Number(await redis.admin.zscore(keys.deadlines, dying.id))))));
    await vi.waitFor(async () => expect(await redis.serverTime()).toBeGreaterThan(lastDeadline), { timeout: 3_000 });
    // Expired entries are never returned, even those beyond the prune limit of this call.
    expect((await b.instances('orders')).map((i) => i.id)).toEqual([kept.id]);
    expect(await redis.admin.zcard(keys.deadlines)).toBe(4);
    await b.instances('orders');
    await b.instances('orders');
    expect(await redis.admin.zcard(keys.deadlines)).toBe(1);
    expect((await redis.admin.hkeys(keys.records)).sort()).toEqual(['#epoch', '#logfrom', `#owner:${kept.id}`, '#version', kept.id]);
  });
});

describe('ownership and close', () => {
  it('leaves a client it was given open, and closes its own watch connection', async () => {
    const client = userClient();
    const b = redis.backend({ client });
    const seen: number[] = [];
    b.watch('orders', { onChange: (list) => seen.push(list.length) });
    await vi.waitFor(() => expect(seen).toEqual([0]));
    expect(await pubsubClients()).toBe(1);
    await b.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    await vi.waitFor(async () => expect(await pubsubClients()).toBe(0));
  });

  it('closes a client it was given when asked to, and clients it built itself', async () => {
    const client = userClient();
    const given = redis.backend({ client, closeClient: true });
    const built = redis.backend();
    await given.instances('orders');
    await built.instances('orders');
    await Promise.all([given.close(), built.close()]);
    expect(client.status).toBe('end');
    expect(built.client.status).toBe('end');
  });

  it('waits for calls in flight, then rejects new ones with CLOSED', async () => {
    const b = redis.backend();
    await b.register(instance(), { ttlMs: 30_000 });
    const listing = b.instances('orders');
    const closing = b.close();
    await expect(listing).resolves.toHaveLength(1);
    await closing;
    await expect(b.instances('orders')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(b.services()).rejects.toMatchObject({ code: 'CLOSED' });
    expect(() => b.watch('orders', { onChange: () => {} })).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });

  it('holds no handle after close, even when closed in the middle of an outage', async () => {
    const doomed = await startRedis();
    try {
      const before = activeResources();
      const b = new RedisBackend({ url: doomed.url, namespace: freshNamespace() });
      const errors: Error[] = [];
      let lists = 0;
      b.watch('orders', { onChange: () => lists++, onError: (error) => errors.push(error) });
      await b.register(instance(), { ttlMs: 30_000 });
      await vi.waitFor(() => expect(lists).toBeGreaterThan(0));
      await doomed.kill();
      // Now the main client waits to reconnect and the watcher to bring its subscriber back.
      await vi.waitFor(() => expect(errors).toHaveLength(1));
      await b.close();
      expect(await grownSince(before)).toEqual([]);
    } finally {
      await doomed.stop();
    }
  });

  it('fails fast when the server cannot be reached at all', async () => {
    // A minute of operationTimeoutMs: failing within the test's time is failing on the refusal.
    const b = redis.backend({ url: `redis://127.0.0.1:${await freePort()}`, operationTimeoutMs: 60_000 });
    await expect(b.register(instance(), { ttlMs: 30_000 })).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE', message: text(/ECONNREFUSED/) });
    await expect(b.instances('orders')).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE', message: text(/ECONNREFUSED/) });
  });
});

async function pubsubClients(): Promise<number> {
  const list = (await redis.admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
  return list.split('\n').filter((line) => line.trim() !== '').length;
}

/** An asymmetric matcher for a string containing `pattern` (or matching it), typed for strict lint. */
function text(pattern: string | RegExp): unknown {
  return typeof pattern === 'string' ? expect.stringContaining(pattern) : expect.stringMatching(pattern);
}
