/**
 * Figures through RedisBackend against raw ioredis on the same redis-server, which the bench
 * starts on free loopback ports and removes afterwards, as the tests do. Figures that read the
 * server's CPU, or stop the server, get a server of their own.
 */
import { Redis } from 'ioredis';
import { createInstance, createResolver, type Resolver, type ServiceInstance } from '../src/index.js';
import { RedisBackend } from '../src/backends/redis/index.js';
import { serviceKeys } from '../src/backends/redis/keys.js';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import { repeated, type Figure, type Measured } from './figure.js';
import { compare, micro, msSince, quantile, single, sleep, stats, type Stats, whenTrue } from './harness.js';
import { PEER_CACHE_MS, PeerRegistry } from './peer.js';

const instance = (service: string, n: number | string): ServiceInstance =>
  createInstance({ id: `${service}-${n}`, service, host: '127.0.0.1', port: 9000 + (typeof n === 'number' ? n % 50_000 : 1), tags: ['bench'], meta: { build: '1' } }, Date.now());

/** The Redis main thread's CPU seconds so far. */
async function serverCpu(admin: Redis): Promise<number> {
  const text = await admin.info('cpu');
  const read = (field: string): number => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return read('used_cpu_user_main_thread') + read('used_cpu_sys_main_thread');
}

/** µs of execution per call of each command since the last `CONFIG RESETSTAT` (INFO commandstats). */
async function commandUsec(admin: Redis): Promise<Map<string, { calls: number; usecPerCall: number }>> {
  const text = await admin.info('commandstats');
  const found = new Map<string, { calls: number; usecPerCall: number }>();
  for (const [, name, calls, perCall] of text.matchAll(/^cmdstat_([\w|]+):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/gm)) {
    found.set(name as string, { calls: Number(calls), usecPerCall: Number(perCall) });
  }
  return found;
}

/** Server CPU µs per operation of `floor` and `subject`, in alternating batches (the server serves nothing else meanwhile). */
async function serverCpuPerOp(admin: Redis, floor: () => Promise<unknown>, subject: () => Promise<unknown>): Promise<{ floor: Stats; subject: Stats }> {
  const batch = 2_000;
  const sides = { floor: [] as number[], subject: [] as number[] };
  for (let round = 0; round < 12; round++) {
    for (const side of round % 2 === 0 ? (['floor', 'subject'] as const) : (['subject', 'floor'] as const)) {
      const run = side === 'floor' ? floor : subject;
      const before = await serverCpu(admin);
      for (let i = 0; i < batch; i++) await run();
      const used = (await serverCpu(admin)) - before;
      if (round >= 2) sides[side].push((used * 1e6) / batch);
    }
  }
  return { floor: stats(sides.floor), subject: stats(sides.subject) };
}

/** Milliseconds for a message published on one connection to reach a subscriber on another, `rounds` times. */
async function rawPubSub(server: RedisServer, rounds: number): Promise<number[]> {
  const publisher = new Redis(server.url);
  const subscriber = new Redis(server.url);
  let received = 0;
  subscriber.on('message', () => received++);
  await subscriber.subscribe('bench-floor');
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const expected = received + 1;
    const started = process.hrtime.bigint();
    await publisher.publish('bench-floor', '1');
    samples.push(await whenTrue(() => received >= expected, started, 5_000));
  }
  publisher.disconnect();
  subscriber.disconnect();
  return samples;
}

/** Renews `instances` through `writer` every `everyMs` (in parallel chunks), until stopped. */
function heartbeat(writer: RedisBackend, instances: readonly ServiceInstance[], everyMs: number): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      for (let first = 0; first < instances.length; first += 100) {
        await Promise.all(instances.slice(first, first + 100).map((each) => writer.renew(each, 'passing').catch(() => 'lost')));
      }
      await sleep(Math.max(0, everyMs - (Date.now() - started)));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

