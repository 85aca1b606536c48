/**
 * `rollcall/gateway`: an API gateway in one `register` call. A Fastify plugin that forwards
 * `/api/v1/<service>/*` to live instances found through rollcall (with @fastify/reply-from, an
 * optional peer dependency, as is Fastify) and lists the registry's services with their health.
 *
 * @module rollcall/gateway
 */
export { rollcallGateway, rollcallGateway as default } from './plugin.js';
export type { GatewayRetryOptions, RollcallGatewayOptions } from './options.js';
export type { ListedInstance, RegistryListing, ResolverView, ServicesListing } from './listing.js';
export type { UpstreamFailure } from './forward.js';
