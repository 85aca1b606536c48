/**
 * rollcall/nest: `RollcallModule.forRoot()` / `forRootAsync()`, the injectable resolver
 * (`@Inject(ROLLCALL_RESOLVER)` or `@Inject(Resolver)`) and registration tied to Nest's lifecycle.
 */
export { RollcallModule, type RollcallModuleAsyncOptions, type RollcallModuleOptions } from './module.js';
export { ROLLCALL_LIFESPAN, ROLLCALL_OPTIONS, ROLLCALL_RESOLVER } from './tokens.js';
export type { HealthAnswer, HealthBody } from '../health.js';
export type { LifespanState, ResolverSettings, RollcallHandle, RollcallOptions } from '../lifespan.js';