async function registerAll(writer: RedisBackend, instances: readonly ServiceInstance[], ttlMs: number): Promise<void> {
  for (let first = 0; first < instances.length; first += 200) {
    await Promise.all(instances.slice(first, first + 200).map((each) => writer.register(each, { ttlMs })));
  }
}

export async function redisFigures(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const server = await startRedis();
  const backends: RedisBackend[] = [];
  const clients: Redis[] = [];
  const backend = (namespace = 'bench'): RedisBackend => {
    const created = new RedisBackend({ url: server.url, namespace });
    backends.push(created);
    return created;
  };
  const raw = (): Redis => {
    const client = new Redis(server.url);
    clients.push(client);
    return client;
  };
  // One writer, as in one process: instances belong to the backend that registered them.
  const writer = backend();
  try {
    figures.push(await repeated(() => coldResolve(writer, backend(), raw())));
    figures.push(await repeated(() => heartbeatLatency(writer, raw())));
    figures.push(...(await serverCost()));
    figures.push(await repeated(() => propagation(server, writer, backend(), 5)));
    figures.push(...(await largeServices(server, writer, backend)));
    figures.push(...(await peerFigures(server, writer, backend, raw)));
    figures.push(await idleWatch(server));
    figures.push(await repeated(() => outage()));
  } finally {
    await Promise.all(backends.map((b) => b.close()));
    for (const client of clients) client.disconnect();
    await server.stop();
  }
  return figures;
}

async function coldResolve(writer: RedisBackend, reader: RedisBackend, client: Redis): Promise<Measured> {
  for (let n = 0; n < 5; n++) await writer.register(instance('orders', n), { ttlMs: 600_000 });
  const resolver = createResolver({ backend: reader, watch: false });
  // Another service stays cached, as in any real process: lru-cache resets all of its
  // maxServices slots when its last entry is deleted, which a lone service would measure.
  await writer.register(instance('other', 0), { ttlMs: 600_000 });
  await resolver.resolve('other');
  const records = serviceKeys('bench', 'orders').records;
  const result = await compare(
    () => client.hgetall(records),
    async () => {
      resolver.invalidate('orders');
      return resolver.resolve('orders');
    },
    { batch: 500, rounds: 24, warmupRounds: 4 },
  );
  await resolver.close();
  return {
    id: 'cold-resolve-redis',
    title: 'Cold resolve() through RedisBackend',
    subject: 'resolve() of a service not in cache: one read script (read 5 records, version, epoch), parse, pick, behind the breaker and time limit',
    floor: 'one raw ioredis HGETALL of the same records hash on the same server',
    unit: 'µs/op',
    target: { kind: 'max-ratio', value: 1.5 },
    note: 'Beyond the round trip the read script reads the server clock and the deadlines (an expired instance is never returned, whatever the client clocks say) and the resolver parses the records and builds a picker; the floor does none of that',
    run: { subject: micro(result.subject), floor: micro(result.floor), ratio: result.ratio },
  };
}

async function heartbeatLatency(writer: RedisBackend, client: Redis): Promise<Measured> {
  await writer.register(instance('beat', 0), { ttlMs: 600_000 });
  const sha = (await client.script('LOAD', 'return 1')) as string;
  const result = await compare(
    () => client.evalsha(sha, 0),
    () => writer.renew({ service: 'beat', id: 'beat-0' }, 'passing'),
    { batch: 500, rounds: 24, warmupRounds: 4 },
  );
  return {
    id: 'heartbeat-redis',
    title: 'Heartbeat (renew) latency through RedisBackend',
    subject: 'backend.renew(): validation plus one EVALSHA of the renew script (server-timed lease, owner and record checked)',
    floor: 'one raw EVALSHA of a script returning 1, same client settings and server',
    unit: 'µs/op',
    target: { kind: 'max-ratio', value: 1.5 },
    note: 'The renew script runs seven commands (TIME, HMGET, ZRANGE, ZADD, PTTL, the index ZADD and, for the earliest instance, the expiry index ZADD) and one SHA-1; each command inside Lua costs about a microsecond on this machine, more than the whole floor script',
    run: { subject: micro(result.subject), floor: micro(result.floor), ratio: result.ratio },
  };
}

