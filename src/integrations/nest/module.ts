/**
 * `RollcallModule.forRoot()` / `forRootAsync()`: the lifespan, the resolver, the lifecycle hooks
 * and the terminus health indicator as providers. Built on Nest's ConfigurableModuleBuilder, so
 * `forRootAsync` takes `useFactory`, `useClass` or `useExisting` as every Nest module does. Built
 * from factory providers and tokens only: the library itself needs no decorators to compile.
 */
import { ConfigurableModuleBuilder, Logger, type ConfigurableModuleAsyncOptions, type DynamicModule, type Provider } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { InvalidArgumentError } from '../../core/errors.js';
import { Resolver } from '../../resolution/resolver.js';
import { Lifespan, type RollcallOptions } from '../lifespan.js';
import { RollcallHealthIndicator } from './health-indicator.js';
import { RollcallLifecycle } from './lifecycle.js';
import { DEFAULT_STATUS_PATH } from '../status-route.js';
import { ROLLCALL_LIFESPAN, ROLLCALL_OPTIONS, ROLLCALL_RESOLVER, ROLLCALL_STATUS_ROUTE } from './tokens.js';

/** Options of the module itself, next to the rollcall options. */
export interface RollcallModuleExtras {
  /** Make the resolver, lifespan and health indicator injectable in every module, without importing this one there. @default true */
  isGlobal?: boolean | undefined;
  /**
   * Serve the status view (`describeStatus`: the resolver's services with their answers,
   * instances, ejections and latency, the whole registry, the registration) as JSON on this path
   * (`true`: `/rollcall/status`), through the app's HTTP adapter. It lists instance addresses:
   * expose it to operators only. @default false (no route)
   */
  statusRoute?: boolean | string | undefined;
}

/**
 * Options of {@link RollcallModule.forRoot}: {@link RollcallOptions} plus `isGlobal`. `logger`
 * defaults to a Nest `Logger` with the context `Rollcall`, so rollcall's few lines (state
 * transitions) land in the app's logs.
 */
export interface RollcallModuleOptions extends RollcallOptions, RollcallModuleExtras {}

/** A class that builds the options, for `forRootAsync({ useClass })` and `forRootAsync({ useExisting })`. */
export interface RollcallOptionsFactory {
  createRollcallOptions(): RollcallOptions | Promise<RollcallOptions>;
}

/**
 * Options of {@link RollcallModule.forRootAsync}, Nest's usual async shape: exactly one of
 * `useFactory` (with `inject`), `useClass` or `useExisting` (a {@link RollcallOptionsFactory}),
 * plus the `imports` they need. @default imports [], inject []
 */
export interface RollcallModuleAsyncOptions extends ConfigurableModuleAsyncOptions<RollcallOptions, 'createRollcallOptions'>, RollcallModuleExtras {}

const { ConfigurableModuleClass } = new ConfigurableModuleBuilder<RollcallOptions>({ optionsInjectionToken: ROLLCALL_OPTIONS })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRollcallOptions')
  .setExtras<RollcallModuleExtras>({ isGlobal: true, statusRoute: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal ?? true,
    providers: [...(definition.providers ?? []), { provide: ROLLCALL_STATUS_ROUTE, useValue: statusPath(extras.statusRoute) }],
  }))
  .build();

/**
 * The Nest module. Registers the service after `app.listen()` (on the port the server bound),
 * drains in `beforeApplicationShutdown`, deregisters in `onApplicationShutdown`. Call
 * `app.enableShutdownHooks()` for SIGTERM to run them. Invalid options fail `NestFactory.create()`.
 *
 * @example
 * \@Module({ imports: [RollcallModule.forRoot({ backend, service: 'orders' })] })
 * class AppModule {}
 */
export class RollcallModule extends ConfigurableModuleClass {
  static override forRoot(options: RollcallModuleOptions): DynamicModule {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'RollcallModule.forRoot options', options);
    assertExtras(options);
    return withRollcallProviders(super.forRoot(options));
  }

  static override forRootAsync(options: RollcallModuleAsyncOptions): DynamicModule {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'RollcallModule.forRootAsync options', options);
    assertExtras(options);
    const ways = (['useFactory', 'useClass', 'useExisting'] as const).filter((way) => options[way] !== undefined);
    if (ways.length !== 1) {
      throw new InvalidArgumentError('options', 'exactly one of useFactory, useClass or useExisting', ways.length === 0 ? 'none' : ways.join(' and '));
    }
    for (const way of ['useFactory', 'useClass'] as const) {
      if (options[way] !== undefined && typeof options[way] !== 'function') throw new InvalidArgumentError(way, 'a function', options[way]);
    }
    for (const list of ['imports', 'inject'] as const) {
      if (options[list] !== undefined && !Array.isArray(options[list])) throw new InvalidArgumentError(list, 'an array', options[list]);
    }
    return withRollcallProviders(super.forRootAsync(options));
  }
}

function assertExtras(options: RollcallModuleExtras): void {
  if (options.isGlobal !== undefined && typeof options.isGlobal !== 'boolean') throw new InvalidArgumentError('isGlobal', 'a boolean', options.isGlobal);
  statusPath(options.statusRoute);
}

function statusPath(value: boolean | string | undefined): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_STATUS_PATH;
  if (typeof value !== 'string' || !value.startsWith('/')) throw new InvalidArgumentError('statusRoute', "a boolean or a path starting with '/'", value);
  return value;
}

function createLifespan(options: RollcallOptions): Lifespan {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'rollcall options (what useFactory or createRollcallOptions() returned)', options);
  }
  return new Lifespan(options.logger === undefined ? { ...options, logger: new Logger('Rollcall') } : options);
}

const PROVIDERS: Provider[] = [
  { provide: ROLLCALL_LIFESPAN, useFactory: createLifespan, inject: [ROLLCALL_OPTIONS] },
  { provide: ROLLCALL_RESOLVER, useFactory: (life: Lifespan) => life.resolver, inject: [ROLLCALL_LIFESPAN] },
  { provide: Resolver, useExisting: ROLLCALL_RESOLVER },
  { provide: RollcallHealthIndicator, useFactory: (life: Lifespan) => new RollcallHealthIndicator(life), inject: [ROLLCALL_LIFESPAN] },
  {
    provide: RollcallLifecycle,
    useFactory: (life: Lifespan, adapterHost: HttpAdapterHost, statusRoute: string | undefined) => new RollcallLifecycle(life, adapterHost, statusRoute),
    inject: [ROLLCALL_LIFESPAN, HttpAdapterHost, ROLLCALL_STATUS_ROUTE],
  },
];

function withRollcallProviders(definition: DynamicModule): DynamicModule {
  return {
    ...definition,
    providers: [...(definition.providers ?? []), ...PROVIDERS],
    exports: [ROLLCALL_LIFESPAN, ROLLCALL_RESOLVER, Resolver, RollcallHealthIndicator],
  };
}
