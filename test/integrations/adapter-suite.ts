/**
 * What every framework adapter must do, run for each one as the backend conformance suite is run
 * for each backend: register the port the server bound, the default or given host, the shutdown
 * order (drain → drain wait → in-flight requests → deregister → close what it created), callers
 * elsewhere leaving a draining instance while it still serves, health answers, and signals for
 * the adapters that take them. What only one framework does stays in its own test file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend, MemoryRegistry, createResolver, type HealthCheckResult } from '../../src/index.js';
import { defaultHost } from '../../src/registration/registration.js';
import type { AppSetup, FrameworkAdapter, RunningApp } from './adapters.js';
import { RecordingBackend, eventually, expectNoNewHandles, gate, get, openHandles, recordDraining, shutDownDuringRequest } from './helpers.js';

export function describeAdapterSuite(adapter: FrameworkAdapter): void {
  describe(`${adapter.name}: the adapter suite`, () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    const start = async (setup: AppSetup): Promise<RunningApp> => {
      const app = await adapter.start(setup);
      cleanups.push(() => app.close());
      return app;
    };
    const memory = (registry?: MemoryRegistry): MemoryBackend => {
      const backend = new MemoryBackend(registry === undefined ? {} : { registry });
      cleanups.push(() => backend.close());
      return backend;
    };

    it('registers with the port the server bound once listening, and closing deregisters it, leaving the backend it was given open and nothing else', async () => {
      const before = openHandles();
      const backend = new MemoryBackend();
      const app = await start({ options: { backend, service: 'orders', drainWaitMs: 0 } });
      const registration = await app.handle.ready();

      expect(registration?.state).toBe('registered');
      expect(app.handle.registration).toBe(registration);
      expect(app.handle.state).toBe('running');
      expect(await backend.instances('orders')).toEqual([expect.objectContaining({ id: registration?.instance.id, host: '127.0.0.1', port: app.port, status: 'passing' })]);
      expect(await app.handle.resolver.resolveUrl('orders', '/x')).toBe(`http://127.0.0.1:${app.port}/x`);

      await app.close();
      expect(await backend.instances('orders')).toEqual([]);
      expect(app.handle.state).toBe('stopped');
      expect(app.server.listening).toBe(false);
      // The backend was passed in: it is the caller's, still open.
      await expect(backend.services()).resolves.toEqual([]);
      await backend.close();
      await expectNoNewHandles(before);
    });

    it('registers the default host for a wildcard bind, and an explicit host and port as given', async () => {
      const backend = memory();
      const wild = await start({ options: { backend, service: 'wild', drainWaitMs: 0 }, host: '0.0.0.0' });
      const named = await start({ options: { backend, service: 'named', host: 'named.internal', drainWaitMs: 0 } });
      const explicit = await start({ options: { backend, service: 'explicit', host: 'orders.internal', port: 8443, drainWaitMs: 0 } });
      await Promise.all([wild, named, explicit].map((app) => app.handle.ready()));

      expect(await backend.instances('wild')).toEqual([expect.objectContaining({ host: defaultHost(), port: wild.port })]);
      expect(await backend.instances('named')).toEqual([expect.objectContaining({ host: 'named.internal', port: named.port })]);
      expect(await backend.instances('explicit')).toEqual([expect.objectContaining({ host: 'orders.internal', port: 8443 })]);
    });

    it('shuts down in order: drain → drain wait → in-flight requests finish → deregister → close the backend it created', async () => {
      const before = openHandles();
      const registry = new MemoryRegistry();
      const events: string[] = [];
      const observer = new MemoryBackend({ registry });
      const unwatch = recordDraining(observer, 'orders', events);
      const release = gate();
      const entered = gate();
      const drainWaitMs = 300;
      const app = await start({
        options: { backend: () => new RecordingBackend({ registry }, events), service: 'orders', drainWaitMs },
        routes: {
          '/slow': async () => {
            entered.open();
            await release.promise;
            return 'slow answer';
          },
        },
      });
      app.server.on('request', (request: { url?: string }, response: { once(event: 'finish', listener: () => void): unknown }) => {
        if (request.url === '/slow') response.once('finish', () => events.push('in-flight done'));
      });
      await app.handle.ready();
      const close = app.server.close.bind(app.server);
      app.server.close = (callback) => {
        events.push('server closing');
        return close(callback);
      };

      const { answer, waited } = await shutDownDuringRequest({
        url: `http://127.0.0.1:${app.port}/slow`,
        entered: entered.promise,
        release,
        events,
        shutdown: () => app.close(),
      });

      expect(answer).toMatchObject({ status: 200, body: 'slow answer' });
      expect(events).toEqual(['draining', 'server closing', 'in-flight done', 'deregister', 'backend closed']);
      expect(waited).toBeGreaterThanOrEqual(drainWaitMs - 5);
      expect(app.handle.signal.aborted).toBe(true);
      unwatch();
      await observer.close();
      await expectNoNewHandles(before);
    });

    it('makes a resolver elsewhere stop picking the instance as soon as it drains, while it is listed as draining and still serves', async () => {
      const registry = new MemoryRegistry();
      const routes = { '/stock': () => '{"apples":3}' };
      const leaving = await start({ options: { backend: () => new MemoryBackend({ registry }), service: 'inventory', drainWaitMs: 1_000 }, routes });
      const staying = await start({ options: { backend: () => new MemoryBackend({ registry }), service: 'inventory', drainWaitMs: 0 }, routes });
      await Promise.all([leaving.handle.ready(), staying.handle.ready()]);
      const client = createResolver({ backend: memory(registry) });
      cleanups.push(() => client.close());
      expect((await client.resolveAll('inventory')).map((i) => i.port).sort()).toEqual([leaving.port, staying.port].sort());

      const closing = leaving.close();
      await eventually(async () => (await client.resolveAll('inventory')).every((i) => i.port !== leaving.port));
      // As soon as it drains: still in its drain wait, listed as draining, serving whoever picked it earlier.
      expect(leaving.handle.state).toBe('draining');
      expect(registry.instances('default', 'inventory')).toContainEqual(expect.objectContaining({ port: leaving.port, status: 'draining' }));
      expect(await get(`http://127.0.0.1:${leaving.port}/stock`)).toMatchObject({ status: 200, body: '{"apples":3}' });
      expect(leaving.handle.health()).toMatchObject({ statusCode: 503, body: { status: 'draining' } });
      if (adapter.healthPath !== undefined) {
        const health = await get(`http://127.0.0.1:${leaving.port}${adapter.healthPath}`);
        expect([health.status, JSON.parse(health.body)]).toEqual([503, expect.objectContaining({ status: 'draining' })]);
      }

      await closing;
      expect((await client.resolveAll('inventory')).map((i) => i.port)).toEqual([staying.port]);
      await staying.close();
      await expect(client.resolve('inventory')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    });

    it('answers health: 200 passing, 503 critical, 200 again, 503 from the moment it drains', async () => {
      let db: HealthCheckResult = 'passing';
      const app = await start({
        options: { backend: memory(), service: 'orders', ttlMs: 1_000, heartbeatIntervalMs: 100, failuresBeforeCritical: 1, drainWaitMs: 1_000, healthChecks: { db: () => db } },
      });
      await app.handle.ready();
      // The handle's answer, and the route's where the adapter serves one: the same.
      const health = async (): Promise<{ statusCode: number; body: unknown }> => {
        const answer = app.handle.health();
        if (adapter.healthPath === undefined) return answer;
        const served = await get(`http://127.0.0.1:${app.port}${adapter.healthPath}`);
        expect([served.status, JSON.parse(served.body)]).toEqual([answer.statusCode, answer.body]);
        return answer;
      };

      expect(await health()).toMatchObject({ statusCode: 200, body: { status: 'passing', service: 'orders', registration: 'registered', checks: { db: { status: 'passing' } } } });
      db = 'critical';
      await eventually(async () => (await health()).statusCode === 503);
      expect(await health()).toMatchObject({ body: { status: 'critical', checks: { db: { status: 'critical' } } } });
      db = 'passing';
      await eventually(async () => (await health()).statusCode === 200);

      const closing = app.close();
      await eventually(async () => (await health()).statusCode === 503);
      // From the moment it drains: still in its one-second drain wait.
      expect(app.handle.state).toBe('draining');
      expect(await health()).toMatchObject({ body: { status: 'draining' } });
      await closing;
    });

    if (adapter.signals) it('installs no signal handler unless asked to; with signals: true, shuts down on SIGTERM and removes its handlers', async () => {
      const backend = memory();
      const term = process.listenerCount('SIGTERM');
      const int = process.listenerCount('SIGINT');
      const quiet = await start({ options: { backend, service: 'quiet', drainWaitMs: 0 } });
      expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual([term, int]);
      const handled = await start({ options: { backend, service: 'handled', drainWaitMs: 0, signals: true } });
      expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual([term + 1, int + 1]);
      await Promise.all([quiet.handle.ready(), handled.handle.ready()]);

      process.emit('SIGTERM', 'SIGTERM');
      expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual([term, int]);
      await eventually(() => handled.handle.state === 'stopped');

      expect(handled.server.listening).toBe(false);
      expect(await backend.instances('handled')).toEqual([]);
      expect(quiet.handle.state).toBe('running');
    });
  });
}
