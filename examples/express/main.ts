/**
 * rollcall with Express: two services, each an Express app attached to rollcall, sharing one
 * registry. `orders` calls `inventory` through the resolver; neither knows the other's port.
 *
 *   node --import tsx examples/express/main.ts          # serve until Ctrl-C
 *   node --import tsx examples/express/main.ts --once   # one call, a graceful shutdown, exit
 *
 * The in-process memory registry stands in for Redis or Consul so that this runs anywhere.
 * Works the same with Express 4.
 */
import express from 'express';
import { MemoryBackend, MemoryRegistry, ServiceUnavailableError, instanceOrigin } from '../../src/index.js';
import { healthRouter, lifespan, type Lifespan } from '../../src/integrations/express.js';

const once = process.argv.includes('--once');
const say = (text: string): void => console.log(text);
const registry = new MemoryRegistry();
// Short for the demo. In production keep the default (6000 ms): the callers' cache TTL plus a margin.
const drainWaitMs = 500;

function inventory(): Lifespan {
  const rollcall = lifespan({ backend: new MemoryBackend({ registry }), service: 'inventory', drainWaitMs, signals: !once });
  const app = express();
  app.use(healthRouter(rollcall));
  app.get('/stock/:sku', (req, res) => {
    res.json({ sku: req.params.sku, available: 7 });
  });
  // The one line: registers once listening (port 0 works), rollcall.shutdown() drains and leaves.
  return rollcall.attach(app.listen(0, '127.0.0.1'));
}

function orders(): Lifespan {
  const rollcall = lifespan({ backend: new MemoryBackend({ registry }), service: 'orders', drainWaitMs, signals: !once });
  const app = express();
  app.use(healthRouter(rollcall));
  app.get('/orders/:id', async (req, res) => {
    try {
      const url = await rollcall.resolver.resolveUrl('inventory', '/stock/apple');
      const stock = (await (await fetch(url)).json()) as { available: number };
      res.json({ order: req.params.id, sku: 'apple', available: stock.available, inventoryAt: new URL(url).host });
    } catch (error) {
      if (!(error instanceof ServiceUnavailableError)) throw error;
      res.status(503).json({ error: 'inventory unavailable', detail: error.message });
    }
  });
  return rollcall.attach(app.listen(0, '127.0.0.1'));
}

async function main(): Promise<void> {
  const services = { inventory: inventory(), orders: orders() };
  const origins: Record<string, string> = {};
  for (const [name, rollcall] of Object.entries(services)) {
    const registration = await rollcall.ready();
    if (registration === undefined) throw new Error(`${name} did not register`);
    origins[name] = instanceOrigin(registration.instance);
    say(`${name} listening on ${origins[name]}, registered as ${registration.instance.id}`);
  }
  const ordersUrl = `${origins.orders}/orders/42`;

  if (!once) {
    say(`\nTry:\n  curl ${ordersUrl}\n  curl ${origins.orders}/health\nCtrl-C drains and stops both.`);
    return;
  }
  const answer = await fetch(ordersUrl);
  say(`GET /orders/42 → ${answer.status} ${await answer.text()}`);

  say('shutting inventory down: drain → wait → finish in-flight → deregister');
  await services.inventory.shutdown();
  say(`inventory instances left: ${(await services.orders.backend.instances('inventory')).length}`);
  const without = await fetch(ordersUrl);
  say(`GET /orders/42 → ${without.status} ${await without.text()}`);
  await services.orders.shutdown();
  say('orders stopped. Done.');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
