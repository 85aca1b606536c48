/**
 * rollcall/nest: `RollcallModule.forRoot()` / `forRootAsync()`, the injectable resolver
 * (`@Inject(ROLLCALL_RESOLVER)` or `@Inject(Resolver)`), registration tied to Nest's lifecycle,
 * and `RollcallHealthIndicator` for `@nestjs/terminus` (which this subpath never loads itself).
 *
 * @module rollcall/nest
 */
export {
  RollcallModule,
  type RollcallModuleAsyncOptions,
  type RollcallModuleExtras,
  type RollcallModuleOptions,
  type RollcallOptionsFactory,
} from './module.js';
export { RollcallHealthIndicator, type RollcallHealthDetails } from './health-indicator.js';
export { ROLLCALL_LIFESPAN, ROLLCALL_OPTIONS, ROLLCALL_RESOLVER, ROLLCALL_STATUS_ROUTE } from './tokens.js';
export type { HealthAnswer, HealthBody } from '../handle.js';
export type { LifespanState, ResolverSettings, RollcallHandle, RollcallOptions } from '../lifespan.js';
