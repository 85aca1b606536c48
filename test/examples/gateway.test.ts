import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../examples/gateway/gateway.js';
import { MemoryBackend, MemoryRegistry } from '../../src/index.js';
import { startRedis } from '../helpers/redis-server.js';

const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The text of tour step `n` (from its heading to the next one). */
function stepOf(stdout: string, n: number): string {
  return stdout.split(`── ${n}.`)[1]?.split(`── ${n + 1}.`)[0] ?? '';
}

describe('examples/gateway as a program', { timeout: 60_000 }, () => {
  it('runs as its README says (memory registry): lists, routes, answers 503, retries past a crashed instance, follows a drain, shuts down', async () => {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'examples/gateway/main.ts', '--once'], { cwd: root, timeout: 30_000, env: { ...process.env, REDIS_URL: '' } });

    expect(stderr).toBe('');
    expect(stdout).toContain('registry: memory, in-process');
    expect(stepOf(stdout, 2)).toMatch(/catalog \(passing\): catalog-1 \(passing\) http:\/\/127\.0\.0\.1:\d+, catalog-2 \(passing\) http:\/\/127\.0\.0\.1:\d+/);
    const roundRobin = stepOf(stdout, 3);
    expect(roundRobin.match(/→ 200 catalog-1 got GET \/items\?page=2/g)).toHaveLength(2);
    expect(roundRobin.match(/→ 200 catalog-2 got GET \/items\?page=2/g)).toHaveLength(2);
    expect(stepOf(stdout, 4)).toContain('POST /api/v1/orders/orders → 201 orders-1 got POST /orders with body {"sku":"apple","qty":3}');
    expect(stepOf(stdout, 5)).toMatch(/GET \/api\/v1\/payments\/charges → 503 \{"error":"service_unavailable","service":"payments",.*"tried":\[\{"tier":"registry"/);
    const crashed = stepOf(stdout, 6);
    expect(crashed).toContain('gateway routes catalog to: catalog-1, catalog-2, catalog-3\n');
    expect(crashed.match(/→ 200 catalog-[12] got GET \/items/g)).toHaveLength(3);
    const drained = stepOf(stdout, 7);
    expect(drained).toContain('gateway now routes catalog to: catalog-2\n');
    expect(drained.match(/→ 200 catalog-2 got GET \/items/g)).toHaveLength(3);
    expect(drained).not.toMatch(/→ 200 catalog-1/);
    expect(stepOf(stdout, 8)).toMatch(/200 \{"status":"passing","service":"gateway"/);
    const metrics = stepOf(stdout, 9);
    expect(metrics).toContain('rollcall_resolves_total{service="payments",source="unavailable"} 1\n');
    // Ten catalog GETs answered (steps 3, 6, 7); in step 6 one try went to the crashed catalog-3 and was retried.
    expect(metrics).toContain('rollcall_http_request_duration_seconds_count{service="catalog",client="gateway",outcome="ok"} 10\n');
    expect(metrics).toContain('rollcall_http_request_duration_seconds_count{service="catalog",client="gateway",outcome="error"} 1\n');
    expect(metrics).toContain('rollcall_http_retries_total{service="catalog",client="gateway",reason="connection"} 1\n');
    expect(stdout.trim().endsWith('everything stopped. Done.')).toBe(true);
  });

  it('uses Redis when REDIS_URL is set', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());

    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/gateway/main.ts', '--once'], { cwd: root, timeout: 30_000, env: { ...process.env, REDIS_URL: redis.url } });

    expect(stdout).toContain(`registry: redis at ${redis.url}`);
    expect(stdout).toMatch(/→ 200 catalog-1 got GET \/items\?page=2/);
    expect(stepOf(stdout, 6).match(/→ 200 catalog-[12] got GET \/items/g)).toHaveLength(3);
    expect(stdout).toContain('gateway now routes catalog to: catalog-2\n');
    expect(stdout.trim().endsWith('everything stopped. Done.')).toBe(true);
  });
});

describe('examples/gateway wiring', () => {
  it('registers the gateway, serves its health, does not route to itself, and deregisters on close', async () => {
    const registry = new MemoryRegistry();
    const app = await createGateway(() => new MemoryBackend({ registry }), 300);
    await app.listen({ port: 0, host: '127.0.0.1' });
    await app.rollcall.ready();
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    expect(await (await fetch(`${base}/gateway/health`)).json()).toMatchObject({ status: 'passing', service: 'gateway' });
    const self = await fetch(`${base}/api/v1/gateway/gateway/health`);
    expect(self.status).toBe(404);
    expect(await self.json()).toMatchObject({ error: 'unknown_service', service: 'gateway' });
    const listing = (await (await fetch(`${base}/gateway/services`)).json()) as { registry: { services: Array<{ service: string }> } };
    expect(listing.registry.services.map((s) => s.service)).toEqual(['gateway']);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await metrics.text()).toContain('rollcall_registration_state{service="gateway",state="registered"} 1');
    const status = (await (await fetch(`${base}/gateway/status`)).json()) as { registration: { service: string } };
    expect(status.registration.service).toBe('gateway');

    await app.close();
    expect(await new MemoryBackend({ registry }).services()).toEqual([]);
  });
});
