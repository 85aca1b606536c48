/**
 * Watch over pub/sub against a real redis-server: one subscriber connection whatever the number of
 * resolvers, every change read through the listing script (a message carries only a version, and
 * a forged one cannot put anything in a list), expiry pushed without polling, and nothing lost
 * across a lost subscriber connection.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RedisBackend } from '../../../src/backends/redis/index.js';
import { serviceKeys } from '../../../src/backends/redis/keys.js';
import { createInstance, type InstanceInput, type ServiceInstance } from '../../../src/core/instance.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { useRedisServer } from '../../helpers/redis-fixture.js';

const redis = useRedisServer();
let sequence = 0;

function pair(): { writer: RedisBackend; reader: RedisBackend } {
  const namespace = `watch-${++sequence}`;
  return { writer: redis.backend({ namespace }), reader: redis.backend({ namespace }) };
}

function instance(overrides: Partial<InstanceInput> = {}): ServiceInstance {
  return createInstance({ id: `i-${++sequence}`, service: 'orders', host: '10.0.0.1', port: 8080, ...overrides }, Date.now());
}

async function pubsubClients(): Promise<string[]> {
  const list = (await redis.admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
  return list.split('\n').filter((line) => line.trim() !== '');
}

describe('RedisBackend watch', () => {
  it('serves every resolver and service of a process from one subscriber connection', async () => {
    const { writer, reader } = pair();
    const services = ['orders', 'payments', 'billing'];
    for (const service of services) await writer.register(instance({ service }), { ttlMs: 30_000 });
    const resolvers = Array.from({ length: 4 }, () => createResolver({ backend: reader, envFallback: false }));
    redis.defer(async () => {
      await Promise.all(resolvers.map((resolver) => resolver.close()));
    });
    for (const resolver of resolvers) for (const service of services) await resolver.resolve(service);
    await vi.waitFor(() => expect(resolvers.every((r) => services.every((s) => r.status(s)?.watching))).toBe(true), { timeout: 5_000 });
    expect(reader.activeWatches).toBe(3);
    expect(await pubsubClients()).toHaveLength(1);
    // The three services' channels and the namespace's (for the expiry sweeper).
    expect((await pubsubClients())[0]).toMatch(/ sub=4 /);

    // A change reaches every resolver through that one connection.
    const added = instance({ service: 'payments' });
    await writer.register(added, { ttlMs: 30_000 });
    await vi.waitFor(() => expect(resolvers.map((r) => r.status('payments')?.listed)).toEqual([2, 2, 2, 2]), { timeout: 5_000 });
  });

  it('pushes an expiry at the deadline, swept once for the namespace instead of polled', async () => {
    const { writer, reader } = pair();
    const kept = instance();
    await writer.register(kept, { ttlMs: 60_000 });
    let latest: readonly ServiceInstance[] = [];
    reader.watch('orders', { onChange: (list) => (latest = list) });
    await vi.waitFor(() => expect(latest.map((i) => i.id)).toEqual([kept.id]));

    const expiring = instance();
    await writer.register(expiring, { ttlMs: 1_000 });
    await vi.waitFor(() => expect(latest).toHaveLength(2));
    const deadline = Number(await redis.admin.zscore(serviceKeys(reader.namespace, 'orders').deadlines, expiring.id));
    // For the second the lease lasts nothing changes, and the watch reads nothing: its one read
    // comes from the sweep's message, once the deadline has passed. No poll loop.
    const idle = reader.stats().watchRefreshes;
    await vi.waitFor(() => expect(latest.map((i) => i.id)).toEqual([kept.id]), { timeout: 3_000, interval: 10 });
    expect(await redis.serverTime()).toBeGreaterThanOrEqual(deadline);
    expect(reader.stats().watchRefreshes - idle).toBe(1);
    expect(reader.stats().expirySweeps + writer.stats().expirySweeps).toBe(1);
  });

  it('reads the service after each change message: what it pushes is what Redis holds', async () => {
    const { writer, reader } = pair();
    const first = instance();
    await writer.register(first, { ttlMs: 30_000 });
    let latest: readonly ServiceInstance[] = [];
    reader.watch('orders', { onChange: (list) => (latest = list) });
    await vi.waitFor(() => expect(latest.map((i) => i.id)).toEqual([first.id]));
    const { watchRefreshes } = reader.stats();

    const second = instance({ meta: { build: '2' } });
    await writer.register(second, { ttlMs: 30_000 });
    await vi.waitFor(() => expect(latest.map((i) => i.id).sort()).toEqual([first.id, second.id].sort()));
    expect(latest.find((i) => i.id === second.id)).toEqual(second);
    await writer.renew(first, 'draining');
    await vi.waitFor(() => expect(latest.find((i) => i.id === first.id)?.status).toBe('draining'));
    await writer.deregister(second);
    await vi.waitFor(() => expect(latest.map((i) => i.id)).toEqual([first.id]));

    // One read per change (a read may cover two changes that came close together).
    const reads = reader.stats().watchRefreshes - watchRefreshes;
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThanOrEqual(3);
    expect(await reader.instances('orders')).toEqual(latest);
  });

  it('never answers with a forged change message: a PUBLISH only makes watchers read', async () => {
    const { writer, reader } = pair();
    const real = instance({ host: '10.0.0.9' });
    await writer.register(real, { ttlMs: 30_000 });
    const resolver = createResolver({ backend: reader, envFallback: false });
    redis.defer(() => resolver.close());
    expect((await resolver.resolve('orders')).host).toBe('10.0.0.9');
    await vi.waitFor(() => expect(resolver.status('orders')?.watching).toBe(true));
    const delivered: string[][] = [];
    reader.watch('orders', { onChange: (list) => delivered.push(list.map((i) => i.host)) });
    await vi.waitFor(() => expect(delivered).toEqual([['10.0.0.9']]));
    const { watchRefreshes } = reader.stats();

    // What a change message carried before: version, server now, earliest deadline, then id and
    // record. Published by anyone who can PUBLISH, with a version far ahead.
    const [seconds] = await redis.admin.time();
    const now = Number(seconds) * 1000;
    const evil = JSON.stringify({ ...JSON.parse(JSON.stringify(real)), id: 'evil', host: 'evil.example' });
    const forged = [String(Number.MAX_SAFE_INTEGER), String(now), String(now + 3_600_000), 'evil', `3600000 passing ${now} ${evil}`].join('\n');
    const channel = serviceKeys(reader.namespace, 'orders').channel;
    for (let n = 0; n < 5; n++) await redis.admin.publish(channel, forged);
    await redis.admin.publish(channel, String(Number.MAX_SAFE_INTEGER));

    // A real change after them: messages on a channel arrive in order, so once it is delivered
    // every forged one has been handled. Each caused at most a read; no list held anything but
    // what Redis holds.
    await writer.register(instance({ host: '10.0.0.10' }), { ttlMs: 30_000 });
    await vi.waitFor(() => expect(resolver.status('orders')?.instances.map((i) => i.host).sort()).toEqual(['10.0.0.10', '10.0.0.9']));
    expect(delivered.flat()).not.toContain('evil.example');
    expect(reader.stats().watchRefreshes - watchRefreshes).toBeGreaterThanOrEqual(1);
    expect(reader.stats().watchRefreshes - watchRefreshes).toBeLessThanOrEqual(7);
    expect(reader.stats().malformedRecords).toBe(5);
  });

  it('re-subscribes after losing its connection and delivers what changed in the gap', async () => {
    const { writer, reader } = pair();
    const first = instance();
    await writer.register(first, { ttlMs: 30_000 });
    let latest: readonly ServiceInstance[] = [];
    const errors: Error[] = [];
    reader.watch('orders', { onChange: (list) => (latest = list), onError: (error) => errors.push(error) });
    await vi.waitFor(() => expect(latest.map((i) => i.id)).toEqual([first.id]));

    // Kill the subscriber connection, then change the service before it can come back: the
    // message about this registration reaches nobody.
    await redis.admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const inGap = instance();
    await writer.register(inGap, { ttlMs: 30_000 });
    expect(await pubsubClients()).toEqual([]);

    await vi.waitFor(() => expect(errors.map((error) => (error as { code?: string }).code)).toEqual(['REGISTRY_UNAVAILABLE']));
    await vi.waitFor(() => expect(latest.map((i) => i.id).sort()).toEqual([first.id, inGap.id].sort()), { timeout: 3_000 });
    expect(await pubsubClients()).toHaveLength(1);

    // Pushes work again on the new connection.
    await writer.deregister(first);
    await vi.waitFor(() => expect(latest.map((i) => i.id)).toEqual([inGap.id]));
  });

  it('stops the underlying subscription when the last subscriber leaves', async () => {
    const { writer, reader } = pair();
    const seen: number[] = [];
    const stop = reader.watch('orders', { onChange: (list) => seen.push(list.length) });
    await vi.waitFor(() => expect(seen).toEqual([0]));
    await vi.waitFor(async () => expect((await pubsubClients())[0]).toMatch(/ sub=2 /));
    stop();
    expect(reader.activeWatches).toBe(0);
    // With no channel left the connection leaves pub/sub mode.
    await vi.waitFor(async () => expect(await pubsubClients()).toEqual([]));
    // A watcher elsewhere hears of the next registration; the one that left does not.
    const witness: number[] = [];
    redis.backend({ namespace: writer.namespace }).watch('orders', { onChange: (list) => witness.push(list.length) });
    await vi.waitFor(() => expect(witness).toEqual([0]));
    await writer.register(instance(), { ttlMs: 30_000 });
    await vi.waitFor(() => expect(witness).toEqual([0, 1]));
    expect(seen).toEqual([0]);
  });
});
