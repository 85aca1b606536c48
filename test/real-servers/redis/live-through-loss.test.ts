/**
 * The field promise, measured on real Redis: a live service never fails to resolve because the
 * registry lost its data. Instances heartbeat while watching and non-watching resolvers (each on
 * its own backend, as in separate processes, with default cache settings) resolve continuously;
 * Redis is killed and restarted empty, flushed, or failed over after the leases lapsed. The
 * backend detects each loss (onReset), the resolvers keep the instances they knew until these
 * register again, and not one resolve fails. A real departure still leaves answers as fast as
 * before: at once for a watcher, within the cache TTL otherwise.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisBackend, type RedisBackendOptions } from '../../../src/backends/redis/index.js';
import type { Registration } from '../../../src/registration/registration.js';
import { createResolver, type Resolver } from '../../../src/resolution/resolver.js';
import { freshNamespace, registerTwins, useCleanups } from '../../helpers/redis-fixture.js';
import { redisCommand, startRedis, startSentinelGroup, type RedisServer, type SentinelGroup } from '../../helpers/redis-server.js';

const SERVICES = ['auth_service', 'orders'] as const;
const ALL_IDS = SERVICES.flatMap((service) => [`${service}-1`, `${service}-2`]).sort();

const defer = useCleanups();

function backend(options: RedisBackendOptions): RedisBackend {
  const created = new RedisBackend(options);
  defer(() => created.close());
  return created;
}

/**
 * A watching and a non-watching resolver with rollcall's defaults, and a non-watching one that
 * asks every 200 ms (so it reads the registry while it is empty); the environment tier off.
 */
function resolvers(watching: RedisBackend, polling: RedisBackend, eager: RedisBackend): Resolver[] {
  const created = [
    createResolver({ backend: watching, envFallback: false, breakerHalfOpenAfterMs: 500 }),
    createResolver({ backend: polling, watch: false, envFallback: false, breakerHalfOpenAfterMs: 500 }),
    createResolver({ backend: eager, watch: false, cacheTtlMs: 200, envFallback: false, breakerHalfOpenAfterMs: 500 }),
  ];
  defer(async () => {
    await Promise.all(created.map((resolver) => resolver.close()));
  });
  return created;
}

