/**
 * Figures that need no server: the resolver's hot path and its scaling against a same-work Map,
 * and the warnings of many concurrent misses.
 */
import { MemoryBackend, createInstance, createResolver, type RegistryBackend, type ServiceInstance } from '../src/index.js';
import type { Measured } from './figure.js';
import { compare, single } from './harness.js';

const makeInstance = (service: string, n: number): ServiceInstance =>
  createInstance({ id: `${service}-${n}`, service, host: `10.0.${Math.floor(n / 250)}.${n % 250}`, port: 8000 + (n % 1000), tags: ['bench'], meta: { build: '1' } }, Date.now());

const serviceNames = (count: number): string[] => Array.from({ length: count }, (_, n) => `svc-${n}`);

async function filledMemory(services: readonly string[], perService: number): Promise<MemoryBackend> {
  const backend = new MemoryBackend();
  for (const service of services) {
    for (let n = 0; n < perService; n++) await backend.register(makeInstance(service, n), { ttlMs: 3_600_000 });
  }
  return backend;
}

/** The same round robin a resolver does, on a plain Map of the same instance objects. */
function roundRobinMap(lists: ReadonlyMap<string, readonly ServiceInstance[]>): (service: string) => Promise<ServiceInstance | undefined> {
  const rotations = new Map([...lists].map(([service, instances]) => [service, { instances, next: 0 }]));
  // The floor is by definition an async function doing a Map lookup and an array index.
  // eslint-disable-next-line @typescript-eslint/require-await
  return async (service) => {
    const rotation = rotations.get(service) as { instances: readonly ServiceInstance[]; next: number };
    const instance = rotation.instances[rotation.next];
    rotation.next = rotation.next + 1 === rotation.instances.length ? 0 : rotation.next + 1;
    return instance;
  };
}

export async function cachedResolve(): Promise<Measured> {
  const backend = await filledMemory(['orders'], 5);
  const resolver = createResolver({ backend });
  await resolver.resolve('orders');
  const floor = roundRobinMap(new Map([['orders', await resolver.resolveAll('orders')]]));
  const result = await compare(() => floor('orders'), () => resolver.resolve('orders'), { batch: 20_000, rounds: 30, warmupRounds: 10 });
  await resolver.close();
  await backend.close();
  return {
    id: 'cached-resolve',
    title: 'Cached resolve() including the pick',
    subject: 'await resolver.resolve(service) on a warm cache, round-robin over 5 instances',
    floor: 'await of an async function doing the same round robin on a Map of the same instance objects',
    unit: 'ns/op',
    target: { kind: 'max-ratio', value: 2 },
    run: { subject: result.subject, floor: result.floor, ratio: result.ratio },
  };
}

export async function scale(): Promise<Measured> {
  const names = serviceNames(10_000);
  const backend = await filledMemory(names, 5);
  const resolver = createResolver({ backend, maxServices: names.length });
  const lists = new Map<string, readonly ServiceInstance[]>();
  for (const name of names) lists.set(name, await resolver.resolveAll(name));
  const floor = roundRobinMap(lists);
  let nextFloor = 0;
  let nextSubject = 0;
  const result = await compare(
    () => floor(names[nextFloor++ % names.length] as string),
    () => resolver.resolve(names[nextSubject++ % names.length] as string),
    { batch: 20_000, rounds: 30, warmupRounds: 5 },
  );
  await resolver.close();
  await backend.close();
  return {
    id: 'scale',
    title: 'Cached resolve() at 10,000 services x 5 instances',
    subject: 'cached resolve(), cycling through 10,000 services of 5 instances each',
    floor: 'the same round robin on a Map holding the same instance objects, cycling through the same 10,000 names, in alternating batches',
    unit: 'ns/op',
    target: { kind: 'max-ratio', value: 1.5 },
    note: 'What remains is the cache itself: an LRU entry (with its recency update) and a picker object between the name and its instances, where the floor goes from the Map straight to an array',
    run: { subject: result.subject, floor: result.floor, ratio: result.ratio },
  };
}

/** Node's MaxListenersExceededWarning and the like while 25 services miss at once against a registry that answers in 5 ms. */
export async function concurrentMisses(): Promise<Measured> {
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning.name);
  };
  process.on('warning', onWarning);
  const memory = await filledMemory(serviceNames(25), 1);
  const slow: RegistryBackend = {
    kind: 'slow',
    register: (instance, lease) => memory.register(instance, lease),
    renew: (ref, status) => memory.renew(ref, status),
    deregister: (ref) => memory.deregister(ref),
    instances: (service) => new Promise((resolve) => setTimeout(() => resolve(memory.instances(service)), 5)),
    services: () => memory.services(),
    close: () => Promise.resolve(),
  };
  try {
    for (let round = 0; round < 3; round++) {
      const resolver = createResolver({ backend: slow, watch: false });
      await Promise.all(serviceNames(25).map((service) => resolver.resolve(service)));
      await resolver.close();
    }
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
    await memory.close();
  }
  return {
    id: 'concurrent-misses',
    title: 'Warnings while 25 services miss at once',
    subject: 'process warnings (MaxListenersExceededWarning and others) during 3 rounds of 25 concurrent cold resolves',
    floor: 'none expected',
    unit: 'warnings',
    target: { kind: 'max-value', value: 0 },
    note: warnings.length === 0 ? undefined : `seen: ${[...new Set(warnings)].join(', ')}`,
    run: { subject: single(warnings.length), floor: single(0), ratio: Number.NaN },
  };
}
