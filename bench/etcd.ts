/**
 * Figures through EtcdBackend against raw requests to etcd's JSON gateway on the same member (the
 * same transport: undici, one connection pool), which the bench starts on free loopback ports and
 * removes afterwards, as the tests do. One more figure reports what the gateway costs against
 * etcd's gRPC API (the `etcd3` client) for the same range read: the price of the client choice in
 * docs/backends/etcd.md.
 */
import { Etcd3 } from 'etcd3';
import { Agent, request } from 'undici';
import { createInstance, createResolver, type ServiceInstance } from '../src/index.js';
import { EtcdBackend } from '../src/backends/etcd/index.js';
import { KeyLayout } from '../src/backends/etcd/keys.js';
import { startEtcd, type EtcdMember } from '../test/helpers/etcd-server.js';
import { repeatedAll, type Figure, type Measured } from './figure.js';
import { compare, micro, single, stats, whenTrue } from './harness.js';

const SERVICE = 'orders';
const NAMESPACE = 'bench';
const instance = (n: number): ServiceInstance =>
  createInstance({ id: `orders-${n}`, service: SERVICE, host: '127.0.0.1', port: 9000 + n, tags: ['bench'], meta: { build: '1' } }, Date.now());
const b64 = (text: string): string => Buffer.from(text).toString('base64');

