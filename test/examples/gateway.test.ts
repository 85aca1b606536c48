import { execFile } from 'node:child_process';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../examples/gateway/gateway.js';
import { MemoryBackend, MemoryRegistry, type RegistryBackend } from '../../src/index.js';
import { lifespan, type Lifespan } from '../../src/integrations/lifespan.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { startRedis } from '../helpers/redis-server.js';

const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly json: Record<string, unknown>;
}

function call(url: string, options: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((done, fail) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const json = (res.headers['content-type'] ?? '').startsWith('application/json') ? (JSON.parse(body) as Record<string, unknown>) : {};
        done({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
    });
    req.on('error', fail);
    req.end(options.body);
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done((server.address() as AddressInfo).port)));
}

/** An upstream instance of `service` that echoes what reached it. */
async function upstream(registry: MemoryRegistry, service: string, id: string): Promise<Lifespan> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('connection', 'keep-alive, x-upstream-private');
      res.setHeader('x-upstream-private', 'hop-by-hop');
      res.end(JSON.stringify({ id, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  });
  const life = lifespan({ backend: () => new MemoryBackend({ registry }), service, id, drainWaitMs: 0 }).attach(server);
  await listen(server);
  await life.ready();
  cleanups.push(() => life.shutdown());
  return life;
}

async function gateway(backend: () => RegistryBackend, options: { upstreamTimeoutMs?: number } = {}): Promise<{ base: string; life: Lifespan }> {
  const server = createServer();
  const life = lifespan({ backend, service: 'gateway', drainWaitMs: 300 }).attach(server);
  const instance = createGateway({ resolver: life.resolver, backend: life.backend, lifespan: life, ...options });
  server.on('request', instance.handle);
  const port = await listen(server);
  await life.ready();
  cleanups.push(async () => {
    await life.shutdown();
    instance.close();
  });
  return { base: `http://127.0.0.1:${port}`, life };
}

describe('examples/gateway as a program', () => {
  it('runs as its README says (memory registry): routes, lists, answers 503, follows a drain, shuts down', async () => {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'examples/gateway/main.ts', '--once'], { cwd: root, timeout: 30_000, env: { ...process.env, REDIS_URL: '' } });

    expect(stderr).toBe('');
    expect(stdout).toContain('registry: memory, in-process');
    expect(stdout).toMatch(/catalog: catalog-1 \(passing\) http:\/\/127\.0\.0\.1:\d+, catalog-2 \(passing\) http:\/\/127\.0\.0\.1:\d+/);
    const roundRobin = stdout.split('── 3.')[1]?.split('── 4.')[0] ?? '';
    expect(roundRobin.match(/→ 200 catalog-1 got GET \/items\?page=2/g)).toHaveLength(2);
    expect(roundRobin.match(/→ 200 catalog-2 got GET \/items\?page=2/g)).toHaveLength(2);
    expect(stdout).toContain('POST /api/v1/orders/orders → 201 orders-1 got POST /orders with body {"sku":"apple","qty":3}');
    expect(stdout).toMatch(/GET \/api\/v1\/payments\/charges → 503 \{"error":"service_unavailable","service":"payments"/);
    const drained = stdout.split('── 6.')[1]?.split('── 7.')[0] ?? '';
    expect(drained).toContain('gateway now routes catalog to: catalog-2\n');
    expect(drained.match(/→ 200 catalog-2 got GET \/items/g)).toHaveLength(3);
    expect(drained).not.toMatch(/→ 200 catalog-1/);
    expect(stdout).toMatch(/200 \{"status":"passing","service":"gateway".*"resolver":\{"health":"healthy","breaker":"closed"\}\}/);
    expect(stdout.trim().endsWith('everything stopped. Done.')).toBe(true);
  });

  it('uses Redis when REDIS_URL is set', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());

    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/gateway/main.ts', '--once'], { cwd: root, timeout: 30_000, env: { ...process.env, REDIS_URL: redis.url } });

    expect(stdout).toContain(`registry: redis at ${redis.url}`);
    expect(stdout).toMatch(/→ 200 catalog-1 got GET \/items\?page=2/);
    expect(stdout).toContain('gateway now routes catalog to: catalog-2\n');
    expect(stdout.trim().endsWith('everything stopped. Done.')).toBe(true);
  });
});

