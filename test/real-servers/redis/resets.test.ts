/**
 * Loss of registry data on a real redis-server, and what onReset says about it: kill -9 and a
 * restart with an empty data set, FLUSHALL, a reconnection to the same server, and normal churn.
 * A reset must come before the first listing (returned or pushed) read after the loss, and never
 * without one.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RegistryReset } from '../../../src/backends/backend.js';
import type { RedisBackend } from '../../../src/backends/redis/index.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { registerTwins, useRedisServer } from '../../helpers/redis-fixture.js';

const HEARTBEAT_MS = 500;

const redis = useRedisServer();
let sequence = 0;

const ids = (list: readonly ServiceInstance[]): string => list.map((i) => i.id).join(',');

/**
 * Records, in order, every reset the reader reports, every listing it returns to a poller, and
 * every list its watch pushes.
 */
function observe(reader: RedisBackend): {
  events: string[];
  resets: RegistryReset[];
  pausePolling: () => Promise<void>;
  resumePolling: () => void;
  stop: () => void;
} {
  const events: string[] = [];
  const resets: RegistryReset[] = [];
  const stopResets = reader.onReset((reset) => {
    resets.push(reset);
    events.push(`reset:${reset.service ?? '*'}`);
  });
  const stopWatch = reader.watch('orders', { onChange: (list) => events.push(`push:${ids(list)}`) });
  let polling = true;
  let paused: (() => void) | undefined;
  let resume: (() => void) | undefined;
  void (async () => {
    while (polling) {
      if (paused !== undefined) {
        paused();
        await new Promise<void>((resolve) => (resume = resolve));
      }
      await reader.instances('orders').then(
        (list) => events.push(`list:${ids(list)}`),
        () => {},
      );
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  const stop = (): void => {
    polling = false;
    resume?.();
    stopWatch();
    stopResets();
  };
  redis.defer(() => Promise.resolve(stop()));
  return {
    events,
    resets,
    // Resolves once no poll is in flight, so a change made meanwhile falls between two polls.
    pausePolling: () => new Promise<void>((resolve) => (paused = resolve)),
    resumePolling: () => {
      paused = undefined;
      resume?.();
      resume = undefined;
    },
    stop,
  };
}

/** The events after `from`: the first listing or push among them must follow a reset. */
function expectResetFirst(events: readonly string[], from: number): void {
  const after = events.slice(from);
  const firstRead = after.findIndex((event) => event.startsWith('list:') || event.startsWith('push:'));
  const firstReset = after.findIndex((event) => event.startsWith('reset:'));
  expect(firstRead, `no listing after the loss: ${after.join(' ')}`).toBeGreaterThanOrEqual(0);
  expect(firstReset, `no reset before the first listing after the loss: ${after.join(' ')}`).toBeGreaterThanOrEqual(0);
  expect(firstReset).toBeLessThan(firstRead);
}

describe('onReset on a real redis-server', () => {
  it('reports kill -9 and a restart with an empty data set before the first listing read after it', async () => {
    const namespace = `reset-${++sequence}`;
    const registrations = await registerTwins(redis.backend({ namespace }), { services: ['orders'], ttlMs: 5_000, heartbeatMs: HEARTBEAT_MS }, redis.defer);
    const reader = redis.backend({ namespace });
    const { events, resets } = observe(reader);
    await vi.waitFor(() => expect(events).toContain('push:orders-1,orders-2'));
    await vi.waitFor(() => expect(events).toContain('list:orders-1,orders-2'));
    expect(resets).toEqual([]);

    await redis.server.kill();
    const killedAt = events.length;
    await redis.server.restart();
    await vi.waitFor(() => expect(registrations.map((r) => r.state)).toEqual(['registered', 'registered']), { timeout: 5_000 });
    await vi.waitFor(() => expect(events.slice(killedAt)).toContain('list:orders-1,orders-2'), { timeout: 5_000 });
    await vi.waitFor(() => expect(events.slice(killedAt)).toContain('push:orders-1,orders-2'), { timeout: 5_000 });

    expectResetFirst(events, killedAt);
    // The run id changed: a reset of the whole namespace, told once.
    expect(resets).toEqual([{ reason: text(/restarted or was replaced by a failover/) }]);
    expect(reader.stats().resetsDetected).toBe(1);
  });

  it('reports a FLUSHALL before the first listing read after it, per service, once', async () => {
    const namespace = `reset-${++sequence}`;
    await registerTwins(redis.backend({ namespace }), { services: ['orders'], ttlMs: 5_000, heartbeatMs: HEARTBEAT_MS }, redis.defer);
    const reader = redis.backend({ namespace });
    const { events, resets, pausePolling, resumePolling } = observe(reader);
    await vi.waitFor(() => expect(events).toContain('push:orders-1,orders-2'));
    await vi.waitFor(() => expect(events).toContain('list:orders-1,orders-2'));

    const refreshes = reader.stats().watchRefreshes;
    // No poll in flight across the flush: otherwise one answered after it could be recorded
    // before `flushedAt` is taken (with its reset), and the test would miss both.
    await pausePolling();
    await redis.admin.flushall();
    const flushedAt = events.length;
    resumePolling();
    await vi.waitFor(() => expect(events.slice(flushedAt)).toContain('list:orders-1,orders-2'), { timeout: 5_000 });
    // The watch read after each re-registration's message; it pushes only lists that differ from
    // the last one it pushed (none, when both came back before its first read).
    await vi.waitFor(() => expect(reader.stats().watchRefreshes).toBeGreaterThan(refreshes), { timeout: 3_000 });

    expectResetFirst(events, flushedAt);
    const firstPush = events.findIndex((event, i) => i >= flushedAt && event.startsWith('push:'));
    if (firstPush >= 0) expect(events.slice(flushedAt, firstPush)).toContain('reset:orders');
    expect(resets).toEqual([{ service: 'orders', reason: text(/./) }]);
  });

  it('reports nothing across heartbeats, a deregistration, an expiry and a reconnection to the same server', async () => {
    const namespace = `reset-${++sequence}`;
    const writer = redis.backend({ namespace });
    const registrations = await registerTwins(writer, { services: ['orders'], ttlMs: 5_000, heartbeatMs: HEARTBEAT_MS }, redis.defer);
    const reader = redis.backend({ namespace });
    const { events, resets } = observe(reader);
    await vi.waitFor(() => expect(events).toContain('push:orders-1,orders-2'));

    const expiring = createInstance({ id: 'orders-3', service: 'orders', host: '10.0.0.1', port: 8083 }, Date.now());
    await writer.register(expiring, { ttlMs: 1_000 });
    await vi.waitFor(() => expect(events.at(-1)).toMatch(/orders-1,orders-2,orders-3$/));
    await registrations[0]?.stop();
    await vi.waitFor(() => expect(events.filter((event) => event.startsWith('push:')).at(-1)).toBe('push:orders-2'), { timeout: 3_000 });

    // The reader's connections are cut; it reconnects to the same server (same run id). The check
    // that would report a reset runs on the way back: the server's run id, asked first on the new
    // connection, so answered before the first listing read on it.
    const reconnected = new Promise((resolve) => reader.client.once('ready', resolve));
    const renewals = vi.spyOn(writer, 'renew');
    await redis.admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await reconnected;
    // The writer's connection was cut too: a heartbeat renews again once it is back.
    const from = renewals.mock.results.length;
    await vi.waitFor(
      async () => {
        expect(renewals.mock.results.length).toBeGreaterThan(from);
        expect(await renewals.mock.results.at(-1)?.value).toBe('renewed');
      },
      { timeout: 3_000 },
    );
    const back = events.length;
    await vi.waitFor(() => expect(events.slice(back)).toContain('list:orders-2'), { timeout: 3_000 });
    await vi.waitFor(() => expect(events.at(-1)).toBe('list:orders-2'), { timeout: 3_000 });
    expect(resets).toEqual([]);
  });
});

/** An asymmetric matcher for a string containing `pattern` (or matching it), typed for strict lint. */
function text(pattern: string | RegExp): unknown {
  return typeof pattern === 'string' ? expect.stringContaining(pattern) : expect.stringMatching(pattern);
}
