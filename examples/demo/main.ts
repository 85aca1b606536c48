/**
 * `npm run demo`: rollcall end to end on the embedded memory registry, no server needed.
 *
 * Three `orders` instances (real HTTP servers) register; a client resolves and spreads calls
 * over them; one drains and stops; the registry fails and the client keeps answering from stale
 * cache, then from ORDERS_URL; the registry returns and everything recovers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryBackend, autoRegister, createResolver, type Registration } from '../../src/index.js';
import { FaultyBackend } from '../../src/testing/index.js';

const say = (text: string): void => console.log(text);
const step = (n: number, title: string): void => say(`\n── ${n}. ${title} ${'─'.repeat(Math.max(0, 66 - title.length))}`);

interface OrdersInstance {
  readonly name: string;
  readonly server: Server;
  readonly registration: Registration;
}

async function startOrders(name: string, registry: FaultyBackend): Promise<OrdersInstance> {
  const server = createServer((_request, response) => response.end(name));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const registration = await autoRegister({
    backend: registry,
    service: 'orders',
    id: name,
    host: '127.0.0.1',
    port,
    ttlMs: 3_000,
    retryInitialDelayMs: 300,
    retryMaxDelayMs: 1_000,
  });
  registration.on('stateChange', ({ from, to, reason }) => say(`   [${name}] ${from} → ${to} (${reason})`));
  say(`   ${name} listening on 127.0.0.1:${port}, state: ${registration.state}`);
  return { name, server, registration };
}

async function main(): Promise<void> {
  // The fault injector from rollcall/testing wraps the registry so we can break it on command.
  const memory = new MemoryBackend();
  const registry = new FaultyBackend(memory);

  step(1, 'Three instances of "orders" register');
  const instances = [await startOrders('orders-1', registry), await startOrders('orders-2', registry), await startOrders('orders-3', registry)];

  step(2, 'A client resolves "orders" before each call and spreads the calls');
  const env: Record<string, string | undefined> = {};
  const resolver = createResolver({
    backend: registry,
    cacheTtlMs: 1_000,
    maxStaleMs: 2_500,
    degradedRetryMs: 500,
    breakerHalfOpenAfterMs: 500,
    envFallback: { env },
  });
  resolver.on('degraded', ({ service, source, reason }) => say(`   event degraded: ${service} now served from ${source} (${reason})`));
  resolver.on('recovered', ({ service, degradedForMs }) => say(`   event recovered: ${service} answered by the registry again after ${degradedForMs} ms`));
  const call = async (): Promise<string> => {
    const url = await resolver.resolveUrl('orders', '/');
    const answer = await fetch(url).then((r) => r.text(), (e: unknown) => `(no answer: ${(e as Error).message})`);
    return `${answer} via ${resolver.status('orders')?.source}`;
  };
  const calls = async (n: number): Promise<void> => {
    const answers: string[] = [];
    for (let i = 0; i < n; i++) answers.push(await call());
    say(`   answers: ${answers.join(', ')}`);
  };
  await calls(6);

  step(3, 'orders-3 drains, then stops: it disappears from answers');
  const leaving = instances[2] as OrdersInstance;
  await leaving.registration.drain({ waitMs: 200 });
  say(`   registry now lists: ${(await memory.instances('orders')).map((i) => `${i.id}=${i.status}`).join(', ')}`);
  await calls(4);
  await leaving.registration.stop();
  leaving.server.close();
  say(`   registry now lists: ${(await memory.instances('orders')).map((i) => i.id).join(', ')}`);

  step(4, 'The registry fails: the client keeps answering from its stale cache');
  registry.fail();
  await sleep(1_100);
  await calls(4);
  say(`   resolver health: ${resolver.health}; registrations: ${instances.slice(0, 2).map((i) => `${i.name}=${i.registration.state}`).join(', ')}`);

  step(5, 'Past maxStaleMs the client uses the environment fallback ORDERS_URL');
  const survivor = instances[0] as OrdersInstance;
  env.ORDERS_URL = `http://127.0.0.1:${(survivor.server.address() as AddressInfo).port}`;
  say(`   ORDERS_URL=${env.ORDERS_URL}`);
  await sleep(2_600);
  await calls(3);

  step(6, 'The registry comes back: instances re-register and the client recovers');
  registry.heal();
  await sleep(1_500);
  say(`   registrations: ${instances.slice(0, 2).map((i) => `${i.name}=${i.registration.state}`).join(', ')}`);
  await calls(4);
  const stats = resolver.stats();
  say(`   resolver health: ${resolver.health}; counters: ${stats.hits} cache hits, ${stats.registryFetches} registry fetches, ${stats.staleFallbacks} stale and ${stats.envFallbacks} env fallbacks`);

  step(7, 'Shutdown: drain, stop, close');
  await Promise.all(instances.slice(0, 2).map((i) => i.registration.drain({ waitMs: 100 })));
  await Promise.all(instances.slice(0, 2).map((i) => i.registration.stop()));
  await Promise.all(instances.slice(0, 2).map((i) => new Promise((resolve) => i.server.close(resolve))));
  await resolver.close();
  await registry.close();
  await memory.close();
  say(`   registry lists ${(await new MemoryBackend({ registry: memory.registry }).instances('orders')).length} instances. Done.`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