/** Resolves every service on every resolver every 20 ms; counts answers and failures. */
function resolveContinuously(all: readonly Resolver[]): { failures: string[]; answers: number; wrong: string[]; stop(): Promise<void> } {
  const state = { failures: [] as string[], answers: 0, wrong: [] as string[], running: true };
  const loop = (async () => {
    while (state.running) {
      for (const resolver of all) {
        for (const service of SERVICES) {
          await resolver.resolve(service).then(
            (instance) => {
              state.answers++;
              if (!ALL_IDS.includes(instance.id) || instance.service !== service) state.wrong.push(instance.id);
            },
            (error: unknown) => state.failures.push(`${service}: ${String(error)}`),
          );
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    get failures() {
      return state.failures;
    },
    get answers() {
      return state.answers;
    },
    get wrong() {
      return state.wrong;
    },
    stop: async () => {
      state.running = false;
      await loop;
    },
  };
}

async function liveIds(reader: RedisBackend): Promise<string[]> {
  const lists = await Promise.all(SERVICES.map((service) => reader.instances(service)));
  return lists.flat().map((instance) => instance.id).sort();
}

/** Runs `fault` under load and checks that nothing failed and that everything came back. */
async function survive(
  writer: RedisBackend,
  readers: readonly [RedisBackend, RedisBackend, RedisBackend],
  registrations: readonly Registration[],
  fault: () => Promise<void>,
): Promise<{ resets: number }> {
  const all = resolvers(...readers);
  for (const resolver of all) for (const service of SERVICES) await resolver.resolve(service);
  await vi.waitFor(() => expect(SERVICES.every((service) => all[0]?.status(service)?.watching)).toBe(true));
  let resets = 0;
  for (const resolver of all) resolver.on('reset', () => resets++);

  const load = resolveContinuously(all);
  await fault();
  await vi.waitFor(async () => expect(await liveIds(writer)).toEqual(ALL_IDS), { timeout: 20_000, interval: 50 });
  await vi.waitFor(() => expect(registrations.every((registration) => registration.state === 'registered')).toBe(true), { timeout: 10_000 });
  // Both resolvers answer from the registry again, with every instance, nothing kept provisionally.
  await vi.waitFor(
    () => {
      for (const resolver of all) {
        for (const service of SERVICES) expect(resolver.status(service)).toMatchObject({ source: 'cache', provisional: false, listed: 2 });
      }
    },
    { timeout: 10_000, interval: 50 },
  );
  await load.stop();
  expect(load.failures).toEqual([]);
  expect(load.wrong).toEqual([]);
  expect(load.answers).toBeGreaterThan(50);
  return { resets };
}

describe('live services resolve through a loss of registry data', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** A writer and three readers, each its own backend as in separate processes. */
  function backends(): [RedisBackend, RedisBackend, RedisBackend, RedisBackend] {
    const namespace = freshNamespace('loss');
    const one = (): RedisBackend => backend({ url: server.url, namespace });
    return [one(), one(), one(), one()];
  }

  it('kill -9 and a restart with an empty data set: 0 failed resolves, every resolver told of the loss', async () => {
    const [writer, ...readers] = backends();
    const registrations = await registerTwins(writer, { services: SERVICES, ttlMs: 3_000, heartbeatMs: 300, required: true }, defer);
    const { resets } = await survive(writer, readers, registrations, async () => {
      await server.kill();
      // Long enough for every heartbeat to fail and every registration to go standalone.
      await vi.waitFor(() => expect(registrations.every((registration) => registration.state === 'standalone')).toBe(true), { timeout: 5_000 });
      await server.restart();
      await expect(redisCommand(server, 'DBSIZE')).resolves.toBe(0);
    });
    expect(resets).toBeGreaterThanOrEqual(2);
  }, 40_000);

  it('FLUSHALL: 0 failed resolves while every registration comes back', async () => {
    const [writer, ...readers] = backends();
    // A heartbeat long enough for readers to see the registry empty before the instances return.
    const registrations = await registerTwins(writer, { services: SERVICES, ttlMs: 3_000, heartbeatMs: 1_000, required: true }, defer);
    const { resets } = await survive(writer, readers, registrations, async () => {
      await redisCommand(server, 'FLUSHALL');
    });
    expect(resets).toBeGreaterThanOrEqual(1);
  });

  it('still drops a deregistered instance at once when watching and within the cache TTL when not, with no loss reported', async () => {
    const [writer, ...readers] = backends();
    const registrations = await registerTwins(writer, { services: SERVICES, ttlMs: 3_000, heartbeatMs: 300, required: true }, defer);
    const [watcher, poller] = resolvers(...readers) as [Resolver, Resolver];
    for (const resolver of [watcher, poller]) await resolver.resolveAll('orders');
    await vi.waitFor(() => expect(watcher.status('orders')?.watching).toBe(true));
    let resets = 0;
    for (const resolver of [watcher, poller]) resolver.on('reset', () => resets++);

    const leaving = registrations.find((registration) => registration.instance.id === 'orders-2') as Registration;
    await leaving.stop();
    await vi.waitFor(async () => expect((await watcher.resolveAll('orders')).map((i) => i.id)).toEqual(['orders-1']), { timeout: 2_000, interval: 10 });
    // At once: the watching resolver dropped it while the other one still answers from its cache
    // entry, which it trusts for up to cacheTtlMs (5000 ms by default), as before.
    expect((await poller.resolveAll('orders')).map((i) => i.id).sort()).toEqual(['orders-1', 'orders-2']);
    await vi.waitFor(async () => expect((await poller.resolveAll('orders')).map((i) => i.id)).toEqual(['orders-1']), { timeout: 6_000, interval: 50 });
    expect(resets).toBe(0);
    expect(poller.status('orders')).toMatchObject({ source: 'cache', provisional: false, listed: 1 });
  });
});

describe('live services resolve through a Sentinel failover in which leases lapsed', () => {
  let group: SentinelGroup | undefined;

  beforeAll(async () => {
    group = await startSentinelGroup({ downAfterMs: 1_000 });
  });

  afterAll(async () => {
    await group?.stop();
  });

  it('0 failed resolves although the promoted replica holds only expired leases', async () => {
    if (group === undefined) throw new Error('the Sentinel group did not start');
    const sentinels = group;
    const options = (): RedisBackendOptions => ({
      redis: { sentinels: [...sentinels.sentinelAddresses], name: sentinels.masterName },
      namespace: 'failover',
    });
    const writer = backend(options());
    // The shortest lease rollcall accepts, shorter than the failover takes (down-after 1000 ms, then
    // the election), so every lease lapses; a heartbeat long enough for readers to see the promoted
    // replica list nobody.
    const registrations = await registerTwins(writer, { services: SERVICES, ttlMs: 1_000, heartbeatMs: 900, required: true }, defer);
    let promotedAt = 0;
    const { resets } = await survive(writer, [backend(options()), backend(options()), backend(options())], registrations, async () => {
      const killedAt = Date.now();
      await sentinels.master.kill();
      await vi.waitFor(async () => expect((await sentinels.currentMaster()).port).toBe(sentinels.replica.port), { timeout: 20_000, interval: 100 });
      promotedAt = Date.now();
      expect(promotedAt - killedAt).toBeGreaterThan(1_000);
    });
    expect(promotedAt).toBeGreaterThan(0);
    expect(resets).toBeGreaterThanOrEqual(2);
    // A failover (down-after, election, reconnection) takes several seconds more on a loaded machine.
  }, 60_000);
});
