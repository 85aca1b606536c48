/**
 * Figures through RedisBackend against raw ioredis on the same redis-server, which the bench
 * starts on a free loopback port and removes afterwards, as the tests do.
 */
import { Redis } from 'ioredis';
import { createInstance, createResolver, type ServiceInstance } from '../src/index.js';
import { RedisBackend, serviceKeys } from '../src/backends/redis/index.js';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import type { Figure } from './figure.js';
import { compare, stats, type Stats } from './harness.js';

const SERVICE = 'orders';
const instance = (n: number): ServiceInstance =>
  createInstance({ id: `orders-${n}`, service: SERVICE, host: '127.0.0.1', port: 9000 + n, tags: ['bench'], meta: { build: '1' } }, Date.now());

/** Resolves when `check()` holds, polling on every turn of the event loop; returns the ms it took from `since`. */
async function whenTrue(check: () => boolean, since: bigint, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
  return Number(process.hrtime.bigint() - since) / 1e6;
}

export interface RedisBench {
  readonly figures: () => Promise<Figure[]>;
  readonly stop: () => Promise<void>;
}

export async function redisBench(): Promise<RedisBench> {
  const server: RedisServer = await startRedis();
  const clients: Array<{ quit(): Promise<unknown> }> = [];
  const raw = (): Redis => {
    const client = new Redis(server.url, { lazyConnect: false });
    clients.push(client);
    return client;
  };
  const backends: RedisBackend[] = [];
  const backend = (): RedisBackend => {
    const created = new RedisBackend({ url: server.url, namespace: 'bench' });
    backends.push(created);
    return created;
  };
  // One writer for every figure, as in one process: instances belong to the backend that
  // registered them, so another backend could not write the same ids again.
  const writer = backend();

  async function coldResolve(): Promise<Figure> {
    for (let n = 0; n < 5; n++) await writer.register(instance(n), { ttlMs: 600_000 });
    const resolver = createResolver({ backend: backend(), watch: false });
    // Another service stays cached, as in any real process: lru-cache resets all of its
    // maxServices slots when its last entry is deleted, which a lone service would measure.
    await writer.register(createInstance({ id: 'other-0', service: 'other', host: '127.0.0.1', port: 9999 }, Date.now()), { ttlMs: 600_000 });
    await resolver.resolve('other');
    const client = raw();
    const records = serviceKeys('bench', SERVICE).records;
    const result = await compare(
      () => client.hgetall(records),
      async () => {
        resolver.invalidate(SERVICE);
        return resolver.resolve(SERVICE);
      },
      { batch: 500, rounds: 30, warmupRounds: 5 },
    );
    await resolver.close();
    return {
      id: 'cold-resolve-redis',
      title: 'Cold resolve() through RedisBackend',
      subject: 'resolve() of a service not in cache: one listing script (prune, read 5 records), parse, pick',
      floor: 'one raw ioredis HGETALL of the same records hash on the same server',
      unit: 'µs/op',
      subjectValue: micro(result.subject),
      floorValue: micro(result.floor),
      ratio: result.ratio,
      target: { kind: 'max-ratio', value: 1.5 },
      note: 'Beyond the round trip, the listing script prunes expired instances by the server clock and the resolver runs its breaker and timeout, parses the records and builds a picker; the floor does none of that',
    };
  }

  async function heartbeat(): Promise<Figure> {
    await writer.register(instance(0), { ttlMs: 600_000 });
    const client = raw();
    const sha = (await client.script('LOAD', 'return 1')) as string;
    const result = await compare(
      () => client.evalsha(sha, 0),
      () => writer.renew({ service: SERVICE, id: 'orders-0' }, 'passing'),
      { batch: 500, rounds: 30, warmupRounds: 5 },
    );
    return {
      id: 'heartbeat-redis',
      title: 'Heartbeat (renew) through RedisBackend',
      subject: 'backend.renew(): validation plus one EVALSHA of the renew script (server-timed lease)',
      floor: 'one raw EVALSHA of a script returning 1, same client settings and server',
      unit: 'µs/op',
      subjectValue: micro(result.subject),
      floorValue: micro(result.floor),
      ratio: result.ratio,
      target: { kind: 'max-ratio', value: 1.2 },
      note: 'The renew script reads the server clock, checks the instance, moves its deadline and keeps the services index exact; that server-side work is what makes expiry independent of client clocks',
    };
  }

  async function changePropagation(): Promise<Figure> {
    const resolver = createResolver({ backend: backend() });
    for (let n = 0; n < 5; n++) await writer.register(instance(n), { ttlMs: 600_000 });
    await resolver.resolve(SERVICE);
    const listed = (): number => resolver.status(SERVICE)?.listed ?? -1;
    await whenTrue(() => resolver.status(SERVICE)?.watching === true && listed() === 5, process.hrtime.bigint(), 5_000);
    const subjectSamples: number[] = [];
    for (let round = 0; round < 40; round++) {
      const leaving = instance(round % 5);
      const started = process.hrtime.bigint();
      await writer.deregister(leaving);
      subjectSamples.push(await whenTrue(() => listed() === 4, started, 5_000));
      await writer.register(leaving, { ttlMs: 600_000 });
      await whenTrue(() => listed() === 5, process.hrtime.bigint(), 5_000);
    }
    const publisher = raw();
    const subscriber = raw();
    let received = 0;
    subscriber.on('message', () => received++);
    await subscriber.subscribe('bench-floor');
    const floorSamples: number[] = [];
    for (let round = 0; round < 40; round++) {
      const expected = received + 1;
      const started = process.hrtime.bigint();
      await publisher.publish('bench-floor', 'deregister orders-0');
      floorSamples.push(await whenTrue(() => received >= expected, started, 5_000));
    }
    await resolver.close();
    const subjectStats = stats(subjectSamples);
    const floorStats = stats(floorSamples);
    return {
      id: 'change-propagation-redis',
      title: 'Change propagation to a watching resolver',
      subject: 'deregister() on one client until a resolver on another client stops listing the instance',
      floor: 'raw PUBLISH on one connection until a SUBSCRIBE connection receives it',
      unit: 'ms',
      subjectValue: subjectStats,
      floorValue: floorStats,
      ratio: subjectStats.median / floorStats.median,
      target: { kind: 'max-ratio', value: 2 },
      note: 'A change message carries only the new version (a forged message must not be able to hand watchers a listing), so each watcher reads the service again with the listing script; the subject also includes the deregister script itself (ownership check, delete, index update, version), which a bare PUBLISH does not do',
    };
  }

  async function crashDetection(): Promise<Figure> {
    const ttlMs = 1_000;
    const resolver = createResolver({ backend: backend() });
    await writer.register(instance(0), { ttlMs: 600_000 });
    await resolver.resolve(SERVICE);
    await whenTrue(() => resolver.status(SERVICE)?.watching === true, process.hrtime.bigint(), 5_000);
    const delays: number[] = [];
    for (let round = 0; round < 5; round++) {
      const crashed = instance(10 + round);
      const registered = process.hrtime.bigint();
      await writer.register(crashed, { ttlMs });
      const gone = (): boolean => resolver.status(SERVICE)?.instances.every((i) => i.id !== crashed.id) === true;
      await whenTrue(() => !gone(), registered, 5_000);
      delays.push((await whenTrue(gone, registered, ttlMs + 10_000)) - ttlMs);
    }
    await resolver.close();
    const delayStats = stats(delays);
    return {
      id: 'crash-detection-redis',
      title: 'Crash detection past the TTL',
      subject: `an instance registered with a ${ttlMs} ms TTL and never renewed, until a watching resolver drops it`,
      floor: 'the TTL itself (the delay reported is the time past it)',
      unit: 'ms past TTL',
      subjectValue: delayStats,
      floorValue: { median: 0, p25: 0, p75: 0 },
      ratio: Number.NaN,
      target: { kind: 'max-value', value: 1_000 },
    };
  }

  return {
    figures: async () => [await coldResolve(), await heartbeat(), await changePropagation(), await crashDetection()],
    stop: async () => {
      await Promise.all(backends.map((b) => b.close()));
      await Promise.all(clients.map((c) => c.quit()));
      await server.stop();
    },
  };
}

function micro(value: Stats): Stats {
  return { median: value.median / 1_000, p25: value.p25 / 1_000, p75: value.p75 / 1_000 };
}
