/**
 * `rollcall/etcd`: the etcd v3 backend, over etcd's JSON gateway with undici. Its own subpath so
 * that `import 'rollcall'` never loads undici's connection pool or anything etcd-specific.
 *
 * @example
 * import { EtcdBackend } from 'rollcall/etcd';
 * const backend = new EtcdBackend({ namespace: 'prod' }); // connects to ETCD_ENDPOINTS
 *
 * @module rollcall/etcd
 */
export { EtcdBackend, type EtcdBackendStats } from './etcd-backend.js';
export type { EtcdBackendOptions, EtcdTlsOptions } from './options.js';
export { DEFAULT_NAMESPACE, NAMESPACE_PATTERN } from './keys.js';
export { RECORD_MAX_BYTES } from './records.js';