/** Every etcd figure, each run twice, on a member started for the bench and removed afterwards. */
export async function etcdFigures(): Promise<Figure[]> {
  const member: EtcdMember = await startEtcd();
  const agent = new Agent();
  const raw = async (path: string, body: object): Promise<Record<string, unknown>> => {
    const response = await request(`${member.clientUrl}${path}`, { method: 'POST', body: JSON.stringify(body), dispatcher: agent });
    return (await response.body.json()) as Record<string, unknown>;
  };
  const backends: EtcdBackend[] = [];
  const backend = (): EtcdBackend => {
    const created = new EtcdBackend({ endpoints: member.clientUrl, namespace: NAMESPACE, env: {} });
    backends.push(created);
    return created;
  };
  const writer = backend();
  const layout = new KeyLayout(NAMESPACE);
  const prefix = layout.service(SERVICE);
  const range = { key: b64(prefix), range_end: b64(`${prefix.slice(0, -1)}0`) };

  async function coldResolve(): Promise<Measured> {
    for (let n = 0; n < 5; n++) await writer.register(instance(n), { ttlMs: 600_000 });
    const resolver = createResolver({ backend: backend(), watch: false });
    // Another service stays cached, as in any real process (see bench/redis.ts).
    await writer.register(createInstance({ id: 'other-0', service: 'other', host: '127.0.0.1', port: 9999 }, Date.now()), { ttlMs: 600_000 });
    await resolver.resolve('other');
    const result = await compare(
      () => raw('/v3/kv/range', range),
      async () => {
        resolver.invalidate(SERVICE);
        return resolver.resolve(SERVICE);
      },
      { batch: 200, rounds: 30, warmupRounds: 5 },
    );
    await resolver.close();
    return {
      id: 'cold-resolve-etcd',
      title: 'Cold resolve() through EtcdBackend',
      subject: 'resolve() of a service not in cache: one linearizable range read of the service prefix (5 records and the epoch), parse, pick',
      floor: "one raw range read of the same prefix through etcd's JSON gateway with undici, same member",
      unit: 'µs/op',
      run: { subject: micro(result.subject), floor: micro(result.floor), ratio: result.ratio },
      target: { kind: 'max-ratio', value: 1.5 },
      note: 'Beyond the round trip, the resolver runs its breaker and timeout, the backend decodes and validates each record and checks the epoch for a loss, and a picker is built',
    };
  }

  async function heartbeat(): Promise<Measured> {
    await writer.register(instance(0), { ttlMs: 600_000 });
    const lease = (await raw('/v3/lease/grant', { TTL: '600' }))['ID'] as string;
    const result = await compare(
      () => raw('/v3/lease/keepalive', { ID: lease }),
      () => writer.renew({ service: SERVICE, id: 'orders-0' }, 'passing'),
      { batch: 200, rounds: 30, warmupRounds: 5 },
    );
    return {
      id: 'heartbeat-etcd',
      title: 'Heartbeat (renew) through EtcdBackend',
      subject: 'backend.renew(): one lease keep-alive and, concurrently, one transaction checking the key is still attached to the lease',
      floor: "one raw lease keep-alive through etcd's JSON gateway, same member",
      unit: 'µs/op',
      run: { subject: micro(result.subject), floor: micro(result.floor), ratio: result.ratio },
      target: { kind: 'max-ratio', value: 2.5 },
      note: 'Two requests by design: the guarded transaction is what makes renew answer lost when the key was deleted or taken over while the lease lives on (otherwise the instance would stay invisible for as long as the process runs). It runs concurrently with the keep-alive; on a busy 2-core machine the member serves them one after the other',
    };
  }

  async function changePropagation(): Promise<Measured> {
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
    // The floor: a raw watch stream on one key, a raw put, until the stream yields the event.
    const controller = new AbortController();
    const stream = await request(`${member.clientUrl}/v3/watch`, {
      method: 'POST',
      body: JSON.stringify({ create_request: { key: b64('/bench-floor') } }),
      dispatcher: agent,
      signal: controller.signal,
    });
    let received = 0;
    stream.body.on('data', (chunk: Buffer) => (received += (chunk.toString().match(/"events"/g) ?? []).length));
    stream.body.on('error', () => {});
    const floorSamples: number[] = [];
    for (let round = 0; round < 40; round++) {
      const expected = received + 1;
      const started = process.hrtime.bigint();
      await raw('/v3/kv/put', { key: b64('/bench-floor'), value: b64(String(round)) });
      floorSamples.push(await whenTrue(() => received >= expected, started, 5_000));
    }
    controller.abort();
    await resolver.close();
    const subjectStats = stats(subjectSamples);
    const floorStats = stats(floorSamples);
    return {
      id: 'change-propagation-etcd',
      title: 'Change propagation to a watching resolver (etcd)',
      subject: 'deregister() on one backend until a resolver on another backend stops listing the instance',
      floor: 'a raw put until a raw watch stream on the same member yields the event',
      unit: 'ms',
      run: { subject: subjectStats, floor: floorStats, ratio: subjectStats.median / floorStats.median },
      target: { kind: 'max-ratio', value: 2 },
      note: "The event carries the change itself, so the watcher applies it without reading the service again; deregister() then revokes the lease in the background, which competes with the watch for the member's time",
    };
  }

  async function gatewayAgainstGrpc(): Promise<Measured> {
    const grpc = new Etcd3({ hosts: member.clientUrl });
    try {
      const result = await compare(
        () => grpc.getAll().prefix(prefix).exec(),
        () => raw('/v3/kv/range', range),
        { batch: 200, rounds: 20, warmupRounds: 5 },
      );
      return {
        id: 'gateway-vs-grpc-etcd',
        title: "etcd's JSON gateway against gRPC",
        subject: "one range read of a 5-instance service prefix through etcd's JSON gateway with undici (what EtcdBackend uses)",
        floor: 'the same range read through the etcd3 package on @grpc/grpc-js, same member',
        unit: 'µs/op',
        run: { subject: micro(result.subject), floor: micro(result.floor), ratio: result.ratio },
        target: { kind: 'info' },
        note: 'The gateway decodes JSON into a gRPC call to the member itself; the price of needing no protobuf runtime and no new dependency',
      };
    } finally {
      grpc.close();
    }
  }

  async function crashDetection(): Promise<Measured> {
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
    return {
      id: 'crash-detection-etcd',
      title: 'Crash detection past the TTL (etcd)',
      subject: `an instance registered with a ${ttlMs} ms TTL and never renewed, until a watching resolver drops it`,
      floor: 'the TTL itself (the delay reported is the time past it)',
      unit: 'ms past TTL',
      run: { subject: stats(delays), floor: single(0), ratio: Number.NaN },
      target: { kind: 'max-value', value: 1_000 },
      note: "etcd's lessor checks for expired leases every 500 ms",
    };
  }

  try {
    return await repeatedAll(async () => [await coldResolve(), await heartbeat(), await changePropagation(), await crashDetection(), await gatewayAgainstGrpc()]);
  } finally {
    await Promise.all(backends.map((b) => b.close()));
    await agent.close();
    await member.stop();
  }
}
