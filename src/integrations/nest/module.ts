/**
 * `RollcallModule.forRoot()` / `forRootAsync()`: the lifespan, the resolver and the lifecycle
 * hooks as providers. Built from factory providers and tokens only, so the library itself needs
 * no decorators (nor `experimentalDecorators`) to compile.
 */
import type { DynamicModule, FactoryProvider, ModuleMetadata, Provider } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Resolver } from '../../resolution/resolver.js';
import { Lifespan, type RollcallOptions } from '../lifespan.js';
import { RollcallLifecycle } from './lifecycle.js';
import { ROLLCALL_LIFESPAN, ROLLCALL_OPTIONS, ROLLCALL_RESOLVER } from './tokens.js';

/** Options of {@link RollcallModule.forRoot}. */
export interface RollcallModuleOptions extends RollcallOptions {
  /** Make the resolver and lifespan injectable in every module, without importing this one there. @default true */
  isGlobal?: boolean | undefined;
}

/** Options of {@link RollcallModule.forRootAsync}: the usual Nest async-configuration shape. */
export interface RollcallModuleAsyncOptions {
  /** Modules whose providers `useFactory` needs (a ConfigModule, say). @default [] */
  imports?: ModuleMetadata['imports'];
  /** Providers passed to `useFactory`, in order. @default [] */
  inject?: FactoryProvider['inject'];
  /** Returns the rollcall options. */
  useFactory: (...args: never[]) => RollcallOptions | Promise<RollcallOptions>;
  /** @default true */
  isGlobal?: boolean | undefined;
}

/**
 * The Nest module. Registers the service after `app.listen()` (on the port the server bound),
 * drains in `beforeApplicationShutdown`, deregisters in `onApplicationShutdown`. Call
 * `app.enableShutdownHooks()` for SIGTERM to run them.
 *
 * @example
 * \@Module({ imports: [RollcallModule.forRoot({ backend, service: 'orders' })] })
 * class AppModule {}
 */
export class RollcallModule {
  static forRoot(options: RollcallModuleOptions): DynamicModule {
    const { isGlobal, ...rest } = options;
    return rollcallModule({ provide: ROLLCALL_OPTIONS, useValue: rest }, [], isGlobal);
  }

  static forRootAsync(options: RollcallModuleAsyncOptions): DynamicModule {
    const optionsProvider: FactoryProvider<RollcallOptions | Promise<RollcallOptions>> = {
      provide: ROLLCALL_OPTIONS,
      useFactory: options.useFactory as (...args: unknown[]) => RollcallOptions | Promise<RollcallOptions>,
      inject: options.inject ?? [],
    };
    return rollcallModule(optionsProvider, options.imports ?? [], options.isGlobal);
  }
}

function rollcallModule(optionsProvider: Provider, imports: NonNullable<ModuleMetadata['imports']>, isGlobal = true): DynamicModule {
  return {
    module: RollcallModule,
    global: isGlobal,
    imports,
    providers: [
      optionsProvider,
      { provide: ROLLCALL_LIFESPAN, useFactory: (options: RollcallOptions) => new Lifespan(options), inject: [ROLLCALL_OPTIONS] },
      { provide: ROLLCALL_RESOLVER, useFactory: (life: Lifespan) => life.resolver, inject: [ROLLCALL_LIFESPAN] },
      { provide: Resolver, useExisting: ROLLCALL_RESOLVER },
      {
        provide: RollcallLifecycle,
        useFactory: (life: Lifespan, adapterHost: HttpAdapterHost) => new RollcallLifecycle(life, adapterHost),
        inject: [ROLLCALL_LIFESPAN, HttpAdapterHost],
      },
    ],
    exports: [ROLLCALL_LIFESPAN, ROLLCALL_RESOLVER, Resolver],
  };
}
