/**
 * Figures that need no server: the resolver's hot path, its scaling, memory, listing absorption
 * and outage throughput, on the memory backend or an in-process stub.
 */
import {
  MemoryBackend,
  createInstance,
  createResolver,
  type RegistryBackend,
  type ServiceInstance,
} from '../src/index.js';
import { FaultyBackend } from '../src/testing/index.js';
import type { Figure } from './figure.js';
import { compare, retainedBytes, stats, timeBatch, timeRuns } from './harness.js';

const makeInstance = (service: string, n: number): ServiceInstance =>
  createInstance({ id: `${service}-${n}`, service, host: `10.0.${Math.floor(n / 250)}.${n % 250}`, port: 8000 + (n % 1000), tags: ['bench'], meta: { build: '1' } }, Date.now());

const serviceNames = (count: number): string[] => Array.from({ length: count }, (_, n) => `svc-${n}`);

/** A backend answering from arrays built on demand, with no registry state of its own. */
function stubBackend(listing: (service: string) => ServiceInstance[]): RegistryBackend {
  return {
    kind: 'stub',
    register: () => Promise.resolve(),
    renew: () => Promise.resolve('renewed'),
    deregister: () => Promise.resolve(),
    instances: (service) => Promise.resolve(listing(service)),
    services: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  };
}

async function filledMemory(services: readonly string[], perService: number): Promise<MemoryBackend> {
  const backend = new MemoryBackend();
  for (const service of services) {
    for (let n = 0; n < perService; n++) await backend.register(makeInstance(service, n), { ttlMs: 3_600_000 });
  }
  return backend;
}

export async function cachedResolve(): Promise<Figure> {
  const backend = await filledMemory(['orders'], 5);
  const resolver = createResolver({ backend });
  await resolver.resolve('orders');
  const map = new Map([['orders', await backend.instances('orders')]]);
  let next = 0;
  // The floor is by definition an async function doing only a Map lookup and an array index.
  // eslint-disable-next-line @typescript-eslint/require-await
  const floor = async (service: string): Promise<ServiceInstance | undefined> => {
    const list = map.get(service) as ServiceInstance[];
    return list[next++ % list.length];
  };
  const result = await compare(() => floor('orders'), () => resolver.resolve('orders'), { batch: 20_000, rounds: 40, warmupRounds: 10 });
  await resolver.close();
  await backend.close();
  return {
    id: 'cached-resolve',
    title: 'Cached resolve() including the pick',
    subject: 'await resolver.resolve(service) on a warm cache, round-robin over 5 instances',
    floor: 'await of an async function doing Map.get + array index',
    unit: 'ns/op',
    subjectValue: result.subject,
    floorValue: result.floor,
    ratio: result.ratio,
    target: { kind: 'max-ratio', value: 2 },
  };
}

export async function scale(): Promise<Figure> {
  const measureAt = async (count: number): Promise<{ backend: MemoryBackend; run: () => Promise<ServiceInstance> }> => {
    const names = serviceNames(count);
    const backend = await filledMemory(names, 5);
    const resolver = createResolver({ backend, maxServices: count });
    for (const name of names) await resolver.resolve(name);
    let next = 0;
    return { backend, run: () => resolver.resolve(names[next++ % count] as string) };
  };
  const small = await measureAt(10);
  const large = await measureAt(10_000);
  const result = await compare(small.run, large.run, { batch: 20_000, rounds: 30, warmupRounds: 5 });
  await small.backend.close();
  await large.backend.close();
  // The same access pattern on a bare Map shows what memory locality alone costs on this machine.
  const bareMap = (count: number): (() => Promise<number | undefined>) => {
    const names = serviceNames(count);
    const map = new Map(names.map((name) => [name, [1, 2, 3, 4, 5]]));
    let next = 0;
    // eslint-disable-next-line @typescript-eslint/require-await
    return async () => (map.get(names[next++ % count] as string) as number[])[next % 5];
  };
  const reference = await compare(bareMap(10), bareMap(10_000), { batch: 20_000, rounds: 30, warmupRounds: 5 });
  return {
    id: 'scale',
    title: 'Cached resolve() at 10,000 services x 5 instances',
    subject: 'cached resolve(), cycling through 10,000 services of 5 instances each',
    floor: 'the same, cycling through 10 services',
    unit: 'ns/op',
    subjectValue: result.subject,
    floorValue: result.floor,
    ratio: result.ratio,
    target: { kind: 'max-ratio', value: 1.5 },
    note: `In the same run, a bare Map cycling through 10,000 keys instead of 10 costs ${reference.ratio.toFixed(2)}x: that much is the memory hierarchy, not rollcall`,
  };
}

