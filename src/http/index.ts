/**
 * `rollcall/http`: discovery-aware HTTP on undici. `createDiscoveryFetch(resolver)` for a fetch
 * of your own; `createDiscoveryDispatcher(resolver)` with undici's `setGlobalDispatcher` to make
 * every fetch in the process discovery-aware; `discoveryInterceptor(resolver)` to compose with
 * other undici interceptors.
 *
 * @module rollcall/http
 */
export {
  createDiscoveryFetch,
  type DiscoveryFetch,
  type DiscoveryFetchOptions,
  type DiscoveryRequestInit,
  type RequestLike,
} from './discovery-fetch.js';
export { createDiscoveryDispatcher, discoveryInterceptor, type DiscoveryDispatcherOptions } from './discovery-interceptor.js';
export { defaultIsService, type DiscoveryHttpOptions, type RetryOptions } from './options.js';
export { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
