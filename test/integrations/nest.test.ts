import type { DynamicModule, INestApplication, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend, Resolver } from '../../src/index.js';
import { ROLLCALL_LIFESPAN, ROLLCALL_RESOLVER, RollcallModule, type RollcallHandle } from '../../src/integrations/nest/index.js';
import { nest } from './adapters.js';
import { describeAdapterSuite } from './adapter-suite.js';
import { expectNoNewHandles, openHandles } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// Dynamic modules all the way down: no decorators needed to build a test app.
function appModule(rollcall: DynamicModule, extra: Omit<DynamicModule, 'module'> = {}): DynamicModule {
  return { module: class AppModule {}, ...extra, imports: [rollcall, ...(extra.imports ?? [])] };
}

async function createApp(module: DynamicModule): Promise<INestApplication> {
  const app = await NestFactory.create(module, { logger: false });
  cleanups.push(() => app.close());
  return app;
}

function portOf(app: INestApplication): number {
  return (app.getHttpServer() as { address(): { port: number } }).address().port;
}

class OrdersClient {
  constructor(readonly resolver: Resolver) {}

  inventoryUrl(): Promise<string> {
    return this.resolver.resolveUrl('inventory', '/stock');
  }
}

describeAdapterSuite(nest);

describe('rollcall/nest', () => {
  it('registers only once app.listen() binds, injects the resolver, and close() deregisters', async () => {
    const before = openHandles();
    const backend = new MemoryBackend();
    const app = await NestFactory.create(
      appModule(RollcallModule.forRoot({ backend, service: 'orders', drainWaitMs: 0 }), {
        providers: [{ provide: OrdersClient, useFactory: (resolver: Resolver) => new OrdersClient(resolver), inject: [ROLLCALL_RESOLVER] }],
      }),
      { logger: false },
    );
    await app.init();
    expect(await backend.services()).toEqual([]);

    await app.listen(0, '127.0.0.1');
    const life = app.get<RollcallHandle>(ROLLCALL_LIFESPAN);
    const registration = await life.ready();

    expect(await backend.instances('orders')).toEqual([expect.objectContaining({ id: registration?.instance.id, host: '127.0.0.1', port: portOf(app) })]);
    const resolver = app.get<Resolver>(ROLLCALL_RESOLVER);
    expect(resolver).toBe(life.resolver);
    expect(app.get(Resolver)).toBe(resolver);
    expect(app.get(OrdersClient).resolver).toBe(resolver);
    expect(await resolver.resolveUrl('orders')).toBe(`http://127.0.0.1:${portOf(app)}`);

    await app.close();
    expect(await backend.instances('orders')).toEqual([]);
    expect(life.state).toBe('stopped');
    await backend.close();
    await expectNoNewHandles(before);
  });

  it('forRootAsync() builds the options from injected providers', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const config: DynamicModule = { module: class ConfigModule {}, providers: [{ provide: 'CONFIG', useValue: { name: 'billing', zone: 'eu-1' } }], exports: ['CONFIG'] };
    const app = await createApp(
      appModule(
        RollcallModule.forRootAsync({
          imports: [config],
          inject: ['CONFIG'],
          useFactory: async (settings: { name: string; zone: string }) => {
            await Promise.resolve();
            return { backend, service: settings.name, zone: settings.zone, drainWaitMs: 0 };
          },
        }),
      ),
    );
    await app.listen(0, '127.0.0.1');
    await app.get<RollcallHandle>(ROLLCALL_LIFESPAN).ready();

    expect(await backend.instances('billing')).toEqual([expect.objectContaining({ zone: 'eu-1', port: portOf(app) })]);
    await app.close();
    expect(await backend.instances('billing')).toEqual([]);
  });

  it('is global by default: a feature module injects the resolver without importing RollcallModule', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const feature: DynamicModule = {
      module: class FeatureModule {},
      providers: [{ provide: OrdersClient, useFactory: (resolver: Resolver) => new OrdersClient(resolver), inject: [ROLLCALL_RESOLVER] }],
    };
    const app = await createApp(appModule(RollcallModule.forRoot({ backend, service: 'orders' }), { imports: [feature] }));
    expect(app.get(OrdersClient).resolver).toBe(app.get(ROLLCALL_RESOLVER));

    const scoped: DynamicModule = { ...feature, module: class ScopedFeatureModule {} };
    await expect(NestFactory.create(appModule(RollcallModule.forRoot({ backend, service: 'orders', isGlobal: false }), { imports: [scoped] }), { logger: false, abortOnError: false })).rejects.toThrow(
      /can't resolve dependencies/i,
    );
  });

  it('in an application context (no HTTP server) registers only an explicit port', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const worker: INestApplicationContext = await NestFactory.createApplicationContext(appModule(RollcallModule.forRoot({ backend, service: 'mailer' })), { logger: false });
    await worker.init();
    const life = worker.get<RollcallHandle>(ROLLCALL_LIFESPAN);
    expect(await life.ready()).toBeUndefined();
    expect(life.state).toBe('running');
    await worker.close();

    const tcp = await NestFactory.createApplicationContext(appModule(RollcallModule.forRoot({ backend, service: 'ledger', port: 7070, drainWaitMs: 0 })), { logger: false });
    await tcp.init();
    await tcp.get<RollcallHandle>(ROLLCALL_LIFESPAN).ready();
    expect(await backend.instances('ledger')).toEqual([expect.objectContaining({ port: 7070 })]);
    await tcp.close();
    expect(await backend.instances('ledger')).toEqual([]);
  });});
