/**
 * A 3-member etcd cluster loses its leader to kill -9: registrations go on renewing the same
 * leases (nothing re-registers), watches on the surviving members keep delivering changes, and
 * resolves never fail.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EtcdBackend } from '../../../src/backends/etcd/index.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { autoRegister, type Registration } from '../../../src/registration/registration.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { startEtcdCluster, type EtcdCluster } from '../../helpers/etcd-server.js';

let cluster: EtcdCluster;

beforeAll(async () => {
  cluster = await startEtcdCluster(3);
});

afterAll(async () => {
  await cluster?.stop();
});

const ids = (list: readonly ServiceInstance[]): string[] => list.map((i) => i.id).sort();

describe('a 3-member etcd cluster whose leader is killed', () => {
  it('keeps registrations and watches alive through the election', async () => {
    const options = { endpoints: cluster.endpoints, namespace: 'cluster', env: {}, requestTimeoutMs: 1_000, watchRetryInitialDelayMs: 100, watchRetryMaxDelayMs: 500 };
    // Each backend starts on another member, as processes do.
    const writer = new EtcdBackend({ ...options, random: () => 0 });
    const readers = [1, 2].map((n) => new EtcdBackend({ ...options, random: () => n / 3 }));
    const registrations: Registration[] = await Promise.all(
      [1, 2].map((n) =>
        autoRegister({
          backend: writer,
          service: 'orders',
          id: `orders-${n}`,
          host: '10.0.0.1',
          port: 8080 + n,
          ttlMs: 3_000,
          heartbeatIntervalMs: 500,
          retryInitialDelayMs: 250,
          retryMaxDelayMs: 500,
          required: true,
        }),
      ),
    );
    let reregistered = 0;
    for (const registration of registrations) registration.on('reregistered', () => reregistered++);
    const resolver = createResolver({ backend: readers[0] as EtcdBackend, envFallback: false });
    const latest: string[][] = [[], []];
    const stops = readers.map((reader, n) => reader.watch('orders', { onChange: (list) => (latest[n] = ids(list)) }));
    try {
      await vi.waitFor(() => expect(latest).toEqual([['orders-1', 'orders-2'], ['orders-1', 'orders-2']]), { timeout: 5_000 });
      await resolver.resolve('orders');
      const failures: string[] = [];
      let running = true;
      const load = (async () => {
        while (running) {
          await resolver.resolve('orders').catch((error: unknown) => failures.push(String(error)));
          await new Promise((done) => setTimeout(done, 20));
        }
      })();

      const leader = await cluster.leader();
      await leader.kill();
      const newLeader = await vi.waitFor(() => cluster.leader(), { timeout: 10_000, interval: 100 });
      expect(newLeader).not.toBe(leader);

      // A change made after the failover reaches both watchers.
      const late = createInstance({ id: 'after-failover', service: 'orders', host: '10.0.0.2', port: 9090 }, Date.now());
      await vi.waitFor(() => writer.register(late, { ttlMs: 30_000 }), { timeout: 5_000, interval: 100 });
      const expected = ['after-failover', 'orders-1', 'orders-2'];
      await vi.waitFor(() => expect(latest).toEqual([expected, expected]), { timeout: 10_000 });
      // Heartbeats keep renewing the leases they had: three more rounds each, none found its lease lost.
      const renewed = registrations.map((registration) => registration.stats().heartbeats);
      await vi.waitFor(() => expect(registrations.every((registration, n) => registration.stats().heartbeats.ok >= (renewed[n]?.ok ?? 0) + 3)).toBe(true), { timeout: 10_000 });
      expect(registrations.map((registration, n) => registration.stats().heartbeats.lost - (renewed[n]?.lost ?? 0))).toEqual([0, 0]);
      expect(registrations.map((registration) => registration.state)).toEqual(['registered', 'registered']);
      expect(reregistered).toBe(0);
      expect(ids(await (readers[1] as EtcdBackend).instances('orders'))).toEqual(expected);
      running = false;
      await load;
      expect(failures).toEqual([]);
    } finally {
      for (const stop of stops) stop();
      await resolver.close();
      await Promise.all(registrations.map((registration) => registration.stop()));
      await Promise.all([writer, ...readers].map((backend) => backend.close()));
    }
  });
});
