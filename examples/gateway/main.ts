/**
 * The gateway example: `/api/v1/{service}/*` routed to a live instance of `{service}` found
 * through rollcall's resolver, plus `/gateway/services` and `/gateway/health`. Three demo
 * upstream instances (catalog ×2, orders ×1) run in this process so there is something to route to.
 *
 *   node --import tsx examples/gateway/main.ts          # serve on PORT (default 8080) until Ctrl-C
 *   node --import tsx examples/gateway/main.ts --once   # a scripted tour, then a graceful exit
 *
 * The registry is in-process memory by default, Redis when REDIS_URL is set.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lifespan } from '../../src/integrations/lifespan.js';
import { createGateway } from './gateway.js';
import { chooseRegistry } from './registry.js';
import { startUpstream, type Upstream } from './upstreams.js';

const once = process.argv.includes('--once');
const say = (text: string): void => console.log(text);
const step = (n: number, title: string): void => say(`\n── ${n}. ${title} ${'─'.repeat(Math.max(0, 70 - title.length))}`);

// Short so the tour is quick. In production keep the default (6000 ms): the callers' cache TTL plus a margin.
const drainWaitMs = 500;

async function main(): Promise<void> {
  const registry = await chooseRegistry();
  say(`registry: ${registry.description}`);

  step(1, 'Upstream instances register: catalog-1, catalog-2, orders-1');
  const upstreams = [
    await startUpstream(registry, 'catalog', 'catalog-1', drainWaitMs),
    await startUpstream(registry, 'catalog', 'catalog-2', drainWaitMs),
    await startUpstream(registry, 'orders', 'orders-1', drainWaitMs),
  ];
  for (const { name, life } of upstreams) say(`   ${name} registered at ${life.registration?.instance.host}:${life.registration?.instance.port}`);

  const server = createServer();
  const life = lifespan({ backend: () => registry.connect(), service: 'gateway', drainWaitMs }).attach(server);
  const gateway = createGateway({ resolver: life.resolver, backend: life.backend, lifespan: life });
  server.on('request', gateway.handle);
  const stopAll = async (): Promise<void> => {
    await life.shutdown();
    gateway.close();
    await Promise.all(upstreams.map((upstream) => upstream.life.shutdown()));
  };
  server.listen(Number(process.env.PORT ?? (once ? 0 : 8080)), process.env.HOST ?? '127.0.0.1');
  await life.ready();
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  say(`   gateway listening on ${base}`);

  if (!once) {
    say(`\nTry:\n  curl ${base}/gateway/services\n  curl ${base}/api/v1/catalog/items\n  curl ${base}/api/v1/payments/charges\nCtrl-C drains and stops everything.`);
    life.handleSignals(['SIGTERM', 'SIGINT'], stopAll);
    return;
  }
  await tour(base, upstreams);

  step(8, 'Graceful shutdown: drain → wait → finish in-flight → deregister → close');
  await stopAll();
  say('   everything stopped. Done.');
}

async function tour(base: string, upstreams: readonly Upstream[]): Promise<void> {
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const init: RequestInit = body === undefined ? { method } : { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
    const response = await fetch(base + path, init);
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  const show = async (method: string, path: string, body?: unknown): Promise<void> => {
    const { status, json } = await call(method, path, body);
    const sent = typeof json.body === 'string' ? ` with body ${json.body}` : '';
    const served = typeof json.servedBy === 'string' ? `${json.servedBy} got ${String(json.method)} ${String(json.url)}${sent}` : JSON.stringify(json);
    say(`   ${method} ${path} → ${status} ${served}`);
  };

  step(2, 'GET /gateway/services: what the registry knows');
  const { json: listing } = await call('GET', '/gateway/services');
  for (const service of listing.services as Array<{ name: string; instances: Array<{ id: string; status: string; url: string }> }>) {
    say(`   ${service.name}: ${service.instances.map((i) => `${i.id} (${i.status}) ${i.url}`).join(', ')}`);
  }

  step(3, 'GET /api/v1/catalog/items: round robin over both catalog instances');
  for (let i = 0; i < 4; i++) await show('GET', '/api/v1/catalog/items?page=2');

  step(4, 'POST /api/v1/orders/orders: the body is streamed through');
  await show('POST', '/api/v1/orders/orders', { sku: 'apple', qty: 3 });

  step(5, 'GET /api/v1/payments/charges: no instance anywhere → 503 saying what was tried');
  await show('GET', '/api/v1/payments/charges');

  step(6, 'catalog-1 drains: the gateway stops picking it at once');
  const leaving = upstreams[0] as Upstream;
  const drained = leaving.life.shutdown();
  await until(async () => !(await eligible('catalog')).includes(leaving.name));
  say(`   gateway now routes catalog to: ${(await eligible('catalog')).join(', ')}`);
  for (let i = 0; i < 3; i++) await show('GET', '/api/v1/catalog/items');
  await drained;
  say(`   ${leaving.name} deregistered`);

  step(7, 'GET /gateway/health');
  const health = await call('GET', '/gateway/health');
  say(`   ${health.status} ${JSON.stringify(health.json)}`);

  // The gateway's own resolver view, from /gateway/services.
  async function eligible(service: string): Promise<string[]> {
    const { json } = await call('GET', '/gateway/services');
    const entry = (json.services as Array<{ name: string; resolver: { eligible: string[] } | null }>).find((s) => s.name === service);
    return entry?.resolver?.eligible ?? [];
  }
}

async function until(check: () => Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