/** Server CPU per renew and per cold read, on a server of its own (nothing else runs on it meanwhile). */
async function serverCost(): Promise<Figure[]> {
  const server = await startRedis();
  const admin = new Redis(server.url);
  const client = new Redis(server.url);
  const writer = new RedisBackend({ url: server.url, namespace: 'cpu' });
  const reader = new RedisBackend({ url: server.url, namespace: 'cpu' });
  try {
    for (let n = 0; n < 5; n++) await writer.register(instance('orders', n), { ttlMs: 600_000 });
    const sha = (await client.script('LOAD', 'return 1')) as string;
    const records = serviceKeys('cpu', 'orders').records;
    const renew = async (): Promise<Measured> => {
      await admin.config('RESETSTAT');
      const cpu = await serverCpuPerOp(
        admin,
        () => client.evalsha(sha, 0),
        () => writer.renew({ service: 'orders', id: 'orders-2' }, 'passing'),
      );
      const usec = (await commandUsec(admin)).get('evalsha')?.usecPerCall ?? Number.NaN;
      return {
        id: 'heartbeat-server-cpu',
        title: 'Heartbeat (renew) server CPU',
        subject: 'Redis main-thread CPU (INFO cpu) per renew, network handling included',
        floor: 'the same per raw EVALSHA of a script returning 1',
        unit: 'µs/op',
        target: { kind: 'max-ratio', value: 1.5 },
        note: `INFO commandstats, both sides together: ${usec.toFixed(2)} µs of script execution per EVALSHA on average; a script's commands, not its network round trip, are what a renew adds`,
        run: { subject: cpu.subject, floor: cpu.floor, ratio: cpu.subject.median / cpu.floor.median },
      };
    };
    const read = async (): Promise<Measured> => {
      const cpu = await serverCpuPerOp(
        admin,
        () => client.hgetall(records),
        () => reader.instances('orders'),
      );
      return {
        id: 'read-server-cpu',
        title: 'Cold read server CPU',
        subject: 'Redis main-thread CPU per backend.instances() of a 5-instance service (the read script)',
        floor: 'the same per raw HGETALL of the records hash',
        unit: 'µs/op',
        target: { kind: 'info' },
        run: { subject: cpu.subject, floor: cpu.floor, ratio: cpu.subject.median / cpu.floor.median },
      };
    };
    return [await repeated(renew), await repeated(read)];
  } finally {
    await writer.close();
    await reader.close();
    admin.disconnect();
    client.disconnect();
    await server.stop();
  }
}

/** deregister() on the writer until a watching resolver of another backend no longer lists the instance. */
async function propagation(server: RedisServer, writer: RedisBackend, reader: RedisBackend, size: number): Promise<Measured> {
  const service = `prop${size}`;
  const members = Array.from({ length: size }, (_, n) => instance(service, n));
  await registerAll(writer, members, 600_000);
  const resolver = createResolver({ backend: reader, maxServices: 100 });
  await resolver.resolve(service);
  const listed = (): number => resolver.status(service)?.listed ?? -1;
  await whenTrue(() => resolver.status(service)?.watching === true && listed() === size, process.hrtime.bigint(), 10_000);
  const samples: number[] = [];
  for (let round = 0; round < 40; round++) {
    const leaving = members[round % size] as ServiceInstance;
    const started = process.hrtime.bigint();
    await writer.deregister(leaving);
    samples.push(await whenTrue(() => listed() === size - 1, started, 5_000));
    await writer.register(leaving, { ttlMs: 600_000 });
    await whenTrue(() => listed() === size, process.hrtime.bigint(), 5_000);
  }
  await resolver.close();
  const floor = stats(await rawPubSub(server, 40));
  const subject = stats(samples);
  return {
    id: 'change-propagation-redis',
    title: 'Change propagation to a watching resolver (5 instances)',
    subject: 'deregister() on one backend until a resolver on another backend stops listing the instance',
    floor: 'raw PUBLISH on one connection until a SUBSCRIBE connection receives it',
    unit: 'ms',
    target: { kind: 'max-ratio', value: 2 },
    note: 'A change message carries only the new version (a forged message must not hand watchers a listing), so the watcher reads what changed since the version it knows; the subject also includes the deregister script itself (ownership check, delete, log, indexes, version), which a bare PUBLISH does not do',
    run: { subject, floor, ratio: subject.median / floor.median },
  };
}

