/**
 * `rollcall/redis`: the Redis registry backend (ioredis; standalone, Sentinel or Cluster). Kept
 * behind its own subpath so that `import 'rollcall'` never loads ioredis.
 *
 * @example
 * import { RedisBackend } from 'rollcall/redis';
 * const backend = new RedisBackend({ namespace: 'prod' }); // connects to REDIS_URL
 *
 * @module rollcall/redis
 */
export { RedisBackend, type RedisBackendStats } from './redis-backend.js';
export type {
  RedisBackendClientOptions,
  RedisBackendClusterOptions,
  RedisBackendCommonOptions,
  RedisBackendConnectOptions,
  RedisBackendOptions,
  RedisClient,
} from './options.js';
export { InstanceOwnedError } from './errors.js';
export { RECORD_MAX_BYTES } from './scripts.js';
export { DEFAULT_NAMESPACE, NAMESPACE_PATTERN } from './keys.js';
