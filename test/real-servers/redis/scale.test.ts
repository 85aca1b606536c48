/**
 * Watches at scale against a real redis-server: idle watchers make no reads and the namespace
 * makes about one sweeper look per lease however many processes watch; an instance that stops
 * heartbeating leaves every watcher within its TTL and a small margin, swept once for the
 * namespace; a sweeper that dies or leaves is replaced; a change to a large service reaches
 * watchers as the changed instances only, and a watcher falls back to a whole read when the
 * change log cannot tell what changed.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RedisBackend } from '../../../src/backends/redis/index.js';
import { namespaceKeys, serviceKeys } from '../../../src/backends/redis/keys.js';
import { NUDGE_SPREAD_MS, SWEEP_LEASE_MS } from '../../../src/backends/redis/sweeper.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { useRedisServer } from '../../helpers/redis-fixture.js';

const redis = useRedisServer();
let sequence = 0;

function backends(count: number, namespace: string): RedisBackend[] {
  const created = Array.from({ length: count }, () => redis.backend({ namespace }));
  redis.defer(() => Promise.all(created.map((backend) => backend.close())).then(() => {}));
  return created;
}

function instance(service: string, id = `i-${++sequence}`): ServiceInstance {
  return createInstance({ id, service, host: '10.0.0.1', port: 8080 }, Date.now());
}

/** Watches `service` on `backend`, keeping the ids of the last list delivered. */
function watchIds(backend: RedisBackend, service: string): { ids: () => string[] } {
  let latest: string[] | undefined;
  const stop = backend.watch(service, { onChange: (list) => (latest = list.map((i) => i.id)) });
  redis.defer(() => Promise.resolve(stop()));
  return { ids: () => latest ?? ['<nothing delivered yet>'] };
}

/** Renews `instances` through `writer` every `everyMs` until the returned function is called. */
function heartbeat(writer: RedisBackend, instances: readonly ServiceInstance[], everyMs: number): () => void {
  const timer = setInterval(() => {
    for (const each of instances) void writer.renew(each, 'passing');
  }, everyMs);
  const stop = (): void => clearInterval(timer);
  redis.defer(() => Promise.resolve(stop()));
  return stop;
}

const sum = (list: readonly RedisBackend[], counter: 'watchRefreshes' | 'sweeperChecks' | 'expirySweeps' | 'watchDeltas'): number =>
  list.reduce((total, backend) => total + backend.stats()[counter], 0);

