import { createRequire } from 'node:module';
import express from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/index.js';
import { attach, healthRouter, lifespan } from '../../src/integrations/express.js';
import { recordingLogger } from '../helpers/recording-logger.js';
import { express4Adapter, express5 } from './adapters.js';
import { describeAdapterSuite } from './adapter-suite.js';
import { eventually, expectNoNewHandles, get, openHandles } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const versionOf = (name: string): string => (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;

it('runs against both Express majors', () => {
  expect([versionOf('express'), versionOf('express4')].map((version) => version.split('.')[0])).toEqual(['5', '4']);
});

describeAdapterSuite(express5);
describeAdapterSuite(express4Adapter);

describe.each([
  ['Express 5', express],
  ['Express 4', express4],
])('rollcall/express with %s', (_name, framework) => {
  it('serves the health route of a lifespan() attached once app.listen() returns: GET and HEAD, on the path given, not POST', async () => {
    const before = openHandles();
    const backend = new MemoryBackend();
    const app = framework();
    const rollcall = lifespan({ backend, service: 'orders', drainWaitMs: 0 });
    app.use(healthRouter(rollcall));
    app.use(healthRouter(rollcall, { path: '/ready' }));
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
    expect(await get(`http://127.0.0.1:${port}/ready`)).toMatchObject({ status: 200 });
    expect(await get(`http://127.0.0.1:${port}/hello`)).toMatchObject({ status: 200, body: 'hello' });

    await rollcall.shutdown();
    expect(await backend.instances('orders')).toEqual([]);
    await backend.close();
    await expectNoNewHandles(before);
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
    await eventually(() => rollcall.state === 'stopped');

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
