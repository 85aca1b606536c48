/**
 * rollcall with Fastify: two services, each a Fastify app with the rollcall plugin, sharing one
 * registry. `orders` calls `inventory` through the resolver; neither knows the other's port.
 *
 *   node --import tsx examples/fastify/main.ts          # serve until Ctrl-C
 *   node --import tsx examples/fastify/main.ts --once   # one call, a graceful shutdown, exit
 *
 * The in-process memory registry stands in for Redis or Consul so that this runs anywhere.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { MemoryBackend, MemoryRegistry, ServiceUnavailableError } from '../../src/index.js';
import { rollcall } from '../../src/integrations/fastify.js';

const once = process.argv.includes('--once');
const say = (text: string): void => console.log(text);
const registry = new MemoryRegistry();
// Short for the demo. In production keep the default (6000 ms): the callers' cache TTL plus a margin.
const drainWaitMs = 500;

async function inventory(): Promise<FastifyInstance> {
  const app = Fastify();
  // The one line: register on listen, drain and deregister on close.
  await app.register(rollcall, { backend: new MemoryBackend({ registry }), service: 'inventory', healthRoute: true, drainWaitMs, signals: !once });
  app.get<{ Params: { sku: string } }>('/stock/:sku', (request) => ({ sku: request.params.sku, available: 7 }));
  return app;
}

async function orders(): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(rollcall, { backend: new MemoryBackend({ registry }), service: 'orders', healthRoute: true, drainWaitMs, signals: !once });
  app.get<{ Params: { id: string } }>('/orders/:id', async (request, reply) => {
    try {
      const url = await app.rollcall.resolver.resolveUrl('inventory', '/stock/apple');
      const stock = (await (await fetch(url)).json()) as { available: number };
      return { order: request.params.id, sku: 'apple', available: stock.available, inventoryAt: new URL(url).host };
    } catch (error) {
      if (error instanceof ServiceUnavailableError) return reply.code(503).send({ error: 'inventory unavailable', detail: error.message });
      throw error;
    }
  });
  return app;
}

async function main(): Promise<void> {
  const apps = { inventory: await inventory(), orders: await orders() };
  for (const [name, app] of Object.entries(apps)) {
    // Port 0: the OS picks a free port, and rollcall registers the one actually bound.
    await app.listen({ port: 0, host: '127.0.0.1' });
    const registration = await app.rollcall.ready();
    say(`${name} listening on ${app.listeningOrigin}, registered as ${registration?.instance.id}`);
  }
  const ordersUrl = `${apps.orders.listeningOrigin}/orders/42`;

  if (!once) {
    say(`\nTry:\n  curl ${ordersUrl}\n  curl ${apps.orders.listeningOrigin}/health\nCtrl-C drains and stops both.`);
    return;
  }
  const answer = await fetch(ordersUrl);
  say(`GET /orders/42 → ${answer.status} ${await answer.text()}`);

  say('closing inventory: drain → wait → finish in-flight → deregister');
  await apps.inventory.close();
  say(`inventory instances left: ${(await apps.orders.rollcall.backend.instances('inventory')).length}`);
  const without = await fetch(ordersUrl);
  say(`GET /orders/42 → ${without.status} ${await without.text()}`);
  await apps.orders.close();
  say('orders closed. Done.');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
