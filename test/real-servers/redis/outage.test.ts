/**
 * Redis dies (kill -9) while instances heartbeat and resolvers resolve, then comes back empty; or
 * loses everything under a FLUSHALL. Services keep running standalone, resolvers serve stale
 * answers, and every registration is back within one heartbeat interval of the connection. A
 * client that ioredis gave up on is connected again by the backend that owns it.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RedisBackend } from '../../../src/backends/redis/index.js';
import type { RegistrationStats } from '../../../src/registration/registration.js';
import { createResolver, type Resolver } from '../../../src/resolution/resolver.js';
import { recordingLogger } from '../../helpers/recording-logger.js';
import { registerTwins, useRedisServer } from '../../helpers/redis-fixture.js';
import { redisCommand } from '../../helpers/redis-server.js';

const HEARTBEAT_MS = 1_000;
const TTL_MS = 3_000;
// rollcall's own clients retry the connection after min(50 ms × attempt, 1000 ms).
const RECONNECT_MAX_MS = 1_000;
const SERVICES = ['orders', 'payments'] as const;

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

/** The heartbeats a registration made between two of its stats() snapshots, by outcome. */
function heartbeatsSince(before: RegistrationStats | undefined, after: RegistrationStats): RegistrationStats['heartbeats'] {
  const { ok, lost, failed } = before?.heartbeats ?? { ok: 0, lost: 0, failed: 0 };
  return { ok: after.heartbeats.ok - ok, lost: after.heartbeats.lost - lost, failed: after.heartbeats.failed - failed };
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

    // Every wait of the writer's client before it tries to connect again.
    const reconnectDelays: number[] = [];
    writer.client.on('reconnecting', (delayMs: number) => reconnectDelays.push(delayMs));

    const during = resolveContinuously(resolver);
    await redis.server.kill();

    // Calls fail fast: no offline queue, no waiting for a timeout (which would say "within").
    await expect(reader.instances('orders')).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE', message: expect.not.stringContaining('within') as unknown });

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

    // What each registration's heartbeats did from the moment the writer's connection came back
    // until it was registered again.
    let atReconnection: RegistrationStats[] = [];
    writer.client.once('ready', () => (atReconnection = registrations.map((r) => r.stats())));
    const untilBack: RegistrationStats['heartbeats'][] = [];
    for (const [n, registration] of registrations.entries()) {
      registration.on('stateChange', ({ to }) => {
        if (to === 'registered') untilBack[n] = heartbeatsSince(atReconnection[n], registration.stats());
      });
    }
    await redis.server.restart();
    await expect(redisCommand(redis.server, 'DBSIZE')).resolves.toBe(0);
    await vi.waitFor(async () => expect(await liveIds(reader)).toEqual(allIds), { timeout: RECONNECT_MAX_MS + HEARTBEAT_MS + 3_000, interval: 20 });
    await vi.waitFor(() => expect(registrations.map((r) => r.state)).toEqual(registrations.map(() => 'registered')));
    // One heartbeat after the connection is back, however long the outage: the first attempt of
    // each registration after it registered it again.
    expect(untilBack).toEqual(registrations.map(() => ({ ok: 1, lost: 0, failed: 0 })));
    // The client tried to connect again at least every RECONNECT_MAX_MS meanwhile.
    expect(reconnectDelays.length).toBeGreaterThan(0);
    expect(Math.max(...reconnectDelays)).toBeLessThanOrEqual(RECONNECT_MAX_MS);

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
    // What each registration's heartbeats did from the flush until it registered its instance again.
    let atFlush: RegistrationStats[] = [];
    const untilBack: RegistrationStats['heartbeats'][] = [];
    for (const [n, registration] of registrations.entries()) {
      registration.on('reregistered', () => {
        reregistered.push(registration.instance.id);
        untilBack[n] = heartbeatsSince(atFlush[n], registration.stats());
      });
    }
    const watched: Record<string, number> = {};
    for (const service of SERVICES) reader.watch(service, { onChange: (list) => (watched[service] = list.length) });
    await vi.waitFor(() => expect(watched).toEqual({ orders: 2, payments: 2 }));

    atFlush = registrations.map((r) => r.stats());
    await redisCommand(redis.server, 'FLUSHALL');
    expect(await liveIds(reader)).toEqual([]);
    await vi.waitFor(async () => expect(await liveIds(reader)).toEqual(allIds), { timeout: HEARTBEAT_MS + 3_000, interval: 20 });
    await vi.waitFor(() => expect(reregistered.sort()).toEqual(allIds));
    // Within one heartbeat of the flush: no heartbeat came between the flush and the one that found
    // the instance lost and registered it again.
    expect(untilBack).toEqual(registrations.map(() => expect.objectContaining({ ok: 0, failed: 0 }) as unknown));
    await vi.waitFor(() => expect(watched).toEqual({ orders: 2, payments: 2 }));
    expect(registrations.every((r) => r.state === 'registered')).toBe(true);
  });
});

describe('a client ioredis gives up on', () => {
  it('is connected again by the backend that owns it, and registrations come back with the server', async () => {
    const namespace = `ended-${++sequence}`;
    const logger = recordingLogger();
    // A retry strategy that gives up ends the client at the first lost connection, as ioredis does
    // when a Sentinel failover is announced while it asks where the master is.
    const writer = redis.backend({ namespace, logger, redis: { host: redis.server.host, port: redis.server.port, retryStrategy: () => null } });
    const reader = redis.backend({ namespace });
    const registrations = await registerTwins(writer, { services: SERVICES, ttlMs: TTL_MS, heartbeatMs: HEARTBEAT_MS }, redis.defer);
    const ended = new Promise((resolve) => writer.client.once('end', resolve));
    await redis.server.kill();
    await ended;
    await redis.server.restart();
    await vi.waitFor(async () => expect(await liveIds(reader)).toEqual(allIds), { timeout: HEARTBEAT_MS + 3_000, interval: 20 });
    await vi.waitFor(() => expect(registrations.map((r) => r.state)).toEqual(registrations.map(() => 'registered')));
    expect(writer.client.status).toBe('ready');
    expect(logger.at('warn').map((line) => line.msg)).toContain('ioredis gave up on the connection to Redis; rollcall connects it again until it is back');
  });
});