export async function memoryPerInstance(): Promise<Figure> {
  const names = serviceNames(10_000);
  const perService = 5;
  const total = names.length * perService;
  const floor = await retainedBytes(() => new Map(names.map((name) => [name, Array.from({ length: perService }, (_, n) => makeInstance(name, n))])));
  const subject = await retainedBytes(async () => {
    const resolver = createResolver({ backend: stubBackend((service) => Array.from({ length: perService }, (_, n) => makeInstance(service, n))), maxServices: names.length });
    for (const name of names) await resolver.resolve(name);
    return resolver;
  });
  const perInstance = (bytes: number): { median: number; p25: number; p75: number } => {
    const value = Math.round(bytes / total);
    return { median: value, p25: value, p75: value };
  };
  return {
    id: 'memory-per-instance',
    title: 'Memory per cached instance (10,000 services x 5)',
    subject: 'heap retained by a resolver holding 50,000 instances, per instance',
    floor: 'a Map<string, ServiceInstance[]> of the same instances, per instance',
    unit: 'bytes',
    subjectValue: perInstance(subject.bytes),
    floorValue: perInstance(floor.bytes),
    ratio: subject.bytes / floor.bytes,
    target: { kind: 'info' },
    note: `kept alive during measurement: ${typeof subject.keep === 'object' && typeof floor.keep === 'object'}`,
  };
}

export async function absorbListing(): Promise<Figure> {
  const listing = Array.from({ length: 10_000 }, (_, n) => makeInstance('big', n));
  const resolver = createResolver({ backend: stubBackend(() => listing), watch: false });
  const subject = await timeRuns(async () => {
    resolver.invalidate('big');
    await resolver.resolve('big');
  }, 30);
  const floor = await timeRuns(async () => {
    const answer = await Promise.resolve(listing);
    return answer.filter((instance) => instance.status === 'passing');
  }, 30);
  await resolver.close();
  return {
    id: 'absorb-listing',
    title: 'Absorbing a 10,000-instance listing',
    subject: 'cold resolve() of a service listed with 10,000 instances (fetch, filter, picker)',
    floor: 'awaiting the same listing and filtering it by status',
    unit: 'ms',
    subjectValue: subject,
    floorValue: floor,
    ratio: subject.median / floor.median,
    target: { kind: 'info' },
  };
}

export async function outageThroughput(): Promise<Figure> {
  const memory = await filledMemory(['orders'], 5);
  const registry = new FaultyBackend(memory);
  const resolver = createResolver({ backend: registry, watch: false, cacheTtlMs: 20 });
  await resolver.resolve('orders');
  const rate = async (): Promise<number[]> => {
    const rates: number[] = [];
    for (let round = 0; round < 30; round++) rates.push(1e9 / (await timeBatch(() => resolver.resolve('orders'), 20_000)));
    return rates;
  };
  const up = await rate();
  registry.fail();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const down = await rate();
  const downStats = stats(down);
  if (resolver.status('orders')?.source !== 'stale') throw new Error('the outage figure did not run on stale answers');
  await resolver.close();
  await memory.close();
  const upStats = stats(up);
  return {
    id: 'outage',
    title: 'Answers per second during a registry outage',
    subject: 'resolve() answers/s served from stale cache while the registry fails',
    floor: 'resolve() answers/s while the registry is up (cache TTL 20 ms)',
    unit: 'answers/s',
    subjectValue: downStats,
    floorValue: upStats,
    ratio: downStats.median / upStats.median,
    target: { kind: 'info' },
  };
}
