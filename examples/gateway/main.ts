/**
 * The gateway example: `/api/v1/{service}/*` routed to a live instance of `{service}` by
 * `rollcall/gateway`, plus `/gateway/services`, `/gateway/status`, `/gateway/health` and `/metrics`. Three demo upstream
 * instances (catalog ×2, orders ×1) run in this process so there is something to route to.
 *
 *   node --import tsx examples/gateway/main.ts          # serve on PORT (default 8080) until Ctrl-C
 *   node --import tsx examples/gateway/main.ts --once   # a scripted tour, then a graceful exit
 *
 * The registry is in-process memory by default, Redis when REDIS_URL is set.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInstance } from '../../src/index.js';
import { createGateway } from './gateway.js';
import { chooseRegistry, type Registry } from './registry.js';
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

  const app = await createGateway(() => registry.connect(), drainWaitMs);
  const stopAll = async (): Promise<void> => {
    await app.close();
    await Promise.all(upstreams.map((upstream) => upstream.life.shutdown()));
  };
  await app.listen({ port: Number(process.env.PORT ?? (once ? 0 : 8080)), host: process.env.HOST ?? '127.0.0.1' });
  await app.rollcall.ready();
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  say(`   gateway listening on ${base}`);

  if (!once) {
    say(`\nTry:\n  curl ${base}/gateway/services\n  curl ${base}/api/v1/catalog/items\n  curl ${base}/api/v1/payments/charges\n  curl ${base}/gateway/status\n  curl ${base}/metrics\nCtrl-C drains and stops everything.`);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void stopAll());
    return;
  }
  await tour(base, registry, upstreams);

  step(10, 'Graceful shutdown: drain → wait → finish in-flight → deregister → close');
  await stopAll();
  say('   everything stopped. Done.');
}

async function tour(base: string, registry: Registry, upstreams: readonly Upstream[]): Promise<void> {
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
  type Listing = {
    registry: { services: Array<{ service: string; health: string; instances: Array<{ id: string; status: string; url: string }> }> };
    resolver: { services: Array<{ service: string; eligible: string[] }> };
  };
  const listing = async (): Promise<Listing> => (await call('GET', '/gateway/services')).json as unknown as Listing;
  const eligible = async (service: string): Promise<string[]> => (await listing()).resolver.services.find((s) => s.service === service)?.eligible ?? [];

  step(2, 'GET /gateway/services: what the registry holds, with health');
  for (const { service, health, instances } of (await listing()).registry.services) {
    say(`   ${service} (${health}): ${instances.map((i) => `${i.id} (${i.status}) ${i.url}`).join(', ')}`);
  }

  step(3, 'GET /api/v1/catalog/items: round robin over both catalog instances');
  for (let i = 0; i < 4; i++) await show('GET', '/api/v1/catalog/items?page=2');

  step(4, 'POST /api/v1/orders/orders: the body is streamed through');
  await show('POST', '/api/v1/orders/orders', { sku: 'apple', qty: 3 });

  step(5, 'GET /api/v1/payments/charges: no instance anywhere → 503 saying what was tried');
  await show('GET', '/api/v1/payments/charges');

  step(6, 'catalog-3 crashed, still listed: its GETs go to a live instance');
  const ghost = registry.connect();
  await ghost.register(createInstance({ id: 'catalog-3', service: 'catalog', host: '127.0.0.1', port: await closedPort() }, Date.now()), { ttlMs: 60_000 });
  await until(async () => (await eligible('catalog')).includes('catalog-3'));
  say(`   gateway routes catalog to: ${(await eligible('catalog')).join(', ')}`);
  for (let i = 0; i < 3; i++) await show('GET', '/api/v1/catalog/items');
  await ghost.deregister({ service: 'catalog', id: 'catalog-3' });
  await ghost.close();

  step(7, 'catalog-1 drains: the gateway stops picking it at once');
  const leaving = upstreams[0] as Upstream;
  const drained = leaving.life.shutdown();
  await until(async () => !(await eligible('catalog')).includes(leaving.name));
  say(`   gateway now routes catalog to: ${(await eligible('catalog')).join(', ')}`);
  for (let i = 0; i < 3; i++) await show('GET', '/api/v1/catalog/items');
  await drained;
  say(`   ${leaving.name} deregistered`);

  step(8, 'GET /gateway/health');
  const health = await call('GET', '/gateway/health');
  say(`   ${health.status} ${JSON.stringify(health.json)}`);

  step(9, 'GET /metrics: what the tour did, as Prometheus scrapes it');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const shown = /^rollcall_(resolves_total|http_request_duration_seconds_count|http_retries_total)\{/;
  for (const line of metrics.split('\n').filter((text) => shown.test(text) && !text.endsWith(' 0'))) say(`   ${line}`);
}

/** A port nothing listens on: connections to it are refused, as to a crashed process. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
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