/** Figures on large services with heartbeating neighbours: propagation, one change to 10,000 instances, absorbing them, crash detection. */
async function largeServices(server: RedisServer, writer: RedisBackend, backend: () => RedisBackend): Promise<Figure[]> {
  const figures: Figure[] = [];
  const ttlMs = 3_000;
  const thousand = Array.from({ length: 1_000 }, (_, n) => instance('big1k', n));
  await registerAll(writer, thousand, ttlMs);
  const stopBeating = heartbeat(writer, thousand, ttlMs / 3);
  const ten = Array.from({ length: 10_000 }, (_, n) => instance('big10k', n));
  await registerAll(writer, ten, 600_000);
  try {
    const reader = backend();
    const resolver = createResolver({ backend: reader, maxServices: 100 });
    await resolver.resolve('big1k');
    await resolver.resolve('big10k');
    const listed = (service: string): number => resolver.status(service)?.listed ?? -1;
    await whenTrue(() => resolver.status('big1k')?.watching === true && resolver.status('big10k')?.watching === true, process.hrtime.bigint(), 20_000);

    const change = async (service: string, size: number, target: Measured['target'], title: string, id: string, note: string): Promise<Measured> => {
      const samples: number[] = [];
      for (let round = 0; round < 30; round++) {
        const leaving = instance(service, `churn${round}`);
        await writer.register(leaving, { ttlMs: service === 'big1k' ? ttlMs * 100 : 600_000 });
        await whenTrue(() => listed(service) === size + 1, process.hrtime.bigint(), 5_000);
        if (service === 'big10k') {
          // The watcher's part: from the moment the change was made (the script publishes before it
          // answers) until the resolver's answer lacks the instance.
          await writer.deregister(leaving);
          const published = process.hrtime.bigint();
          samples.push(await whenTrue(() => listed(service) === size, published, 5_000));
        } else {
          const started = process.hrtime.bigint();
          await writer.deregister(leaving);
          samples.push(await whenTrue(() => listed(service) === size, started, 5_000));
        }
      }
      const floor = stats(await rawPubSub(server, 30));
      const subject = stats(samples);
      return {
        id,
        title,
        subject:
          service === 'big10k'
            ? 'from the moment deregister() of one instance of a 10,000-instance service returned (its change message was published before) until a watching resolver on another backend stops listing it'
            : `deregister() of one instance of a ${size.toLocaleString('en-US')}-instance service until a watching resolver on another backend stops listing it, while the other 1,000 renew every second`,
        floor: 'raw PUBLISH until a SUBSCRIBE connection receives it',
        unit: 'ms',
        target,
        note,
        run: { subject, floor, ratio: target.kind === 'max-value' ? Number.NaN : subject.median / floor.median },
      };
    };
    figures.push(
      await repeated(() =>
        change('big1k', 1_000, { kind: 'max-ratio', value: 2 }, 'Change propagation in a 1,000-instance service', 'change-propagation-1k', 'Heartbeats of the neighbours change no version: watchers read only on real changes, and then only the changed instance'),
      ),
    );
    figures.push(
      await repeated(() =>
        change(
          'big10k',
          10_000,
          { kind: 'max-value', value: 1 },
          'One change to a 10,000-instance service, to a watcher',
          'one-change-10k',
          "The watcher's read round trip brings only the instances changed since the version it knows (one here); it applies them to its sorted list (a copy and a binary search) and the resolver keeps the list as delivered",
        ),
      ),
    );
    await resolver.close();

    // Absorbing the whole of it: a cold read and its parse, against fetching and parsing the same records raw.
    const client = new Redis(server.url);
    const cold = createResolver({ backend: backend(), watch: false });
    const records = serviceKeys('bench', 'big10k').records;
    figures.push(
      await repeated(async () => {
        const result = await compare(
          async () => {
            const all = await client.hgetall(records);
            return Object.entries(all).filter(([field]) => !field.startsWith('#')).map(([, record]) => JSON.parse(record.slice(record.indexOf('{'))) as unknown);
          },
          async () => {
            cold.invalidate('big10k');
            return cold.resolve('big10k');
          },
          { batch: 1, rounds: 12, warmupRounds: 2 },
        );
        return {
          id: 'absorb-listing-redis',
          title: 'Absorbing a 10,000-instance listing through Redis',
          subject: 'cold resolve() of a service of 10,000 instances: read script, parse and validation of every record, filter, picker',
          floor: 'raw HGETALL of the same records hash and JSON.parse of every record',
          unit: 'ms',
          target: { kind: 'info' },
          note: 'The validation of each record (every field of every instance, as anything read from Redis is input) is most of the difference; watchers pay it once, then read only what changes',
          run: { subject: { median: result.subject.median / 1e6, p25: result.subject.p25 / 1e6, p75: result.subject.p75 / 1e6 }, floor: { median: result.floor.median / 1e6, p25: result.floor.p25 / 1e6, p75: result.floor.p75 / 1e6 }, ratio: result.ratio },
        };
      }),
    );
    await cold.close();
    client.disconnect();

    figures.push(await repeated(() => crashDetection(writer, backend, ttlMs)));
  } finally {
    await stopBeating();
  }
  return figures;
}