describe('RedisBackend watch at scale', () => {
  it('makes no read while nothing changes, and about one sweeper look per lease for the whole namespace', async () => {
    const namespace = `scale-${++sequence}`;
    const [writer] = backends(1, namespace) as [RedisBackend];
    const readers = backends(12, namespace);
    const services = Array.from({ length: 8 }, (_, n) => `svc-${n}`);
    const live = services.flatMap((service) => [instance(service), instance(service)]);
    for (const each of live) await writer.register(each, { ttlMs: 2_000 });
    const views = readers.flatMap((reader) => services.map((service) => watchIds(reader, service)));
    await vi.waitFor(() => expect(views.every((view) => view.ids().length === 2)).toBe(true), { timeout: 10_000 });
    heartbeat(writer, live, 500);
    // Every participant's first look, at once when it starts watching.
    await vi.waitFor(() => expect(readers.every((reader) => reader.stats().sweeperChecks > 0)).toBe(true));
    const reads = sum(readers, 'watchRefreshes');
    const looks = sum(readers, 'sweeperChecks');
    const from = await redis.serverTime();

    // Until every deadline the instances had then has passed, and every one after it: two lease
    // periods (4 s by the server's clock). A watcher re-reading at deadlines would have read each of
    // its 8 services about three times, 12 processes over.
    await vi.waitFor(async () => expect(await redis.serverTime()).toBeGreaterThanOrEqual(from + 4_000), { timeout: 10_000, interval: 250 });
    const elapsed = (await redis.serverTime()) - from;
    expect(sum(readers, 'watchRefreshes') - reads).toBe(0);
    expect(sum(readers, 'expirySweeps')).toBe(0);
    // The holder renews its lease every third of a lease; the 11 others look about once a lease
    // between them: a budget for the time that actually passed.
    expect(sum(readers, 'sweeperChecks') - looks).toBeLessThanOrEqual(Math.ceil((elapsed / SWEEP_LEASE_MS) * 3) + 6);
    expect(views.every((view) => view.ids().length === 2)).toBe(true);
  });

  it('takes an instance that stops heartbeating out of every watcher within its TTL and a small margin', async () => {
    const namespace = `scale-${++sequence}`;
    const [writer] = backends(1, namespace) as [RedisBackend];
    const readers = backends(6, namespace);
    const neighbours = Array.from({ length: 20 }, () => instance('orders'));
    for (const each of neighbours) await writer.register(each, { ttlMs: 1_500 });
    heartbeat(writer, neighbours, 300);
    const views = readers.map((reader) => watchIds(reader, 'orders'));
    await vi.waitFor(() => expect(views.every((view) => view.ids().length === 20)).toBe(true), { timeout: 5_000 });

    const crashed = instance('orders');
    await writer.register(crashed, { ttlMs: 1_000 });
    const deadline = Number(await redis.admin.zscore(serviceKeys(namespace, 'orders').deadlines, crashed.id));
    await vi.waitFor(() => expect(views.every((view) => view.ids().includes(crashed.id))).toBe(true));
    // Within its TTL and a small margin (the sweep is timed for the deadline plus 25 ms; this poll
    // gives up two seconds after it).
    await vi.waitFor(() => expect(views.every((view) => !view.ids().includes(crashed.id))).toBe(true), { timeout: 3_000, interval: 5 });
    expect(await redis.serverTime()).toBeGreaterThanOrEqual(deadline);
    // Swept by one process for all.
    expect(sum(readers, 'expirySweeps')).toBe(1);
    expect(views.every((view) => view.ids().length === 20)).toBe(true);
  });

  it('hands the sweeps to another backend when the holder dies without a word, or leaves', async () => {
    const namespace = `scale-${++sequence}`;
    const keys = namespaceKeys(namespace);
    const [writer] = backends(1, namespace) as [RedisBackend];
    // A lease left by a process that died: nobody sweeps while it lasts.
    await redis.admin.set(keys.sweeper, 'a-process-that-died', 'PX', 60_000);
    const [reader, other] = backends(2, namespace) as [RedisBackend, RedisBackend];
    const view = watchIds(reader, 'orders');
    const crashed = instance('orders');
    await writer.register(crashed, { ttlMs: 1_000 });
    await vi.waitFor(() => expect(view.ids()).toEqual([crashed.id]));
    const deadline = Number(await redis.admin.zscore(serviceKeys(namespace, 'orders').deadlines, crashed.id));
    await vi.waitFor(async () => expect(await redis.serverTime()).toBeGreaterThan(deadline), { timeout: 3_000 });
    // A message on the namespace channel makes the participant look now, past the deadline: it
    // finds the lease held and sweeps nothing.
    const looks = reader.stats().sweeperChecks;
    await redis.admin.publish(keys.channel, '');
    // A participant that does not hold the lease looks at a random moment within NUDGE_SPREAD_MS.
    await vi.waitFor(() => expect(reader.stats().sweeperChecks).toBeGreaterThan(looks), { timeout: NUDGE_SPREAD_MS + 2_000, interval: 20 });
    expect(reader.stats().expirySweeps).toBe(0);
    expect(view.ids()).toEqual([crashed.id]);
    // The dead process's lease lapses. One participant looks within 1.5 leases: it finds the lease
    // lapsed, takes it and sweeps.
    await redis.admin.pexpire(keys.sweeper, 1);
    await vi.waitFor(() => expect(view.ids()).toEqual([]), { timeout: SWEEP_LEASE_MS * 1.5 + 1_000, interval: 20 });
    expect(reader.stats().expirySweeps).toBe(1);
    const holder = await redis.admin.get(keys.sweeper);
    expect(holder).not.toBe('a-process-that-died');

    // A holder that closes gives the lease up and says so: another participant takes it at once.
    watchIds(other, 'orders');
    await vi.waitFor(() => expect(other.stats().sweeperChecks).toBeGreaterThan(0));
    await reader.close();
    await vi.waitFor(async () => expect(await redis.admin.get(keys.sweeper)).not.toBeNull(), { timeout: NUDGE_SPREAD_MS + 2_000, interval: 20 });
    expect(await redis.admin.get(keys.sweeper)).not.toBe(holder);
  });

  it('brings a watcher only the changed instances of a large service', async () => {
    const namespace = `scale-${++sequence}`;
    const [writer, reader] = backends(2, namespace) as [RedisBackend, RedisBackend];
    const large = Array.from({ length: 2_000 }, (_, n) => instance('large', `i-${String(n).padStart(5, '0')}`));
    const pipeline = large.map((each) => writer.register(each, { ttlMs: 60_000 }));
    await Promise.all(pipeline);
    const view = watchIds(reader, 'large');
    await vi.waitFor(() => expect(view.ids()).toHaveLength(2_000), { timeout: 10_000 });

    const replies: unknown[][] = [];
    const evalsha = reader.client.evalsha.bind(reader.client);
    vi.spyOn(reader.client, 'evalsha').mockImplementation(async (...args: Parameters<typeof evalsha>) => {
      const reply = await evalsha(...args);
      if (Array.isArray(reply)) replies.push(reply as unknown[]);
      return reply;
    });
    const { watchDeltas } = reader.stats();
    const added = instance('large', 'i-99999');
    await writer.register(added, { ttlMs: 60_000 });
    await vi.waitFor(() => expect(view.ids()).toHaveLength(2_001));
    await writer.deregister(large[7] as ServiceInstance);
    await vi.waitFor(() => expect(view.ids()).toHaveLength(2_000));
    expect(view.ids()).toContain(added.id);
    expect(view.ids()).not.toContain(large[7]?.id);
    expect(reader.stats().watchDeltas - watchDeltas).toBe(2);
    // Each read brought the header and one row, not 2,000.
    expect(replies.map((reply) => reply.length)).toEqual([9, 9]);
  });

  it('reads the whole service when the change log cannot tell what changed', async () => {
    const namespace = `scale-${++sequence}`;
    const [writer, reader] = backends(2, namespace) as [RedisBackend, RedisBackend];
    const keys = serviceKeys(namespace, 'orders');
    const first = instance('orders');
    await writer.register(first, { ttlMs: 30_000 });
    const view = watchIds(reader, 'orders');
    await vi.waitFor(() => expect(view.ids()).toEqual([first.id]));
    const { watchDeltas, watchRefreshes } = reader.stats();

    // The log was trimmed past what the watcher knows: a whole read.
    await redis.admin.hset(keys.records, '#logfrom', String(Number.MAX_SAFE_INTEGER));
    const second = instance('orders');
    await writer.register(second, { ttlMs: 30_000 });
    await vi.waitFor(() => expect(view.ids().sort()).toEqual([first.id, second.id].sort()));
    expect(reader.stats().watchRefreshes).toBe(watchRefreshes + 1);
    expect(reader.stats().watchDeltas).toBe(watchDeltas);
    await redis.admin.hdel(keys.records, '#logfrom');

    // A log planted by hand: the next change replaces it (counted), and watchers read everything.
    await redis.admin.del(keys.log);
    await redis.admin.set(keys.log, 'planted');
    const third = instance('orders');
    await writer.register(third, { ttlMs: 30_000 });
    await vi.waitFor(() => expect(view.ids().sort()).toEqual([first.id, second.id, third.id].sort()));
    expect(reader.stats().watchDeltas).toBe(watchDeltas);
    expect(writer.stats().malformedRecords).toBe(1);
    // From there on, deltas again.
    await writer.deregister(first);
    await vi.waitFor(() => expect(view.ids().sort()).toEqual([second.id, third.id].sort()));
    expect(reader.stats().watchDeltas).toBe(watchDeltas + 1);
  });
});
