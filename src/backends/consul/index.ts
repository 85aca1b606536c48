/**
 * `rollcall/consul`: the Consul backend. Its own subpath so that `import 'rollcall'` never loads
 * undici's connection pool or anything Consul-specific.
 *
 * @module rollcall/consul
 */
export { ConsulBackend, type ConsulBackendStats } from './consul-backend.js';
export type { ConsulBackendOptions, ConsulTlsOptions } from './options.js';
export { META_KEYS, RESERVED_META_PREFIX, MAX_USER_META_PAIRS, SERVICE_KINDS, type ConsulServiceKind } from './mapping.js';