/** An instance that stops heartbeating in a 1,000-instance service whose others heartbeat, until 5 watching processes drop it. */
async function crashDetection(writer: RedisBackend, backend: () => RedisBackend, ttlMs: number): Promise<Measured> {
  const resolvers: Resolver[] = Array.from({ length: 5 }, () => createResolver({ backend: backend(), maxServices: 100 }));
  for (const resolver of resolvers) await resolver.resolve('big1k');
  await whenTrue(() => resolvers.every((r) => r.status('big1k')?.watching === true), process.hrtime.bigint(), 20_000);
  const delays: number[] = [];
  for (let round = 0; round < 3; round++) {
    const crashed = instance('big1k', `crash${Date.now()}`);
    const registered = process.hrtime.bigint();
    await writer.register(crashed, { ttlMs });
    const gone = (): boolean => resolvers.every((r) => r.status('big1k')?.instances.every((i) => i.id !== crashed.id) === true);
    await whenTrue(() => !gone(), registered, 5_000);
    delays.push((await whenTrue(gone, registered, ttlMs + 10_000)) - ttlMs);
  }
  await Promise.all(resolvers.map((r) => r.close()));
  return {
    id: 'crash-detection-redis',
    title: 'Crash detection past the TTL',
    subject: `an instance registered with a ${ttlMs} ms TTL and never renewed, in a service of 1,000 instances renewing every second, until 5 watching resolvers in other backends all drop it`,
    floor: 'the TTL itself (the delay reported is the time past it)',
    unit: 'ms past TTL',
    target: { kind: 'max-value', value: 250 },
    note: 'One backend of the namespace sweeps at the earliest deadline (25 ms late on purpose); the others learn of it as of any change',
    run: { subject: stats(delays), floor: single(0), ratio: Number.NaN },
  };
}

