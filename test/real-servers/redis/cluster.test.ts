/**
 * RedisBackend on a three-master Redis Cluster: the conformance suite, then registration, listing
 * and watch for services spread over slots on different nodes.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { serviceKeys } from '../../../src/backends/redis/keys.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { describeBackendConformance } from '../../../src/testing/index.js';
import { useCleanups } from '../../helpers/redis-fixture.js';
import { redisCommand, startCluster, type RedisClusterGroup } from '../../helpers/redis-server.js';

let cluster: RedisClusterGroup | undefined;
const defer = useCleanups();

beforeAll(async () => {
  cluster = await startCluster(3);
});

afterAll(async () => {
  await cluster?.stop();
});

function nodes(): { host: string; port: number }[] {
  if (cluster === undefined) throw new Error('the cluster did not start');
  return [...cluster.startupNodes];
}

describeBackendConformance('RedisBackend (Cluster, 3 masters)', {
  create: ({ namespace }) => new RedisBackend({ cluster: { nodes: nodes() }, namespace }),
  // What a flush does to one namespace, on every node (one key at a time: keys of several slots).
  loseData: async ({ namespace }) => {
    for (const node of nodes()) {
      for (const pattern of [`{${namespace}:*`, `{${namespace}}:*`]) {
        for (const key of (await redisCommand(node, 'KEYS', pattern)) as string[]) await redisCommand(node, 'DEL', key);
      }
    }
  },
});

describe('RedisBackend across Cluster slots', () => {
  const services = ['orders', 'payments', 'billing', 'search', 'accounts', 'shipping'];

  function instance(service: string, n = 1): ServiceInstance {
    return createInstance({ id: `${service}-${n}`, service, host: '10.0.0.1', port: 8080 + n }, Date.now());
  }

  /** The node (port) serving each service's keys, asked of the cluster itself. */
  async function placement(namespace: string): Promise<Map<string, number>> {
    const node = new Redis(nodes()[0] ?? { port: 0 });
    try {
      const slots = (await node.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const owner = (slot: number): number => slots.find(([from, to]) => slot >= from && slot <= to)?.[2][1] ?? -1;
      const result = new Map<string, number>();
      for (const service of services) {
        const keys = serviceKeys(namespace, service);
        const keySlots = await Promise.all([keys.deadlines, keys.records].map((key) => node.call('CLUSTER', 'KEYSLOT', key)));
        // One service, one slot: its script can touch all its keys.
        expect(new Set(keySlots).size).toBe(1);
        result.set(service, owner(keySlots[0] as number));
      }
      return result;
    } finally {
      node.disconnect();
    }
  }

  it('registers, lists, renews and deregisters services whose keys live on different nodes', async () => {
    // Chosen so that the six services' slots fall on all three masters.
    const namespace = 'cluster-a';
    const owned = new Cluster(nodes());
    const writer = new RedisBackend({ cluster: { nodes: nodes() }, namespace });
    // A Cluster client the caller owns works the same way.
    const reader = new RedisBackend({ client: owned, namespace });
    defer(
      () => writer.close(),
      () => reader.close(),
      () => Promise.resolve(owned.disconnect()),
    );
    const where = await placement(namespace);
    expect(new Set(where.values()).size).toBe(3);

    for (const service of services) {
      await writer.register(instance(service, 1), { ttlMs: 30_000 });
      await writer.register(instance(service, 2), { ttlMs: 30_000 });
    }
    expect(await reader.services()).toEqual([...services].sort());
    for (const service of services) {
      expect((await reader.instances(service)).map((i) => i.id)).toEqual([`${service}-1`, `${service}-2`]);
      await expect(writer.renew(instance(service, 1), 'warning')).resolves.toBe('renewed');
    }
    expect((await reader.instances('search')).map((i) => i.status)).toEqual(['warning', 'passing']);

    for (const service of services) {
      await writer.deregister(instance(service, 1));
      await writer.deregister(instance(service, 2));
    }
    expect(await reader.services()).toEqual([]);
    await expect(writer.renew(instance('orders', 1), 'passing')).resolves.toBe('lost');
    expect(owned.status).toBe('ready');
  });

  it('pushes changes and expiries of services on every node through one subscriber connection', async () => {
    const namespace = 'cluster-b';
    expect(new Set((await placement(namespace)).values()).size).toBe(3);
    const writer = new RedisBackend({ cluster: { nodes: nodes() }, namespace });
    const reader = new RedisBackend({ cluster: { nodes: nodes() }, namespace });
    defer(
      () => writer.close(),
      () => reader.close(),
    );
    const latest = new Map<string, readonly ServiceInstance[]>();
    for (const service of services) reader.watch(service, { onChange: (list) => latest.set(service, list) });
    await vi.waitFor(() => expect(services.map((s) => latest.get(s)?.length)).toEqual(services.map(() => 0)));

    for (const service of services) await writer.register(instance(service), { ttlMs: 30_000 });
    await vi.waitFor(() => expect(services.map((s) => latest.get(s)?.length)).toEqual(services.map(() => 1)));

    await writer.renew(instance('billing'), 'draining');
    await vi.waitFor(() => expect(latest.get('billing')?.[0]?.status).toBe('draining'));

    await writer.register(instance('shipping', 2), { ttlMs: 1_000 });
    await vi.waitFor(() => expect(latest.get('shipping')).toHaveLength(2));
    await vi.waitFor(() => expect(latest.get('shipping')?.map((i) => i.id)).toEqual(['shipping-1']), { timeout: 2_500 });
    // Swept by the namespace's sweeper through the expiry index, which lives in another slot.
    expect(reader.stats().expirySweeps).toBe(1);

    let subscribers = 0;
    for (const node of nodes()) {
      const client = new Redis(node);
      const list = (await client.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
      client.disconnect();
      subscribers += list.split('\n').filter((line) => line.includes(' sub=')).length;
    }
    expect(subscribers).toBe(1);
  });
});
