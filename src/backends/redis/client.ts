/**
 * The ioredis connections of a backend: the main client (yours, or one rollcall builds from a URL,
 * ioredis options or Cluster nodes, with settings that make it fail fast), the watcher's subscriber
 * connection derived from it, and how either is described, traced and closed without ever showing
 * a credential.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { unrefTimeout } from '../../core/clock.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { RegistryTarget } from '../../observability/channels.js';
import { redactUrl } from './errors.js';
import type { RedisBackendConnectOptions, RedisBackendOptions, RedisClient } from './options.js';

/**
 * ioredis waits `disconnectTimeout` (2 s) for a socket to close after `disconnect()` on a timer
 * that is not unref'd, and when the socket had already closed (closed during an outage) nothing
 * clears it: a closed backend would hold the process for 2 s. A short grace is plenty on close.
 */
const CLOSE_PROMPTLY = { disconnectTimeout: 250 } as const satisfies RedisOptions;

const CLIENT_DEFAULTS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 5_000,
  retryStrategy: (times) => Math.min(times * 50, 1_000),
  // After a failover the old master answers READONLY until it is reconnected to the new one.
  reconnectOnError: (error) => error.message.startsWith('READONLY'),
  ...CLOSE_PROMPTLY,
};

/** The client to use, and whether rollcall owns it (closes it with the backend). */
export function createClient(options: RedisBackendOptions): { client: RedisClient; owns: boolean } {
  if (options.client !== undefined) {
    if (options.url !== undefined || options.redis !== undefined || options.cluster !== undefined) {
      throw new InvalidArgumentError('options', 'either client, or url / redis, or cluster', 'several of them');
    }
    const client: unknown = options.client;
    if (typeof client !== 'object' || client === null || typeof (client as Partial<Redis>).evalsha !== 'function') {
      throw new InvalidArgumentError('client', 'an ioredis Redis or Cluster client', client);
    }
    return { client: options.client, owns: options.closeClient ?? false };
  }
  if (options.cluster !== undefined) {
    if (options.url !== undefined || options.redis !== undefined) {
      throw new InvalidArgumentError('options', 'either client, or url / redis, or cluster', 'several of them');
    }
    const { nodes, options: clusterOptions = {} } = options.cluster;
    if (!Array.isArray(nodes) || nodes.length === 0) throw new InvalidArgumentError('cluster.nodes', 'at least one startup node', nodes);
    const cluster = new Cluster(nodes, {
      clusterRetryStrategy: (times) => Math.min(100 + times * 50, 1_000),
      ...clusterOptions,
      redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 5_000, ...CLOSE_PROMPTLY, ...clusterOptions.redisOptions },
    });
    return { client: cluster, owns: true };
  }
  const redisOptions: RedisOptions = { ...CLIENT_DEFAULTS, ...(options.redis?.sentinels === undefined ? {} : { failoverDetector: true }), ...options.redis };
  const { url, field } = urlOf(options);
  if (url === undefined) return { client: new Redis(redisOptions), owns: true };
  try {
    return { client: new Redis(url, redisOptions), owns: true };
  } catch (error) {
    // ioredis's TypeError carries the URL, password included, as `input`: it must not leave.
    throw new InvalidArgumentError(field, 'a redis:// or rediss:// URL', redactUrl(url), `${error instanceof Error ? error.message : 'unreadable'}; credentials shown as ***`);
  }
}

/** The URL to connect to, and the option (or variable) it came from. */
function urlOf(options: RedisBackendConnectOptions): { url: string | undefined; field: string } {
  if (options.url !== undefined) {
    if (typeof options.url !== 'string') throw new InvalidArgumentError('url', 'a redis:// or rediss:// URL', options.url);
    return { url: options.url, field: 'url' };
  }
  const { redis } = options;
  if (redis?.host !== undefined || redis?.port !== undefined || redis?.path !== undefined || redis?.sentinels !== undefined) {
    return { url: undefined, field: 'url' };
  }
  const env = options.env ?? process.env;
  if (typeof env !== 'object' || env === null) throw new InvalidArgumentError('env', 'an object of environment variables', env);
  const fromEnv = env['REDIS_URL'];
  if (fromEnv === undefined || fromEnv.trim() === '') return { url: undefined, field: 'url' };
  return { url: fromEnv.trim(), field: 'REDIS_URL' };
}