/** rollcall against the peer (bench/peer.ts): per-call latency, a crash leaving answers, a new instance picked. */
export async function peerFigures(server: RedisServer, writer: RedisBackend, backend: () => RedisBackend, raw: () => Redis): Promise<Figure[]> {
  const ttlMs = 3_000;
  const peer = new PeerRegistry(raw());
  const peerWriter = new PeerRegistry(raw());
  const neighbours = Array.from({ length: 20 }, (_, n) => instance('peered', n));
  await registerAll(writer, neighbours, ttlMs);
  for (const each of neighbours) await peerWriter.register('peered', each, ttlMs);
  const stopBeating = heartbeat(writer, neighbours, ttlMs / 3);
  const peerBeat = setInterval(() => {
    for (const each of neighbours) void peerWriter.heartbeat('peered', each.id, ttlMs);
  }, ttlMs / 3);
  const resolver = createResolver({ backend: backend(), maxServices: 100 });
  await resolver.resolve('peered');
  await peer.resolve('peered');
  await whenTrue(() => resolver.status('peered')?.watching === true, process.hrtime.bigint(), 10_000);
  // Callers of both keep calling, as a service under load would.
  let calling = true;
  const callers = (async () => {
    while (calling) {
      await resolver.resolve('peered');
      await peer.resolve('peered');
      await sleep(5);
    }
  })();
  const figures: Figure[] = [];
  try {
    const latency = async (): Promise<{ ours: number[]; theirs: number[] }> => {
      const ours: number[] = [];
      const theirs: number[] = [];
      const until = Date.now() + PEER_CACHE_MS + 1_000;
      while (Date.now() < until) {
        let started = process.hrtime.bigint();
        await resolver.resolve('peered');
        ours.push(msSince(started) * 1_000);
        started = process.hrtime.bigint();
        await peer.resolve('peered');
        theirs.push(msSince(started) * 1_000);
        // A caller under load, not a loop that starves the heartbeats of the event loop.
        await sleep(2);
      }
      return { ours, theirs };
    };
    const percentiles = async (q: number, name: string): Promise<Figure> =>
      repeated(async () => {
        const { ours, theirs } = await latency();
        const value = quantile(ours, q);
        return {
          id: `resolve-latency-${name}`,
          title: `resolve() latency ${name} through Redis, calls spread over 6 s`,
          subject: `${name} of every resolve() of a watched 20-instance service, one call every 2 ms for 6 s (the peer's copy expires once or twice meanwhile)`,
          floor: 'none: the peer column shows the same for the peer design',
          unit: 'µs',
          target: { kind: 'info' },
          peer: { value: single(quantile(theirs, q)), unit: 'µs' },
          run: { subject: single(value), floor: single(Number.NaN), ratio: Number.NaN },
        };
      });
    figures.push(await percentiles(0.5, 'p50'), await percentiles(0.99, 'p99'));

    // Crashes and a new instance, both designs at the same time. The crashed instances live 6 s,
    // longer than the peer's copy, so that the peer's answers surely held them.
    const crashTtlMs = 6_000;
    const ours = (id: string): boolean => resolver.status('peered')?.instances.some((i) => i.id === id) === true;
    const crash = async (delayMs: number): Promise<[number, number]> => {
      await sleep(delayMs);
      const crashed = instance('peered', `crash${Date.now()}`);
      const started = process.hrtime.bigint();
      await Promise.all([writer.register(crashed, { ttlMs: crashTtlMs }), peerWriter.register('peered', crashed, crashTtlMs)]);
      return Promise.all([
        whenTrue(() => ours(crashed.id), started, 5_000).then(async () => (await whenTrue(() => !ours(crashed.id), started, crashTtlMs + 15_000)) - crashTtlMs),
        whenTrue(() => peer.lists('peered', crashed.id), started, PEER_CACHE_MS + 5_000).then(async () => (await whenTrue(() => !peer.lists('peered', crashed.id), started, crashTtlMs + 15_000)) - crashTtlMs),
      ]);
    };
    const join = async (delayMs: number): Promise<[number, number]> => {
      await sleep(delayMs);
      const joined = instance('peered', `join${Date.now()}`);
      const started = process.hrtime.bigint();
      await Promise.all([writer.register(joined, { ttlMs: 600_000 }), peerWriter.register('peered', joined, 600_000)]);
      const times = await Promise.all([whenTrue(() => ours(joined.id), started, 10_000), whenTrue(() => peer.lists('peered', joined.id), started, PEER_CACHE_MS + 5_000)]);
      await writer.deregister(joined);
      await peerWriter.deregister('peered', joined.id);
      return times;
    };
    const crashRuns: { ours: number[]; theirs: number[] }[] = [];
    const joinRuns: { ours: number[]; theirs: number[] }[] = [];
    for (let run = 0; run < 2; run++) {
      // Joins first, then crashes: a registration measured while another's change is read would measure both.
      const joins = await Promise.all([join(0), join(1_700), join(3_400)]);
      const crashes = await Promise.all([crash(0), crash(1_300), crash(2_600)]);
      crashRuns.push({ ours: crashes.map(([mine]) => mine), theirs: crashes.map(([, theirs]) => theirs) });
      joinRuns.push({ ours: joins.map(([mine]) => mine), theirs: joins.map(([, theirs]) => theirs) });
    }
    const pubsub = stats(await rawPubSub(server, 20));
    figures.push({
      id: 'crash-leaves-answers',
      title: 'A crashed instance leaves the answers, past its TTL',
      subject: `an instance of a 20-instance service registered with a ${crashTtlMs} ms TTL and never renewed, until the resolver's answers lack it (callers calling every 5 ms); three per run`,
      floor: 'the TTL itself',
      unit: 'ms past TTL',
      target: { kind: 'max-value', value: 250 },
      peer: { value: stats(crashRuns.flatMap((run) => run.theirs)), unit: 'ms past TTL' },
      runs: crashRuns.map((run) => ({ subject: stats(run.ours), floor: single(0), ratio: Number.NaN })),
    });
    figures.push({
      id: 'new-instance-picked',
      title: 'A new instance is in the answers',
      subject: 'register() of a new instance until the resolver of another backend lists it (callers calling every 5 ms); three per run',
      floor: 'raw PUBLISH until a SUBSCRIBE connection receives it',
      unit: 'ms',
      target: { kind: 'max-ratio', value: 2 },
      note: 'The subject includes the register script (ownership check, record, log, indexes, version) and the watcher\'s read of the new instance',
      peer: { value: stats(joinRuns.flatMap((run) => run.theirs)), unit: 'ms' },
      runs: joinRuns.map((run) => ({ subject: stats(run.ours), floor: pubsub, ratio: stats(run.ours).median / pubsub.median })),
    });
  } finally {
    calling = false;
    await callers;
    clearInterval(peerBeat);
    await stopBeating();
    await resolver.close();
  }
  return figures;
}

