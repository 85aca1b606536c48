import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsulBackend } from '../../src/backends/consul/index.js';
import { RedisBackend } from '../../src/backends/redis/index.js';
import type { PageView } from '../../src/dashboard/server.js';
import { ConsulDouble } from '../helpers/consul-double/index.js';
import { startRedis, until, type RedisServer } from '../helpers/redis-server.js';
import { launchChromium } from './browser.js';
import { fleetInstance, registerFleet } from './fleet.js';
import { executable, rollcall, spawnRollcall, type RunningCli } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');
let redis: RedisServer;
let owner: RedisBackend;
let browser: Awaited<ReturnType<typeof launchChromium>>;
const running: RunningCli[] = [];
/** Script errors and console errors of every page opened by the current test. */
const pageProblems: string[] = [];

beforeAll(async () => {
  [redis, browser] = await Promise.all([startRedis(), launchChromium()]);
  owner = new RedisBackend({ url: redis.url });
  await registerFleet(owner);
});

afterEach(async () => {
  for (const cli of running.splice(0)) await cli.stop('SIGKILL');
  expect(pageProblems.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await owner?.close();
  await redis?.stop();
});

/** Starts `rollcall dashboard` on a free port for `registry` (`--redis URL` by default) and returns its URL. */
async function dashboard(registry: string | string[], env: Record<string, string> = {}): Promise<{ cli: RunningCli; url: string }> {
  const cli = spawnRollcall(['dashboard', '--port', '0', '--json', ...(typeof registry === 'string' ? ['--redis', registry] : registry)], { env });
  running.push(cli);
  const { url } = JSON.parse(await cli.nextLine((line) => line.startsWith('{'), { timeoutMs: 15_000 })) as { url: string };
  return { cli, url };
}

async function open(url: string): Promise<Page> {
  const page = await browser.context.newPage();
  page.on('pageerror', (error) => pageProblems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageProblems.push(message.text());
  });
  await page.goto(url);
  return page;
}