/** `<status> <where>`, with credentials as `***`. */
export function describeClient(client: RedisClient): string {
  if (client.isCluster) return `Cluster (${client.status}) of ${(client as Cluster).nodes('master').length} known masters`;
  const { host, port, path, db, tls, username, password, sentinels, name } = (client as Redis).options;
  const credentials = username !== undefined || password !== undefined ? '***@' : '';
  if (sentinels !== undefined && sentinels !== null) return `Redis (${client.status}) master ${JSON.stringify(name)} of ${sentinels.length} sentinels${credentials === '' ? '' : ', credentials ***'}`;
  const where = path !== undefined && path !== null ? path : `${host ?? ''}:${port ?? ''}/${db ?? 0}`;
  return `Redis (${client.status}) ${tls === undefined ? 'redis' : 'rediss'}://${credentials}${where}`;
}

/** Where calls go, for tracing: a standalone server's address; a Cluster's or Sentinel's master is not fixed. */
export function targetOf(client: RedisClient): RegistryTarget {
  if (client.isCluster) return { backend: 'redis', address: undefined, port: undefined };
  const { host, port, path, sentinels } = (client as Redis).options;
  if (sentinels !== undefined && sentinels !== null) return { backend: 'redis', address: undefined, port: undefined };
  if (path !== undefined && path !== null) return { backend: 'redis', address: path, port: undefined };
  return { backend: 'redis', address: host ?? 'localhost', port: port ?? 6379 };
}

/** The credentials in the client's options, for redaction. */
export function secretsOf(client: RedisClient): (string | undefined)[] {
  if (client.isCluster) {
    const redisOptions = (client as Cluster).options.redisOptions;
    return [redisOptions?.password, redisOptions?.sentinelPassword];
  }
  const { password, sentinelPassword } = (client as Redis).options;
  return [password, sentinelPassword];
}

/**
 * A new connection for the watcher's pub/sub: it queues commands until connected and never
 * reconnects by itself (the watcher replaces a lost one, then reads everything again).
 */
export function subscriberConnection(client: RedisClient): Redis {
  const overrides: RedisOptions = {
    lazyConnect: false,
    enableOfflineQueue: true,
    autoResubscribe: false,
    maxRetriesPerRequest: null,
    retryStrategy: () => null,
    reconnectOnError: null,
    ...CLOSE_PROMPTLY,
  };
  if (!client.isCluster) return (client as Redis).duplicate({ ...overrides, failoverDetector: false });
  // Classic pub/sub reaches every node of a Cluster, so any master serves as the subscriber.
  const nodes = (client as Cluster).nodes('master');
  const node = nodes[Math.floor(Math.random() * nodes.length)];
  if (node === undefined) throw new Error('no Cluster node known yet');
  const { host, port, username, password, tls, connectTimeout } = node.options;
  return new Redis({ ...definedOnly({ host, port, username, password, tls, connectTimeout }), ...overrides });
}

/** Closes a connection and waits (briefly) until its socket is gone. */
export async function disconnect(client: { status: string; disconnect(): void; once(event: 'end', listener: () => void): unknown }): Promise<void> {
  // Between reconnection attempts there is no socket, and ioredis emits no 'end' for it.
  const hasSocket = client.status === 'connecting' || client.status === 'connect' || client.status === 'ready';
  const ended = new Promise<void>((resolve) => {
    client.once('end', resolve);
    unrefTimeout(resolve, 1_000);
  });
  client.disconnect();
  if (hasSocket) await ended;
}

/** `value` without its undefined properties, as exactOptionalPropertyTypes wants for ioredis options. */
function definedOnly<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