/** 200 backends watching 50 services each while every instance heartbeats and nothing changes: their calls to Redis per second. */
async function idleWatch(server: RedisServer): Promise<Figure> {
  const namespace = 'idle';
  const services = Array.from({ length: 50 }, (_, n) => `idle-${n}`);
  const ttlMs = 3_000;
  const writer = new RedisBackend({ url: server.url, namespace });
  const live = services.flatMap((service) => [instance(service, 0), instance(service, 1)]);
  await registerAll(writer, live, ttlMs);
  const stopBeating = heartbeat(writer, live, ttlMs / 3);
  const readers = Array.from({ length: 200 }, () => new RedisBackend({ url: server.url, namespace }));
  try {
    let delivered = 0;
    for (const reader of readers) for (const service of services) reader.watch(service, { onChange: () => delivered++ });
    await whenTrue(() => delivered >= readers.length * services.length, process.hrtime.bigint(), 60_000);
    // Past every participant's first look at the sweeper lease.
    await sleep(2_000);
    const calls = (): number => readers.reduce((total, reader) => {
      const { watchRefreshes, sweeperChecks, expirySweeps } = reader.stats();
      return total + watchRefreshes + sweeperChecks + expirySweeps;
    }, 0);
    return await repeated(async () => {
      const windowMs = 6_000;
      const before = calls();
      await sleep(windowMs);
      const perSecond = ((calls() - before) * 1_000) / windowMs;
      const budget = services.length / (ttlMs / 1_000);
      return {
        id: 'idle-watch-reads',
        title: 'Registry calls while nothing changes, 200 watching backends x 50 services',
        subject: `calls to Redis per second made by 200 backends watching the same 50 services (reads, sweeper looks, sweeps) while their 100 instances renew every ${ttlMs / 3} ms (TTL ${ttlMs} ms)`,
        floor: 'the budget: services / TTL (one read per service per lease period, for the whole fleet)',
        unit: 'calls/s',
        target: { kind: 'max-ratio', value: 1 },
        note: `Watchers keep no timer; one backend holds the sweeper lease (a renewal a second) and the 199 others look at it about once per lease between them. A watcher re-reading each service at its earliest deadline would make about ${Math.round((readers.length * services.length) / ((ttlMs * 2) / 3 / 1_000)).toLocaleString('en-US')} reads/s here`,
        run: { subject: single(perSecond), floor: single(budget), ratio: perSecond / budget },
      };
    });
  } finally {
    await stopBeating();
    await Promise.all(readers.map((reader) => reader.close()));
    await writer.close();
  }
}

