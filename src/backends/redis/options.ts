/**
 * Options of the Redis backend and their validation: one of a client you own, a URL / ioredis
 * options, or a Cluster, plus the settings every way of connecting shares. Checked here, once,
 * before any connection is made.
 */
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { InvalidArgumentError } from '../../core/errors.js';
import { loggerOption, type Logger, type LoggerLike } from '../../core/logger.js';
import { durationOption, integerOption } from '../../core/options.js';
import { DEFAULT_NAMESPACE, assertNamespace } from './keys.js';

/** An ioredis client: `new Redis(...)` (standalone or Sentinel) or `new Cluster(...)`. */
export type RedisClient = Redis | Cluster;

/** Options shared by every way of connecting. */
export interface RedisBackendCommonOptions {
  /**
   * Prefix of every key and channel; backends with the same namespace on the same Redis see each
   * other's instances, other namespaces are invisible. 1-64 characters from `A-Z a-z 0-9 . _ -`.
   * @default 'rollcall'
   */
  namespace?: string | undefined;
  /**
   * Upper bound of every call, including the wait for the first connection. While a connection
   * that was up is down, calls fail at once instead. 100 to 60000.
   * @default 1500
   */
  operationTimeoutMs?: number | undefined;
  /**
   * Most expired instances (or services, in `services()`) one call removes from Redis. Expired
   * entries beyond it are still never returned; later calls remove them. 1 to 1000.
   * @default 100
   */
  pruneLimit?: number | undefined;
  /**
   * Receives one line per connection transition (lost, back), one warning per malformed record,
   * and errors thrown by watch subscribers. Credentials never reach it. @default silent
   */
  logger?: LoggerLike | undefined;
}

/** Use a client you created and own. */
export interface RedisBackendClientOptions extends RedisBackendCommonOptions {
  /**
   * Your ioredis client. rollcall does not change its options; see docs/backends/redis.md for the
   * settings that make it fail fast (`maxRetriesPerRequest: 1`, a `retryStrategy` capped near
   * 1 s; for Sentinel `failoverDetector: true`). The watch connection is a duplicate of it.
   */
  client: RedisClient;
  /** Let `close()` disconnect `client` too. @default false: the client is yours */
  closeClient?: boolean | undefined;
  url?: never;
  env?: never;
  redis?: never;
  cluster?: never;
}

/** Let rollcall build (and close) a standalone or Sentinel client. */
export interface RedisBackendConnectOptions extends RedisBackendCommonOptions {
  /**
   * `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. What the URL says wins over
   * the same settings in `redis` (ioredis's rule). @default the `REDIS_URL` environment variable
   * (see `env`) when `redis` names no `host`, `port`, `path` or `sentinels`; else ioredis's
   * default, `redis://127.0.0.1:6379`
   */
  url?: string | undefined;
  /** Where `REDIS_URL` is read (an empty value counts as unset). @default process.env */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * ioredis options, passed through: `username`, `password`, `tls`, `db`, and for Sentinel
   * `sentinels`, `name`, `sentinelPassword`, `enableTLSForSentinelMode`... Over ioredis's own
   * defaults rollcall sets, unless given here: `enableOfflineQueue: false`,
   * `maxRetriesPerRequest: 1`, `connectTimeout: 5000`, `retryStrategy` reconnecting after
   * min(50 ms × attempt, 1000 ms), `reconnectOnError` on `READONLY`, and with `sentinels`
   * `failoverDetector: true`.
   */
  redis?: RedisOptions | undefined;
  client?: never;
  closeClient?: never;
  cluster?: never;
}

/** Let rollcall build (and close) a Cluster client. */
export interface RedisBackendClusterOptions extends RedisBackendCommonOptions {
  /**
   * Startup nodes and ioredis Cluster options, passed through (`redisOptions` carries `username`,
   * `password`, `tls`). rollcall's defaults, unless given: `clusterRetryStrategy` capped at 1000 ms,
   * and in `redisOptions` `maxRetriesPerRequest: 1` and `connectTimeout: 5000`.
   */
  cluster: { nodes: ClusterNode[]; options?: ClusterOptions | undefined };
  client?: never;
  closeClient?: never;
  url?: never;
  env?: never;
  redis?: never;
}

/** Options of {@link RedisBackend}: one of a client, a URL / options, or a Cluster. */
export type RedisBackendOptions = RedisBackendClientOptions | RedisBackendConnectOptions | RedisBackendClusterOptions;

/** The options every way of connecting shares, validated and with their defaults. */
export interface RedisSettings {
  readonly namespace: string;
  readonly operationTimeoutMs: number;
  readonly pruneLimit: number;
  readonly log: Logger;
}

/** Validates the shared options (the connection options are checked when the client is built). */
export function resolveSettings(options: RedisBackendOptions): RedisSettings {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'a RedisBackend options object', options);
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  assertNamespace(namespace);
  return {
    namespace,
    operationTimeoutMs: durationOption(options.operationTimeoutMs, 1_500, 'operationTimeoutMs', 100, 60_000),
    pruneLimit: integerOption(options.pruneLimit, 100, 'pruneLimit', 1, 1_000),
    log: loggerOption(options.logger, 'logger', { component: 'redis-backend', namespace }),
  };
}