describe(`rollcall dashboard in headless chromium (${executable.kind})`, () => {
  it('shows a service turning critical within 1 s, without reload', async () => {
    const { cli, url } = await dashboard(redis.url, { AUTH_SERVICE_URL: 'http://10.0.0.9:8080' });
    const page = await open(url);
    await page.waitForSelector('[data-service="orders"][data-health="passing"]');
    const rows = page.locator('[data-service="orders"] tr[data-instance]');
    // No DOM types in this project: the rows are described by the one method used.
    type Row = { getAttribute(name: string): string | null };
    expect(await rows.evaluateAll((elements: Row[]) => elements.map((row) => [row.getAttribute('data-instance'), row.getAttribute('data-status')]))).toEqual([
      ['orders-1', 'passing'],
      ['orders-2', 'passing'],
      ['orders-3', 'critical'],
    ]);
    await expect.poll(() => page.locator('#connection').textContent()).toBe('live');
    // Proof that the page is not reloaded: a value set now survives the update.
    await page.evaluate(() => Object.assign(globalThis, { beforeTheChange: true }));

    await Promise.all(['orders-1', 'orders-2'].map((id) => owner.renew({ service: 'orders', id }, 'critical')));
    await page.waitForSelector('[data-service="orders"][data-health="critical"]', { timeout: 1_000 });

    expect(await page.evaluate(() => (globalThis as { beforeTheChange?: boolean }).beforeTheChange)).toBe(true);
    expect(await page.locator('[data-service="orders"] [data-instance="orders-1"]').getAttribute('data-status')).toBe('critical');
    await page.waitForSelector('#history li:has-text("orders/orders-1: status passing → critical")');
    // The resolver's view: nothing to answer orders with; auth_service from its environment variable.
    await page.waitForSelector('#degraded li[data-service="orders"][data-tier="none"]');
    await page.waitForSelector('#degraded li[data-service="auth_service"][data-tier="env"]');

    const shot = join(root, '.tmp/dashboard.png');
    mkdirSync(join(root, '.tmp'), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    // ROLLCALL_DASHBOARD_SCREENSHOT=docs/dashboard.png refreshes the picture in docs/operators.md.
    const target = process.env['ROLLCALL_DASHBOARD_SCREENSHOT'];
    if (target !== undefined && target !== '') copyFileSync(shot, resolve(root, target));

    await Promise.all(['orders-1', 'orders-2'].map((id) => owner.renew({ service: 'orders', id }, 'passing')));
    await page.waitForSelector('[data-service="orders"][data-health="passing"]', { timeout: 1_000 });
    await page.close();
    expect(await cli.stop('SIGINT')).toBe(0);
  });

  it('adds a new service without reload, and says so when the registry stops answering', async () => {
    const own = await startRedis();
    const writer = new RedisBackend({ url: own.url });
    try {
      await writer.register(fleetInstance('search', 'search-1', 7001, 'passing'), { ttlMs: 60_000 });
      const { url } = await dashboard(own.url);
      const page = await open(url);
      await page.waitForSelector('[data-service="search"][data-health="passing"]');
      expect(await page.locator('#banner').isHidden()).toBe(true);

      await writer.register(fleetInstance('billing', 'billing-1', 7101, 'warning'), { ttlMs: 60_000 });
      // The list of services is read every 2 s; the watch takes over from there.
      await page.waitForSelector('[data-service="billing"][data-health="warning"]', { timeout: 5_000 });
      await page.waitForSelector('#history li[data-kind="appeared"]:has-text("billing appeared")');

      await own.kill();
      await page.waitForSelector('#banner:visible', { timeout: 5_000 });
      expect(await page.locator('#banner').textContent()).toMatch(/^The registry does not answer \(.*\)\. Showing what it last said\.$/);
      // What was last read stays on the page.
      expect(await page.locator('[data-service="search"]').count()).toBe(1);

      await own.restart();
      await until(async () => (await writer.register(fleetInstance('search', 'search-1', 7001, 'passing'), { ttlMs: 60_000 }), true), 5_000, 'the writer reconnects');
      await page.waitForSelector('#banner', { state: 'hidden', timeout: 10_000 });
      await page.waitForSelector('#history li[data-kind="back"]');
      await page.close();
    } finally {
      await writer.close();
      await own.stop();
    }
  });
});

describe('rollcall dashboard --allow-deregister in headless chromium', () => {
  it('deregisters an instance from Consul once the operator confirms, and nothing when they decline', async () => {
    const consul = await ConsulDouble.start();
    const writer = new ConsulBackend({ address: consul.url, env: {} });
    try {
      await writer.register(fleetInstance('reports', 'reports-1', 8001, 'critical'), { ttlMs: 600_000 });
      await writer.register(fleetInstance('reports', 'reports-2', 8002, 'passing'), { ttlMs: 600_000 });
      const { url } = await dashboard(['--allow-deregister', '--consul', consul.url]);
      const page = await open(url);
      const button = page.locator('[data-service="reports"] [data-instance="reports-1"] button.deregister');

      page.once('dialog', (dialog) => void dialog.dismiss());
      await button.click();
      expect(consul.requestsTo('/v1/agent/service/deregister')).toEqual([]);

      const questions: string[] = [];
      page.once('dialog', (dialog) => {
        questions.push(dialog.message());
        void dialog.accept();
      });
      await button.click();
      await page.waitForSelector('[data-service="reports"] [data-instance="reports-1"]', { state: 'detached' });
      expect(questions).toEqual([
        'Deregister reports/reports-1 at http://127.0.0.1:8001? Callers stop being sent to it; a process still running registers again at its next heartbeat.',
      ]);
      expect(await page.locator('#notice').textContent()).toBe('Deregistered reports/reports-1.');
      expect((await writer.instances('reports')).map((i) => i.id)).toEqual(['reports-2']);
      // One deregistration only: the declined one sent nothing.
      expect(consul.requestsTo('/v1/agent/service/deregister')).toHaveLength(1);
      await page.close();
    } finally {
      await writer.close();
      await consul.close();
    }
  });
});

describe('rollcall dashboard server', () => {
  it('serves the view as JSON and events, read-only, to this machine only', async () => {
    const { cli, url } = await dashboard(redis.url);
    const view = (await (await fetch(`${url}api/view`)).json()) as PageView;
    expect(view).toMatchObject({ backend: 'redis', registry: `redis at ${redis.url}`, reachable: true, canDeregister: false });
    expect(view.services.map((s) => [s.service, s.health])).toEqual([
      ['auth_service', 'critical'],
      ['orders', 'passing'],
      ['payments', 'warning'],
    ]);
    expect(view.services[1]?.instances[0]?.lastHeartbeatAt).toEqual(expect.any(Number));

    const page = await fetch(url);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('<script src="dashboard.js" defer></script>');

    const events = await fetch(`${url}events`);
    expect(events.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = (events.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: view\ndata: ')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();

    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    expect((await deregisterRequest(url, { service: 'orders', id: 'orders-3' })).status).toBe(405);
    // A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) is refused.
    const port = new URL(url).port;
    const rebound = await rawStatus(Number(port), 'attacker.example');
    expect(rebound).toBe(403);
    expect(await rawStatus(Number(port), `localhost:${port}`)).toBe(200);
    expect(await cli.stop('SIGTERM')).toBe(0);
  });

  it('with --allow-deregister, deregisters for the page only, and says why it could not', async () => {
    const { url } = await dashboard(['--allow-deregister', '--redis', redis.url]);
    expect(((await (await fetch(`${url}api/view`)).json()) as PageView).canDeregister).toBe(true);
    // A page elsewhere can send a simple POST, but neither the header nor a JSON body without a preflight.
    const crossSite = await fetch(`${url}api/deregister`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"service":"orders","id":"orders-3"}' });
    expect(crossSite.status).toBe(403);
    const foreignOrigin = await deregisterRequest(url, { service: 'orders', id: 'orders-3' }, { origin: 'http://attacker.example' });
    expect(foreignOrigin.status).toBe(403);

    const owned = await deregisterRequest(url, { service: 'orders', id: 'orders-3' });
    expect(owned.status).toBe(409);
    expect(((await owned.json()) as { error: string }).error).toMatch(/instance orders\/orders-3 belongs to another RedisBackend/);
    const missing = await deregisterRequest(url, { service: 'orders', id: 'orders-99' });
    expect(missing.status).toBe(404);
    const invalid = await deregisterRequest(url, { service: 'orders', id: 'orders 1' });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: string }).error).toContain('Invalid id');
    expect((await owner.instances('orders')).map((i) => i.id)).toEqual(['orders-1', 'orders-2', 'orders-3']);
  });

  it('exits 2 when its port is taken', async () => {
    const { url } = await dashboard(redis.url);
    const taken = await rollcall(['dashboard', '--port', new URL(url).port, '--redis', redis.url]);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain(`port ${new URL(url).port} is in use: choose another with --port (0 for any free one)`);
  });
});

/** What the page's script sends to deregister, with other headers when given. */
function deregisterRequest(url: string, body: object, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}api/deregister`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-rollcall-action': 'deregister', ...headers },
    body: JSON.stringify(body),
  });
}

/** The status of `GET /` sent with a chosen Host header (fetch does not let a caller set it). */
async function rawStatus(port: number, host: string): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host } }, (response) => {
      response.resume();
      resolvePromise(response.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
}