/** Answers per second while Redis hangs (SIGSTOP), against while it answers. */
async function outage(): Promise<Measured> {
  const server = await startRedis();
  const admin = new Redis(server.url);
  const pid = Number(/^process_id:(\d+)/m.exec(await admin.info('server'))?.[1]);
  const writer = new RedisBackend({ url: server.url, namespace: 'outage' });
  const reader = new RedisBackend({ url: server.url, namespace: 'outage' });
  for (let n = 0; n < 5; n++) await writer.register(instance('orders', n), { ttlMs: 600_000 });
  const resolver = createResolver({ backend: reader, watch: false, cacheTtlMs: 20 });
  await resolver.resolve('orders');
  const window = async (ms: number): Promise<{ rate: number; slowest: number }> => {
    let answers = 0;
    let slowest = 0;
    const until = Date.now() + ms;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < until) {
          const started = process.hrtime.bigint();
          await resolver.resolve('orders');
          slowest = Math.max(slowest, msSince(started));
          answers++;
          if (answers % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    return { rate: (answers * 1_000) / ms, slowest };
  };
  try {
    const up = await window(3_000);
    process.kill(pid, 'SIGSTOP');
    let down: { rate: number; slowest: number };
    try {
      down = await window(3_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    if (resolver.status('orders')?.source !== 'stale') throw new Error('the outage figure did not run on stale answers');
    return {
      id: 'outage',
      title: 'Answers per second while the registry hangs (SIGSTOP)',
      subject: 'resolve() answers/s by 8 concurrent callers during 3 s of a redis-server stopped with SIGSTOP (cache TTL 20 ms, no watch): stale answers at once, one retry in the background',
      floor: 'the same while the server answers',
      unit: 'answers/s',
      target: { kind: 'info' },
      note: `The slowest call while the server hung took ${down.slowest.toFixed(0)} ms (the first caller waits registryTimeoutMs once; then the registry is known to hang and nobody waits); while it answered, ${up.slowest.toFixed(1)} ms`,
      run: { subject: single(down.rate), floor: single(up.rate), ratio: down.rate / up.rate },
    };
  } finally {
    await resolver.close();
    await reader.close();
    await writer.close();
    admin.disconnect();
    await server.stop();
  }
}
