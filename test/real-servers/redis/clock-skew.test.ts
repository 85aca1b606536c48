/**
 * Two clients whose clocks disagree by two hours agree on who is alive: lease deadlines come from
 * the Redis server's clock, never from a client's.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serviceKeys } from '../../../src/backends/redis/keys.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { useRedisServer } from '../../helpers/redis-fixture.js';

const HOUR_MS = 3_600_000;

const redis = useRedisServer();

afterEach(() => {
  vi.useRealTimers();
});

/** The real time, whatever Date says under fake timers. */
function realNow(): number {
  return Math.round(performance.timeOrigin + performance.now());
}

function instance(id: string): ServiceInstance {
  return createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080 }, Date.now());
}

describe('RedisBackend under client clock skew', () => {
  it('expires by the server clock, so clients an hour ahead and an hour behind agree', async () => {
    const ahead = redis.backend({ namespace: 'skew' });
    const behind = redis.backend({ namespace: 'skew' });
    // Only Date is faked: timers and sockets run in real time, as on a host with a wrong clock.
    vi.useFakeTimers({ toFake: ['Date'] });
    const asAhead = async <T>(call: () => Promise<T>): Promise<T> => {
      vi.setSystemTime(realNow() + HOUR_MS);
      return call();
    };
    const asBehind = async <T>(call: () => Promise<T>): Promise<T> => {
      vi.setSystemTime(realNow() - HOUR_MS);
      return call();
    };

    // The client an hour ahead registers a short lease; the one behind a long one.
    const before = await redis.serverTime();
    await asAhead(() => ahead.register(instance('short-from-ahead'), { ttlMs: 1_000 }));
    const after = await redis.serverTime();
    await asBehind(() => behind.register(instance('long-from-behind'), { ttlMs: 30_000 }));
    const registeredAt = realNow();

    // The deadline is the server's time at registration plus the TTL, whichever client wrote it.
    const deadline = Number(await redis.admin.zscore(serviceKeys('skew', 'orders').deadlines, 'short-from-ahead'));
    expect(deadline).toBeGreaterThanOrEqual(before + 1_000);
    expect(deadline).toBeLessThanOrEqual(after + 1_000);

    const ids = (list: ServiceInstance[]): string[] => list.map((i) => i.id);
    expect(ids(await asAhead(() => ahead.instances('orders')))).toEqual(['long-from-behind', 'short-from-ahead']);
    expect(ids(await asBehind(() => behind.instances('orders')))).toEqual(['long-from-behind', 'short-from-ahead']);

    // The client behind watches: it hears of the expiry once the server's clock passed the deadline,
    // about a second later in real time (not an hour later, nor at once).
    let watched: readonly ServiceInstance[] = [];
    behind.watch('orders', { onChange: (list) => (watched = list) });
    await vi.waitFor(() => expect(watched.map((i) => i.id)).toEqual(['long-from-behind']), { timeout: 3_000, interval: 20 });
    expect(realNow() - registeredAt).toBeGreaterThanOrEqual(900);
    expect(await redis.serverTime()).toBeGreaterThanOrEqual(deadline);

    // Both clients now agree that the short lease is gone and the long one alive.
    expect(ids(await asAhead(() => ahead.instances('orders')))).toEqual(['long-from-behind']);
    expect(ids(await asBehind(() => behind.instances('orders')))).toEqual(['long-from-behind']);
    await expect(asAhead(() => ahead.renew(instance('short-from-ahead'), 'passing'))).resolves.toBe('lost');
    await expect(asBehind(() => behind.renew(instance('long-from-behind'), 'passing'))).resolves.toBe('renewed');
    expect(await asBehind(() => behind.services())).toEqual(['orders']);
  });
});
