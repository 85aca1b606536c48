import Fastify from 'fastify';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { describe, expect, it } from 'vitest';
import { rollcallGateway, type RollcallGatewayOptions } from '../../src/gateway/index.js';
import { InvalidArgumentError, MemoryBackend, consistentHash, createResolver, type RegistryBackend, type WatchHandlers } from '../../src/index.js';
import { call, echoed, onCleanup, register, startGateway, startUpstream } from './helpers.js';

async function registerError(options: unknown): Promise<unknown> {
  const app = Fastify();
  onCleanup(() => app.close());
  return app.register(rollcallGateway, options as RollcallGatewayOptions).then(
    () => 'registered',
    (error: unknown) => error,
  );
}

describe('rollcallGateway options', () => {
  it('rejects bad options at register time with InvalidArgumentError naming the option', async () => {
    const backend = new MemoryBackend();
    const cases: Array<[unknown, string]> = [
      [{}, 'backend'],
      [{ backend: {} }, 'backend'],
      [{ backend, resolver: 'fast' }, 'resolver'],
      [{ backend, apiPrefix: 'api' }, 'apiPrefix'],
      [{ backend, apiPrefix: '/api/' }, 'apiPrefix'],
      [{ backend, apiPrefix: '/api/:version' }, 'apiPrefix'],
      [{ backend, servicesRoute: 'services' }, 'servicesRoute'],
      [{ backend, servicesRoute: '/api/v1/services' }, 'servicesRoute'],
      [{ backend, services: ['orders', 'bad name'] }, 'services[1]'],
      [{ backend, services: 'orders' }, 'services'],
      [{ backend, timeoutMs: 0 }, 'timeoutMs'],
      [{ backend, retry: { attempts: 1 } }, 'retry.attempts'],
      [{ backend, retry: { methods: ['get'] } }, 'retry.methods'],
      [{ backend, retry: { statuses: [700] } }, 'retry.statuses'],
      [{ backend, retry: { maxBodyBytes: -1 } }, 'retry.maxBodyBytes'],
      [{ backend, retry: { budget: { ratio: 2 } } }, 'retry.budget.ratio'],
      [{ backend, retry: 'always' }, 'retry'],
      [{ backend, keyHeader: 'x user' }, 'keyHeader'],
      [{ backend, isFailure: 500 }, 'isFailure'],
      [{ backend, dispatcher: {} }, 'dispatcher'],
      [{ backend, describe: { concurrency: 0 } }, 'describe.concurrency'],
      [{ backend, resolver: { cacheTtlMs: -5 } }, 'cacheTtlMs'],
    ];
    for (const [options, field] of cases) {
      const error = await registerError(options);
      expect(error, JSON.stringify(options)).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).field, JSON.stringify(options)).toBe(field);
    }
  });

  it('never closes a backend, resolver or dispatcher it was given', async () => {
    const backend = new MemoryBackend();
    const upstream = await startUpstream('orders-1');
    await register(backend, 'orders', 'orders-1', upstream.port);
    const resolver = createResolver({ backend });
    const dispatcher = new Agent();
    onCleanup(async () => {
      await resolver.close();
      await dispatcher.close();
    });
    const { app, base } = await startGateway({ backend, resolver, dispatcher });
    expect(echoed(await call(`${base}/api/v1/orders/x`)).id).toBe('orders-1');

    await app.close();

    expect((await resolver.resolve('orders')).id).toBe('orders-1');
    expect(await backend.services()).toEqual(['orders']);
    expect(dispatcher.closed).toBe(false);
    expect(dispatcher.destroyed).toBe(false);
  });

  it('closes the resolver and the upstream connections it created when the app closes', async () => {
    const memory = new MemoryBackend();
    let watches = 0;
    const backend: RegistryBackend = {
      kind: 'memory',
      register: (instance, lease) => memory.register(instance, lease),
      renew: (ref, status) => memory.renew(ref, status),
      deregister: (ref) => memory.deregister(ref),
      instances: (service) => memory.instances(service),
      services: () => memory.services(),
      close: () => memory.close(),
      watch: (service: string, handlers: WatchHandlers) => {
        watches++;
        const unsubscribe = memory.watch(service, handlers);
        return () => {
          watches--;
          unsubscribe();
        };
      },
    };
    const upstream = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => upstream.close(resolve)));
    await register(backend, 'orders', 'orders-1', (upstream.address() as AddressInfo).port);
    const connections = (): Promise<number> => new Promise((resolve, reject) => upstream.getConnections((error, count) => (error ? reject(error) : resolve(count))));
    const { app, base } = await startGateway({ backend });
    expect((await call(`${base}/api/v1/orders/x`)).body).toBe('ok');
    expect(await connections()).toBe(1);
    const listing = await call(`${base}/services`);
    expect(listing.json).toMatchObject({ resolver: { services: [{ service: 'orders', watching: true }] } });
    expect(watches).toBe(1);

    await app.close();

    await expect.poll(connections).toBe(0);
    expect(watches).toBe(0);
    expect(await memory.services()).toEqual(['orders']);
  });

  it('picks by the affinity key of keyHeader, for consistent hashing', async () => {
    const backend = new MemoryBackend();
    for (const id of ['a', 'b', 'c']) {
      const upstream = await startUpstream(id);
      await register(backend, 'carts', id, upstream.port);
    }
    const { base } = await startGateway({ backend, keyHeader: 'X-User-Id', resolver: { strategy: consistentHash() } });

    const servedFor = async (user: string): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(echoed(await call(`${base}/api/v1/carts/x`, { headers: { 'x-user-id': user } })).id);
      return ids;
    };
    const users = await Promise.all(['u-1', 'u-2', 'u-3', 'u-4', 'u-5', 'u-6'].map(servedFor));

    for (const ids of users) expect(new Set(ids).size).toBe(1);
    expect(new Set(users.map((ids) => ids[0])).size).toBeGreaterThan(1);
  });
});
