/**
 * Redis dies (kill -9) while instances heartbeat and resolvers resolve, then comes back empty; or
 * loses everything under a FLUSHALL. Services keep running standalone, resolvers serve stale
 * answers, and every registration is back within one heartbeat interval of the connection.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RedisBackend } from '../../../src/backends/redis/index.js';
import { createResolver, type Resolver } from '../../../src/resolution/resolver.js';
import { registerTwins, useRedisServer } from '../../helpers/redis-fixture.js';
import { redisCommand } from '../../helpers/redis-server.js';

const HEARTBEAT_MS = 1_000;
const TTL_MS = 3_000;
// rollcall's own clients retry the connection after min(50 ms × attempt, 1000 ms).
const RECONNECT_MAX_MS = 1_000;
const SERVICES = ['orders', 'payments'] as const;
// Timer and event-loop lateness on a loaded two-core CI machine, plus the polling of the check.
const SLACK_MS = 400;

const redis = useRedisServer();
let sequence = 0;

function resolverOn(reader: RedisBackend): Resolver {
  const resolver = createResolver({ backend: reader, cacheTtlMs: 500, degradedRetryMs: 200, envFallback: false });
  redis.defer(() => resolver.close());
  return resolver;
}

async function liveIds(reader: RedisBackend): Promise<string[]> {
  const lists = await Promise.all(SERVICES.map((service) => reader.instances(service)));
  return lists.flat().map((instance) => instance.id).sort();
}

const allIds = SERVICES.flatMap((service) => [`${service}-1`, `${service}-2`]).sort();

/** Resolves every service every 50 ms in the background and counts failures. */
function resolveContinuously(resolver: Resolver): { failures: string[]; resolved: number; stop(): void } {
  const state = { failures: [] as string[], resolved: 0, stopped: false };
  const loop = async (): Promise<void> => {
    while (!state.stopped) {
      for (const service of SERVICES) {
        await resolver.resolve(service).then(
          () => state.resolved++,
          (error: unknown) => state.failures.push(String(error)),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  void loop();
  return {
    get failures() {
      return state.failures;
    },
    get resolved() {
      return state.resolved;
    },
    stop: () => {
      state.stopped = true;
    },
  };
}

describe('Redis killed and restarted empty', () => {
  it('runs standalone and serves stale answers during the outage, and recovers within a heartbeat after', async () => {
    const namespace = `outage-${++sequence}`;
    const writer = redis.backend({ namespace });
    const reader = redis.backend({ namespace });
    const registrations = await registerTwins(writer, { services: SERVICES, ttlMs: TTL_MS, heartbeatMs: HEARTBEAT_MS }, redis.defer);
    const resolver = resolverOn(reader);
    for (const service of SERVICES) await resolver.resolve(service);
    await vi.waitFor(() => expect(SERVICES.every((service) => resolver.status(service)?.watching)).toBe(true));
    const recovered: string[] = [];
    resolver.on('recovered', ({ service }) => recovered.push(service));

    const during = resolveContinuously(resolver);
    await redis.server.kill();

    // Calls fail fast: no offline queue, no waiting for a timeout.
    const started = Date.now();
    await expect(reader.instances('orders')).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(200);

    await vi.waitFor(() => expect(registrations.map((r) => r.state)).toEqual(registrations.map(() => 'standalone')), {
      timeout: HEARTBEAT_MS * 2 + 500,
    });
    await vi.waitFor(() => expect(SERVICES.map((service) => resolver.status(service)?.source)).toEqual(['stale', 'stale']), {
      timeout: 3_000,
    });
    expect(resolver.health).toBe('degraded');
    during.stop();
    expect(during.failures).toEqual([]);
    expect(during.resolved).toBeGreaterThan(10);
    expect(registrations.every((r) => r.state === 'standalone')).toBe(true);

    await redis.server.restart();
    const restartedAt = Date.now();
    await expect(redisCommand(redis.server, 'DBSIZE')).resolves.toBe(0);
    const reconnectedAt = await new Promise<number>((resolve) => {
      if (writer.client.status === 'ready') resolve(Date.now());
      else writer.client.once('ready', () => resolve(Date.now()));
    });
    await vi.waitFor(async () => expect(await liveIds(reader)).toEqual(allIds), { timeout: RECONNECT_MAX_MS + HEARTBEAT_MS + 1_000, interval: 20 });
    const backAt = Date.now();
    // One heartbeat interval after the connection is back, however long the outage.
    expect(backAt - reconnectedAt).toBeLessThanOrEqual(HEARTBEAT_MS + SLACK_MS);
    expect(backAt - restartedAt).toBeLessThanOrEqual(RECONNECT_MAX_MS + HEARTBEAT_MS + SLACK_MS);
    await vi.waitFor(() => expect(registrations.map((r) => r.state)).toEqual(registrations.map(() => 'registered')));

    // Resolvers recover: fresh registry answers, pushed by a watch that re-subscribed.
    await vi.waitFor(
      () => {
        expect(resolver.health).toBe('healthy');
        for (const service of SERVICES) {
          expect(resolver.status(service)).toMatchObject({ source: 'cache', watching: true, listed: 2 });
        }
      },
      { timeout: 3_000 },
    );
    expect([...new Set(recovered)].sort()).toEqual([...SERVICES]);
    expect((await resolver.resolve('payments')).service).toBe('payments');
  });
});

describe('Redis loses its data without a disconnect', () => {
  it('has every registration back within one heartbeat interval of a FLUSHALL, and watchers see them', async () => {
    const namespace = `flush-${++sequence}`;
    const writer = redis.backend({ namespace });
    const reader = redis.backend({ namespace });
    const registrations = await registerTwins(writer, { services: SERVICES, ttlMs: TTL_MS, heartbeatMs: HEARTBEAT_MS }, redis.defer);
    const reregistered: string[] = [];
    for (const registration of registrations) registration.on('reregistered', () => reregistered.push(registration.instance.id));
    const watched: Record<string, number> = {};
    for (const service of SERVICES) reader.watch(service, { onChange: (list) => (watched[service] = list.length) });
    await vi.waitFor(() => expect(watched).toEqual({ orders: 2, payments: 2 }));

    await redisCommand(redis.server, 'FLUSHALL');
    const flushedAt = Date.now();
    expect(await liveIds(reader)).toEqual([]);
    await vi.waitFor(async () => expect(await liveIds(reader)).toEqual(allIds), { timeout: HEARTBEAT_MS + 1_000, interval: 20 });
    expect(Date.now() - flushedAt).toBeLessThanOrEqual(HEARTBEAT_MS + SLACK_MS);
    expect(reregistered.sort()).toEqual(allIds);
    await vi.waitFor(() => expect(watched).toEqual({ orders: 2, payments: 2 }));
    expect(registrations.every((r) => r.state === 'registered')).toBe(true);
  });
});
