import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import express from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend, MemoryRegistry, createResolver } from '../../src/index.js';
import { attach, healthRouter, lifespan } from '../../src/integrations/express.js';
import { recordingLogger } from '../helpers/recording-logger.js';
import { RecordingBackend, expectNoNewHandles, gate, get, openHandles, recordDraining, within, shutDownDuringRequest } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function listening(server: Server): Promise<number> {
  return new Promise((resolve) => {
    const port = (): number => (server.address() as { port: number }).port;
    if (server.listening) resolve(port());
    else server.once('listening', () => resolve(port()));
  });
}

const versionOf = (name: string): string => (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;

it('runs against both Express majors', () => {
  expect([versionOf('express'), versionOf('express4')].map((version) => version.split('.')[0])).toEqual(['5', '4']);
});

describe.each([
  ['Express 5', express],
  ['Express 4', express4],
])('rollcall/express with %s', (_name, framework) => {
  it('registers once app.listen() binds, serves the health route, and shutdown() removes it', async () => {
    const before = openHandles();
    const backend = new MemoryBackend();
    const app = framework();
    const rollcall = lifespan({ backend, service: 'orders', drainWaitMs: 0 });
    app.use(healthRouter(rollcall));
    app.get('/hello', (_req, res) => {
      res.send('hello');
    });

    // Created first so that the health route could use it; attached once app.listen() returns the server.
    rollcall.attach(app.listen(0, '127.0.0.1'));
    const registration = await rollcall.ready();
    const port = registration?.instance.port ?? 0;

    expect(await backend.instances('orders')).toEqual([expect.objectContaining({ host: '127.0.0.1', port, status: 'passing' })]);
    const health = await get(`http://127.0.0.1:${port}/health?probe=1`);
    expect(health.status).toBe(200);
    expect(health.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'passing', service: 'orders', registration: 'registered' });
    expect(await get(`http://127.0.0.1:${port}/health`, 'HEAD')).toMatchObject({ status: 200, body: '' });
    expect(await get(`http://127.0.0.1:${port}/health`, 'POST')).toMatchObject({ status: 404 });
    expect(await get(`http://127.0.0.1:${port}/hello`)).toMatchObject({ status: 200, body: 'hello' });

    await rollcall.shutdown();
    expect(await backend.instances('orders')).toEqual([]);
    await backend.close();
    await expectNoNewHandles(before);
  });

  it('shuts down in order: drain → drain wait → in-flight requests finish → deregister → close the backend it created', async () => {
    const registry = new MemoryRegistry();
    const events: string[] = [];
    const observer = new MemoryBackend({ registry });
    const unwatch = recordDraining(observer, 'orders', events);
    cleanups.push(async () => {
      unwatch();
      await observer.close();
    });
    const release = gate();
    const entered = gate();
    const app = framework();
    app.get('/slow', (_req, res) => {
      entered.open();
      void release.promise.then(() => {
        res.once('finish', () => events.push('in-flight done'));
        res.send('slow answer');
      });
    });
    const server = app.listen(0, '127.0.0.1');
    const close = server.close.bind(server);
    server.close = (callback) => {
      events.push('server closing');
      return close(callback);
    };
    const drainWaitMs = 300;
    const rollcall = attach(server, { backend: () => new RecordingBackend({ registry }, events), service: 'orders', drainWaitMs });
    const port = await listening(server);
    await rollcall.ready();

    const { answer, waited } = await shutDownDuringRequest({
      url: `http://127.0.0.1:${port}/slow`,
      entered: entered.promise,
      release,
      events,
      shutdown: () => rollcall.shutdown(),
    });

    expect(answer).toMatchObject({ status: 200, body: 'slow answer' });
    expect(events).toEqual(['draining', 'server closing', 'in-flight done', 'deregister', 'backend closed']);
    expect(waited).toBeGreaterThanOrEqual(drainWaitMs - 5);
  });

  it('makes a resolver elsewhere stop picking the instance as soon as it drains, while it still serves', async () => {
    const registry = new MemoryRegistry();
    const app = framework();
    const rollcall = lifespan({ backend: () => new MemoryBackend({ registry }), service: 'inventory', drainWaitMs: 1_000 });
    app.use(healthRouter(rollcall, { path: '/ready' }));
    app.get('/stock', (_req, res) => {
      res.json({ apples: 3 });
    });
    const server = app.listen(0, '127.0.0.1');
    rollcall.attach(server);
    const port = await listening(server);
    await rollcall.ready();
    const client = createResolver({ backend: new MemoryBackend({ registry }) });
    cleanups.push(() => client.close());
    expect(await client.resolveUrl('inventory', '/stock')).toBe(`http://127.0.0.1:${port}/stock`);

    const done = rollcall.shutdown();
    const tookMs = await within(300, async () => (await client.resolveAll('inventory').catch(() => [])).length === 0);

    expect(tookMs).toBeLessThan(300);
    expect(await get(`http://127.0.0.1:${port}/stock`)).toMatchObject({ status: 200, body: '{"apples":3}' });
    const ready = await get(`http://127.0.0.1:${port}/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'draining' });
    await done;
    await expect(client.resolve('inventory')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });

  it('deregisters when the server is closed directly, without shutdown()', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const logger = recordingLogger();
    const server = framework().listen(0, '127.0.0.1');
    const rollcall = attach(server, { backend, service: 'orders', logger });
    await rollcall.ready();
    expect(await backend.services()).toEqual(['orders']);

    await new Promise((resolve) => server.close(resolve));
    await within(1_000, () => rollcall.state === 'stopped');

    expect(await backend.services()).toEqual([]);
    expect(logger.at('warn')).toHaveLength(1);
  });
});

describe('rollcall/express healthRouter()', () => {
  it('rejects what is not a lifespan, and a path without a leading slash', () => {
    expect(() => healthRouter({} as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'handle' }));
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    expect(() => healthRouter(lifespan({ backend, service: 'orders' }), { path: 'health' })).toThrow(expect.objectContaining({ field: 'path' }));
  });
});
