/**
 * RollcallModule configured the ways Nest modules are: forRoot, forRootAsync with useFactory,
 * useClass or useExisting (ConfigurableModuleBuilder), and loggers the Nest way (its Logger,
 * console), in real Nest apps.
 */
import { Inject, Logger, type DynamicModule, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, MemoryBackend, type RegistryBackend } from '../../src/index.js';
import {
  ROLLCALL_LIFESPAN,
  ROLLCALL_RESOLVER,
  RollcallModule,
  type RollcallHandle,
  type RollcallOptions,
  type RollcallOptionsFactory,
} from '../../src/integrations/nest/index.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function appModule(rollcall: DynamicModule, extra: Omit<DynamicModule, 'module'> = {}): DynamicModule {
  return { module: class AppModule {}, ...extra, imports: [rollcall, ...(extra.imports ?? [])] };
}

async function listening(module: DynamicModule, logger: false | LoggerService = false): Promise<INestApplication> {
  const app = await NestFactory.create(module, { logger, abortOnError: false });
  cleanups.push(() => app.close());
  await app.listen(0, '127.0.0.1');
  await app.get<RollcallHandle>(ROLLCALL_LIFESPAN).ready();
  return app;
}

function memory(): MemoryBackend {
  const backend = new MemoryBackend();
  cleanups.push(() => backend.close());
  return backend;
}

interface Settings {
  readonly name: string;
  readonly backend: RegistryBackend;
}

/** A config module exporting the settings and an options factory built from them. */
function configModule(settings: Settings): DynamicModule {
  class RollcallConfig implements RollcallOptionsFactory {
    constructor(private readonly settings: Settings) {}

    createRollcallOptions(): RollcallOptions {
      return { backend: this.settings.backend, service: this.settings.name, drainWaitMs: 0 };
    }
  }
  Inject('SETTINGS')(RollcallConfig, undefined, 0); // constructor(@Inject('SETTINGS') settings)
  return {
    module: class ConfigModule {},
    providers: [{ provide: 'SETTINGS', useValue: settings }, RollcallConfig],
    exports: ['SETTINGS', RollcallConfig],
    global: false,
  };
}

describe('RollcallModule.forRootAsync()', () => {
  it('useClass: instantiates the options factory in the module, with what the imports provide', async () => {
    const backend = memory();
    const config = configModule({ name: 'billing', backend });
    const factory = (config.providers?.[1] ?? undefined) as new (settings: Settings) => RollcallOptionsFactory;
    const app = await listening(appModule(RollcallModule.forRootAsync({ imports: [config], useClass: factory })));

    expect(await backend.instances('billing')).toEqual([expect.objectContaining({ service: 'billing' })]);
    await app.close();
    expect(await backend.instances('billing')).toEqual([]);
  });

  it('useExisting: reuses the options factory an imported module provides', async () => {
    const backend = memory();
    const config = configModule({ name: 'ledger', backend });
    const factory = config.providers?.[1] as new (settings: Settings) => RollcallOptionsFactory;
    const app = await listening(appModule(RollcallModule.forRootAsync({ imports: [config], useExisting: factory })));

    expect(await backend.instances('ledger')).toEqual([expect.objectContaining({ service: 'ledger' })]);
    expect(app.get(ROLLCALL_RESOLVER)).toBe(app.get<RollcallHandle>(ROLLCALL_LIFESPAN).resolver);
  });

  it('useFactory: with inject, and not global when isGlobal is false', async () => {
    const backend = memory();
    const config: DynamicModule = { module: class ConfigModule {}, providers: [{ provide: 'NAME', useValue: 'mailer' }], exports: ['NAME'] };
    const app = await listening(
      appModule(RollcallModule.forRootAsync({ imports: [config], inject: ['NAME'], useFactory: (name: string) => ({ backend, service: name, port: 2525, drainWaitMs: 0 }), isGlobal: false })),
    );
    expect(await backend.instances('mailer')).toEqual([expect.objectContaining({ port: 2525 })]);
    const rollcall = app.get<RollcallHandle>(ROLLCALL_LIFESPAN);
    expect(rollcall.service).toBe('mailer');
  });

  it('rejects an async configuration that is not one of useFactory, useClass, useExisting', () => {
    const useFactory = (): RollcallOptions => ({ backend: new MemoryBackend(), service: 'orders' });
    class Factory implements RollcallOptionsFactory {
      createRollcallOptions(): RollcallOptions {
        return useFactory();
      }
    }
    expect(() => RollcallModule.forRootAsync({})).toThrow(expect.objectContaining({ field: 'options', message: expect.stringContaining('got "none"') as unknown }));
    expect(() => RollcallModule.forRootAsync({ useFactory, useClass: Factory })).toThrow(expect.objectContaining({ field: 'options' }));
    expect(() => RollcallModule.forRootAsync({ useFactory: 'factory' as never })).toThrow(expect.objectContaining({ field: 'useFactory' }));
    expect(() => RollcallModule.forRootAsync({ useFactory, inject: 'NAME' as never })).toThrow(expect.objectContaining({ field: 'inject' }));
    expect(() => RollcallModule.forRootAsync({ useFactory, isGlobal: 'yes' as never })).toThrow(expect.objectContaining({ field: 'isGlobal' }));
    expect(() => RollcallModule.forRootAsync(null as never)).toThrow(InvalidArgumentError);
    expect(() => RollcallModule.forRoot(null as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'options' }));
    expect(() => RollcallModule.forRoot({ backend: new MemoryBackend(), service: 'orders', isGlobal: 1 as never })).toThrow(expect.objectContaining({ field: 'isGlobal' }));
  });

  it('fails NestFactory.create with a typed error when the factory returns bad options', async () => {
    const create = (useFactory: () => unknown): Promise<INestApplication> =>
      NestFactory.create(appModule(RollcallModule.forRootAsync({ useFactory: useFactory as () => RollcallOptions })), { logger: false, abortOnError: false });
    await expect(create(() => null)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'options' });
    await expect(create(() => ({ backend: new MemoryBackend(), service: 5 }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'service' });
    await expect(create(() => ({ backend: new MemoryBackend(), service: 'orders', logger: null }))).rejects.toMatchObject({ field: 'logger' });
  });
});

describe('RollcallModule loggers', () => {
  const registered = 'starting → registered: registered with the registry';

  it("takes a Nest Logger: info lines go to its log(), with rollcall's fields", async () => {
    const logger = new Logger('Orders');
    const log = vi.spyOn(logger, 'log').mockImplementation(() => {});
    await listening(appModule(RollcallModule.forRoot({ backend: memory(), service: 'orders', drainWaitMs: 0, logger })));
    expect(log).toHaveBeenCalledWith(registered, expect.objectContaining({ component: 'registration', service: 'orders' }));
  });

  it('takes console', async () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    await listening(appModule(RollcallModule.forRoot({ backend: memory(), service: 'orders', drainWaitMs: 0, logger: console })));
    expect(info).toHaveBeenCalledWith(registered, expect.objectContaining({ service: 'orders' }));
  });

  it("logs through the app's logger (a Nest Logger with the Rollcall context) when none is given", async () => {
    const lines: unknown[][] = [];
    const record = (...args: unknown[]): void => {
      lines.push(args);
    };
    const appLogger: LoggerService = { log: record, error: record, warn: record, debug: record, verbose: record };
    await listening(appModule(RollcallModule.forRoot({ backend: memory(), service: 'orders', drainWaitMs: 0 })), appLogger);
    expect(lines).toContainEqual([registered, expect.objectContaining({ service: 'orders' }), 'Rollcall']);
  });
});
