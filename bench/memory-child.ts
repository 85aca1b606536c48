/**
 * Run by bench/memory.ts in a process of its own, from a bundle built like the package (tsx,
 * which runs the rest of the bench, gives every closure a name property, a few hundred bytes each
 * at this scale). Prints one JSON line: heap bytes per cached instance on the real watch path
 * (RedisBackend watch, resolver) and for a Map of the same instances.
 */
import { createInstance, createResolver, type ServiceInstance } from '../src/index.js';
import { RedisBackend } from '../src/backends/redis/index.js';

const [url, servicesText, perServiceText] = process.argv.slice(2);
const services = Number(servicesText);
const perService = Number(perServiceText);
const gc = (globalThis as { gc?: () => void }).gc;
if (url === undefined || gc === undefined) throw new Error('usage: node --expose-gc memory-child.mjs <redis url> <services> <instances per service>');
const collect = gc;

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    collect();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

const names = Array.from({ length: services }, (_, n) => `svc-${n}`);
const namespace = `memory-${process.pid}`;
const writer = new RedisBackend({ url, namespace });
const reader = new RedisBackend({ url, namespace });
const make = (service: string, n: number): ServiceInstance =>
  createInstance({ id: `${service}-${n}`, service, host: `10.0.${Math.floor(n / 250)}.${n % 250}`, port: 8000 + n, tags: ['bench'], meta: { build: '1' } }, Date.now());
for (let first = 0; first < names.length; first += 100) {
  await Promise.all(names.slice(first, first + 100).flatMap((service) => Array.from({ length: perService }, (_, n) => writer.register(make(service, n), { ttlMs: 3_600_000 }))));
}
await reader.services();
// Every path runs once before measuring, so that compiled code and its feedback do not count.
const warm = names.slice(0, 50);
const warmResolver = createResolver({ backend: reader, maxServices: services });
for (const service of warm) await warmResolver.resolve(service);
while (!warm.every((service) => warmResolver.status(service)?.watching === true)) await new Promise((resolve) => setTimeout(resolve, 20));
await warmResolver.close();
const warmFloor = warm.map((service) => createInstance(JSON.parse(JSON.stringify(make(service, 0))) as ServiceInstance, 0));

const before = await settledHeap();
const resolver = createResolver({ backend: reader, maxServices: services });
for (const service of names) await resolver.resolve(service);
while (!names.every((service) => resolver.status(service)?.watching === true)) await new Promise((resolve) => setTimeout(resolve, 20));
const subject = (await settledHeap()) - before;

// The floor: the same instances, made as the watch makes them (parsed and validated), in a Map.
const texts = new Map<string, string[]>();
for (const service of names) texts.set(service, (await resolver.resolveAll(service)).map((instance) => JSON.stringify(instance)));
await resolver.close();
const floorBefore = await settledHeap();
const floor = new Map([...texts].map(([service, list]) => [service, list.map((text) => createInstance(JSON.parse(text) as ServiceInstance, 0))]));
const floorBytes = (await settledHeap()) - floorBefore;

const total = services * perService;
process.stdout.write(`${JSON.stringify({ subject: subject / total, floor: floorBytes / total, kept: floor.size === services && warmFloor.length > 0 })}\n`);
await reader.close();
await writer.close();