describe('examples/gateway routing', () => {
  it('forwards method, path, query and body to a live instance, with X-Forwarded-* and without hop-by-hop headers', async () => {
    const registry = new MemoryRegistry();
    await upstream(registry, 'catalog', 'catalog-1');
    await upstream(registry, 'catalog', 'catalog-2');
    const { base } = await gateway(() => new MemoryBackend({ registry }));

    const reply = await call(`${base}/api/v1/catalog/items/7?expand=price`, {
      method: 'PUT',
      body: '{"price":3}',
      headers: { 'content-type': 'application/json', connection: 'keep-alive, x-client-private', 'x-client-private': 'secret', 'x-request-id': 'r-1' },
    });

    expect(reply.status).toBe(200);
    const echoed = reply.json as { id: string; method: string; url: string; body: string; headers: Record<string, string> };
    expect(echoed).toMatchObject({ method: 'PUT', url: '/items/7?expand=price', body: '{"price":3}' });
    expect(echoed.headers).toMatchObject({ 'x-request-id': 'r-1', 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-prefix': '/api/v1/catalog' });
    expect(echoed.headers['x-forwarded-host']).toBe(new URL(base).host);
    expect(echoed.headers['x-client-private']).toBeUndefined();
    expect(reply.headers['x-upstream-private']).toBeUndefined();
    const second = await call(`${base}/api/v1/catalog`);
    expect(second.json).toMatchObject({ url: '/' });
    expect([echoed.id, second.json.id].sort()).toEqual(['catalog-1', 'catalog-2']);
  });

  it('answers 503 with what was tried when no instance exists, and 404 / 400 for what it does not route', async () => {
    const { base } = await gateway(() => new MemoryBackend());

    const missing = await call(`${base}/api/v1/payments/charges`);
    expect(missing.status).toBe(503);
    expect(missing.headers['retry-after']).toBe('1');
    expect(missing.json).toEqual({
      error: 'service_unavailable',
      service: 'payments',
      message: 'No live instance of "payments" could be found.',
      tried: [
        { tier: 'registry', reason: 'the registry listed 0 instance(s), none passing or warning' },
        { tier: 'stale', reason: 'not used: the registry answered' },
        { tier: 'env', reason: 'PAYMENTS_URL is not set' },
      ],
    });
    expect((await call(`${base}/elsewhere`)).json).toMatchObject({ error: 'not_found' });
    expect((await call(`${base}/api/v1/Bad_Name/x`)).json).toMatchObject({ error: 'invalid_service_name', service: 'Bad_Name' });
    expect((await call(`${base}/api/v1/gateway/gateway/health`)).json).toMatchObject({ error: 'loop' });
  });

  it('tries another instance when one cannot be reached, and says which when none can', async () => {
    const registry = new MemoryRegistry();
    const backend = new MemoryBackend({ registry });
    cleanups.push(() => backend.close());
    const closed = createServer();
    const deadPort = await listen(closed);
    await new Promise((done) => closed.close(done));
    const lease = { ttlMs: 60_000 };
    await backend.register({ id: 'ghost', service: 'catalog', host: '127.0.0.1', port: deadPort, protocol: 'http', tags: [], meta: {}, weight: 1, status: 'passing', registeredAt: 0, updatedAt: 0 }, lease);
    await upstream(registry, 'catalog', 'catalog-1');
    const { base } = await gateway(() => new MemoryBackend({ registry }));

    for (let i = 0; i < 4; i++) expect((await call(`${base}/api/v1/catalog/items`)).json).toMatchObject({ id: 'catalog-1' });

    await backend.register({ id: 'ghost', service: 'billing', host: '127.0.0.1', port: deadPort, protocol: 'http', tags: [], meta: {}, weight: 1, status: 'passing', registeredAt: 0, updatedAt: 0 }, lease);
    const none = await call(`${base}/api/v1/billing/x`);
    expect(none.status).toBe(502);
    expect(none.json).toMatchObject({ error: 'bad_gateway', service: 'billing', unreachable: [expect.stringMatching(/^ghost at http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/)] });
  });

  it('answers 504 when the instance does not answer in time', async () => {
    const registry = new MemoryRegistry();
    const hanging = createServer(() => {
      // Never answers.
    });
    const life = lifespan({ backend: () => new MemoryBackend({ registry }), service: 'hangs', drainWaitMs: 0, inFlightTimeoutMs: 0 }).attach(hanging);
    await listen(hanging);
    await life.ready();
    cleanups.push(() => life.shutdown());
    const { base } = await gateway(() => new MemoryBackend({ registry }), { upstreamTimeoutMs: 100 });

    const reply = await call(`${base}/api/v1/hangs/x`);

    expect(reply.status).toBe(504);
    expect(reply.json).toMatchObject({ error: 'upstream_timeout', service: 'hangs', message: 'no answer within 100 ms' });
  });

  it('lists services and instances, and falls back to what the resolver knows when the registry is down', async () => {
    const registry = new MemoryRegistry();
    await upstream(registry, 'catalog', 'catalog-1');
    const faulty = new FaultyBackend(new MemoryBackend({ registry }));
    const { base } = await gateway(() => faulty);
    await call(`${base}/api/v1/catalog/`);

    const listing = await call(`${base}/gateway/services`);
    expect(listing.json).toMatchObject({
      registry: { kind: 'memory', reachable: true },
      services: [
        { name: 'catalog', instances: [{ id: 'catalog-1', status: 'passing', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as string }], resolver: { source: 'cache', eligible: ['catalog-1'] } },
        { name: 'gateway', instances: [{ status: 'passing' }], resolver: null },
      ],
    });

    faulty.fail();
    const degraded = await call(`${base}/gateway/services`);
    expect(degraded.status).toBe(200);
    expect(degraded.json).toMatchObject({ registry: { kind: 'memory', reachable: false }, services: [{ name: 'catalog', instances: [{ id: 'catalog-1' }] }] });
    expect((await call(`${base}/api/v1/catalog/`)).json).toMatchObject({ id: 'catalog-1' });
    faulty.heal();
  });

  it('reports its health: 200 while running, 503 once draining', async () => {
    const { base, life } = await gateway(() => new MemoryBackend());
    expect(await call(`${base}/gateway/health`)).toMatchObject({ status: 200, json: { status: 'passing', service: 'gateway', resolver: { health: 'healthy', breaker: 'closed' } } });

    const draining = life.drain();
    expect(await call(`${base}/gateway/health`)).toMatchObject({ status: 503, json: { status: 'draining' } });
    await draining;
  });
});
