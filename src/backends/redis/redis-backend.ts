/**
 * A {@link RegistryBackend} on Redis 7.0+ through ioredis: standalone, Sentinel or Cluster.
 *
 * Every operation is one Lua script (one round trip; Cluster adds a second command for the
 * services index, which lives in another slot). Lease deadlines are computed from the server's
 * clock inside the scripts, so expiry never depends on a client's clock. Calls fail fast while the
 * connection is down instead of queueing, so callers fall back at once. See docs/backends/redis.md.
 */
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ClosedError, InvalidArgumentError, MalformedRecordError, RegistryUnavailableError } from '../../core/errors.js';
import {
  SERVICE_NAME_PATTERN,
  assertInstanceRef,
  assertServiceName,
  assertTtl,
  createInstance,
  assertInstanceStatus,
  type InstanceRef,
  type InstanceStatus,
  type ServiceInstance,
} from '../../core/instance.js';
import { unrefTimeout } from '../../core/clock.js';
import { durationOption, integerOption } from '../../core/options.js';
import { loggerOption, type Logger, type LoggerLike } from '../../core/logger.js';
import { MalformedRecords } from '../malformed-records.js';
import type { Lease, RegistryBackend, RenewResult, Unsubscribe, WatchHandlers } from '../backend.js';
import { WatchHub } from '../watch-hub.js';
import { Redactor, connectionError, translateError } from './errors.js';
import { DEFAULT_NAMESPACE, assertNamespace, serviceKeys, servicesIndexKey, type ServiceKeys } from './keys.js';
import { RecordCache, parseChange, parseListing, type Change, type Listing, type MalformedHandler } from './records.js';
import { DEREGISTER, INDEX_AFTER_DEREGISTER, LIST, REGISTER, RENEW, SERVICES, runScript } from './scripts.js';
import { RedisWatcher, disconnect } from './watcher.js';

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
  redis?: never;
  cluster?: never;
}

/** Let rollcall build (and close) a standalone or Sentinel client. */
export interface RedisBackendConnectOptions extends RedisBackendCommonOptions {
  /**
   * `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. Options in `redis` override
   * what the URL says. @default ioredis's default, `redis://127.0.0.1:6379`
   */
  url?: string | undefined;
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
  redis?: never;
}

/** Options of {@link RedisBackend}: one of a client, a URL / options, or a Cluster. */
export type RedisBackendOptions = RedisBackendClientOptions | RedisBackendConnectOptions | RedisBackendClusterOptions;

/** Counters of a {@link RedisBackend}, plain integers. */
export interface RedisBackendStats {
  /** Records skipped because they were not valid instances (each skip counts, on every read). */
  readonly malformedRecords: number;
  /** Services with an underlying watch. */
  readonly activeWatches: number;
  /**
   * Listings run for watchers: at a deadline, after a reconnection, or after a change whose
   * message could not carry the listing (a large service).
   */
  readonly watchRefreshes: number;
  /** Listings applied straight from change messages, without reading the service. */
  readonly watchPushes: number;
}

/** Services whose keys are remembered; the memory starts over beyond it. */
const CACHED_SERVICES = 1_000;

/** A call in flight. */
interface PendingCall {
  readonly operation: string;
  /** `performance.now()` past which the call fails. */
  readonly deadline: number;
  /** Still waiting for a first connection. */
  connecting: boolean;
  readonly reject: (error: Error) => void;
}

/** What the scripts of one service need, built once. */
interface ServiceContext {
  readonly keys: ServiceKeys;
  /** KEYS of the change scripts: deadlines, records, and outside Cluster the services index. */
  readonly changeKeys: readonly string[];
  /** KEYS of the listing script. */
  readonly listKeys: readonly string[];
}

const CLIENT_DEFAULTS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 5_000,
  retryStrategy: (times) => Math.min(times * 50, 1_000),
  // After a failover the old master answers READONLY until it is reconnected to the new one.
  reconnectOnError: (error) => error.message.startsWith('READONLY'),
};

/** The Redis registry backend. */
export class RedisBackend implements RegistryBackend {
  readonly kind = 'redis';
  readonly namespace: string;
  /** The ioredis client in use (yours, or the one rollcall built). */
  readonly client: RedisClient;
  readonly #isCluster: boolean;
  readonly #ownsClient: boolean;
  readonly #indexKey: string;
  readonly #pruneLimit: number;
  readonly #operationTimeoutMs: number;
  readonly #log: Logger;
  readonly #redactor: Redactor;
  readonly #hub: WatchHub;
  readonly #watcher: RedisWatcher;
  /** Calls in flight, in the order they started: with one timeout for all, that of their deadlines. */
  readonly #pending = new Set<PendingCall>();
  /** One timer for every call in flight, at the earliest deadline (or an earlier one, then re-armed). */
  #sweeper: NodeJS.Timeout | undefined;
  #drained: (() => void) | undefined;
  readonly #services = new Map<string, ServiceContext>();
  readonly #records = new RecordCache();
  readonly #malformedRecords: MalformedRecords;
  readonly #onMalformed: MalformedHandler = (error, key, id) => this.#malformed(error, key, id);
  readonly #listeners: [string, (...args: unknown[]) => void][] = [];
  #everReady: boolean;
  #connected: boolean;
  #lastError: unknown;
  #closed = false;
  #closing: Promise<void> | undefined;
  #connecting: Promise<void> | undefined;
  #stopWaiting: (() => void) | undefined;

  constructor(options: RedisBackendOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'a RedisBackend options object', options);
    this.namespace = options.namespace ?? DEFAULT_NAMESPACE;
    assertNamespace(this.namespace);
    this.#operationTimeoutMs = durationOption(options.operationTimeoutMs, 1_500, 'operationTimeoutMs', 100, 60_000);
    this.#pruneLimit = integerOption(options.pruneLimit, 100, 'pruneLimit', 1, 1_000);
    this.#log = loggerOption(options.logger, 'logger', { component: 'redis-backend', namespace: this.namespace });
    this.#malformedRecords = new MalformedRecords(this.#log);
    const { client, owns } = createClient(options);
    this.client = client;
    this.#ownsClient = owns;
    this.#isCluster = client.isCluster;
    this.#redactor = new Redactor(secretsOf(client));
    this.#indexKey = servicesIndexKey(this.namespace);
    this.#everReady = client.status === 'ready';
    this.#connected = this.#everReady;
    this.#listen('ready', () => this.#onReady());
    this.#listen('error', (error: unknown) => {
      this.#lastError = error;
    });
    this.#listen('close', () => this.#onDown());
    this.#watcher = new RedisWatcher({
      list: (service) => this.#call('watch', () => this.#list(service)),
      change: (service, message) => this.#change(service, message),
      channel: (service) => this.#service(service).keys.channel,
      connect: () => this.#subscriberConnection(),
      connectionError: (error) => connectionError('watch', 'the watch connection to Redis was lost', error, this.#redactor),
      onTransition: (up, error) => {
        if (up) this.#log.info({}, 'watch connection to Redis is back; watched services were read again');
        else this.#log.warn({ error: this.#redactor.message(error) }, 'watch connection to Redis lost; reconnecting');
      },
    });
    this.#hub = new WatchHub(this.#watcher.source, (error) => this.#log.error({ error: this.#redactor.message(error) }, 'watch subscriber threw'));
  }

  async register(instance: ServiceInstance, lease: Lease): Promise<void> {
    this.#assertOpen();
    const valid = createInstance(instance, Date.now());
    assertTtl(lease?.ttlMs, 'lease.ttlMs');
    const { keys, changeKeys } = this.#service(valid.service);
    const record = `${lease.ttlMs} ${valid.status} ${valid.updatedAt} ${JSON.stringify(valid)}`;
    await this.#call('register', async () => {
      const deadline = await runScript(this.client, REGISTER, changeKeys, [valid.id, lease.ttlMs, record, keys.channel, valid.service, this.#pruneLimit]);
      if (this.#isCluster) await this.#raiseIndex(valid.service, integer(deadline));
    });
  }

  async renew(ref: InstanceRef, status: InstanceStatus): Promise<RenewResult> {
    this.#assertOpen();
    assertInstanceRef(ref);
    assertInstanceStatus(status);
    const { keys, changeKeys } = this.#service(ref.service);
    return this.#call('renew', async () => {
      const reply = await runScript(this.client, RENEW, changeKeys, [ref.id, status, keys.channel, ref.service, this.#pruneLimit]);
      const [renewed, deadline] = integers(reply, 2);
      if (renewed !== 1) return 'lost';
      if (this.#isCluster) await this.#raiseIndex(ref.service, deadline);
      return 'renewed';
    });
  }

  async deregister(ref: InstanceRef): Promise<void> {
    this.#assertOpen();
    assertInstanceRef(ref);
    const { keys, changeKeys } = this.#service(ref.service);
    await this.#call('deregister', async () => {
      const reply = await runScript(this.client, DEREGISTER, changeKeys, [ref.id, keys.channel, ref.service, this.#pruneLimit]);
      const [removed, removedDeadline, remaining] = integers(reply, 3);
      if (this.#isCluster && removed > 0 && removedDeadline > 0) {
        await runScript(this.client, INDEX_AFTER_DEREGISTER, [this.#indexKey], [ref.service, removedDeadline, remaining]);
      }
    });
  }

  async instances(service: string): Promise<ServiceInstance[]> {
    this.#assertOpen();
    assertServiceName(service);
    const listing = await this.#call('instances', () => this.#list(service));
    return listing.instances;
  }

  async services(): Promise<string[]> {
    this.#assertOpen();
    return this.#call('services', async () => {
      const reply = await runScript(this.client, SERVICES, [this.#indexKey], [this.#pruneLimit]);
      if (!Array.isArray(reply)) throw new Error('unexpected reply from the services script');
      const names: string[] = [];
      for (const name of reply as unknown[]) {
        if (typeof name === 'string' && SERVICE_NAME_PATTERN.test(name)) names.push(name);
        else this.#malformed(new MalformedRecordError(`${this.#indexKey} member`, 'not a valid service name'), this.#indexKey, String(name));
      }
      return names.sort();
    });
  }

  /**
   * Pushes the service's instance list through `handlers`: the current list first, then after
   * every registration, deregistration, status change and expiry. One pub/sub connection serves
   * every watched service of this backend.
   */
  watch(service: string, handlers: WatchHandlers): Unsubscribe {
    this.#assertOpen();
    assertServiceName(service);
    return this.#hub.subscribe(service, handlers);
  }

  /** Number of services this backend is watching. */
  get activeWatches(): number {
    return this.#hub.activeWatches;
  }

  stats(): RedisBackendStats {
    return {
      malformedRecords: this.#malformedRecords.count,
      activeWatches: this.#hub.activeWatches,
      watchRefreshes: this.#watcher.refreshes,
      watchPushes: this.#watcher.pushes,
    };
  }

  /**
   * Stops every watch, waits for calls in flight, closes the watch connection, and disconnects
   * the client if rollcall built it (or `closeClient: true`). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    this.#hub.close();
    await this.#watcher.close();
    // Every call settles by its deadline at the latest.
    if (this.#pending.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    clearTimeout(this.#sweeper);
    // A client that never connected must not keep our listeners.
    this.#stopWaiting?.();
    for (const [event, listener] of this.#listeners) this.client.off(event, listener);
    if (this.#ownsClient) await disconnect(this.client);
  }

  // Cluster only: GT keeps the latest deadline when several instances write at once.
  async #raiseIndex(service: string, deadline: number): Promise<void> {
    await this.client.call('ZADD', this.#indexKey, 'GT', deadline, service);
  }

  // Keys are built once per service: every call of a heartbeat or a resolve needs the same ones.
  #service(service: string): ServiceContext {
    let context = this.#services.get(service);
    if (context === undefined) {
      const keys = serviceKeys(this.namespace, service);
      const listKeys = [keys.deadlines, keys.records];
      // Outside Cluster the index moves in the same script; in Cluster it lives in another slot.
      context = { keys, listKeys, changeKeys: this.#isCluster ? listKeys : [...listKeys, this.#indexKey] };
      if (this.#services.size >= CACHED_SERVICES) this.#services.clear();
      this.#services.set(service, context);
    }
    return context;
  }

  async #list(service: string): Promise<Listing> {
    const { keys, listKeys } = this.#service(service);
    const reply = await runScript(this.client, LIST, listKeys, [keys.channel, this.#pruneLimit]);
    return parseListing(reply, service, keys, this.#onMalformed, this.#records);
  }

  #change(service: string, message: string): Change | undefined {
    const { keys } = this.#service(service);
    try {
      return parseChange(message, service, keys, this.#onMalformed, this.#records);
    } catch (error) {
      if (!(error instanceof MalformedRecordError)) throw error;
      this.#malformed(error, keys.channel, '');
      return undefined;
    }
  }

  // Bounded by operationTimeoutMs; fails at once while a connection that was up is down; every
  // error leaves as a rollcall error with credentials scrubbed. A timer per call (let alone a
  // cockatiel timeout, whose AbortController and abort cost more than the call) would be a good
  // part of a heartbeat's time; one sweeper serves all.
  #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const connecting = this.client.status !== 'ready';
      const pending: PendingCall = { operation, deadline: performance.now() + this.#operationTimeoutMs, connecting, reject };
      this.#pending.add(pending);
      this.#sweeper ??= unrefTimeout(() => this.#sweep(), this.#operationTimeoutMs);
      const work = connecting
        ? this.#whenReady(operation).then(() => {
            pending.connecting = false;
            // The caller has already heard of the timeout: the operation must not run after all.
            if (!this.#pending.has(pending)) throw new Error('timed out');
            return run();
          })
        : run();
      work.then(
        (value) => {
          if (this.#settle(pending)) resolve(value);
        },
        (error: unknown) => {
          if (this.#settle(pending)) reject(translateError(operation, error, this.#redactor));
        },
      );
    });
  }

  /** Whether `pending` was still waiting (it had not timed out). */
  #settle(pending: PendingCall): boolean {
    if (!this.#pending.delete(pending)) return false;
    if (this.#pending.size === 0) this.#drained?.();
    return true;
  }

  #sweep(): void {
    this.#sweeper = undefined;
    const now = performance.now();
    for (const pending of this.#pending) {
      if (pending.deadline > now) {
        this.#sweeper = unrefTimeout(() => this.#sweep(), pending.deadline - now);
        return;
      }
      this.#settle(pending);
      const limit = `${this.#operationTimeoutMs} ms`;
      pending.reject(
        pending.connecting
          ? connectionError(pending.operation, `could not connect to Redis within ${limit}`, this.#lastError, this.#redactor)
          : new RegistryUnavailableError(this.kind, pending.operation, `no answer from Redis within operationTimeoutMs (${limit})`),
      );
    }
  }

  async #whenReady(operation: string): Promise<void> {
    const status = this.client.status;
    if (status === 'ready') return;
    if (status === 'end' || status === 'disconnecting') {
      throw connectionError(operation, 'the Redis client is closed', undefined, this.#redactor);
    }
    // Once up, a connection that is down fails calls at once: no offline queue, callers fall back.
    if (this.#everReady || status === 'reconnecting' || status === 'close') {
      throw connectionError(operation, `not connected to Redis (${status})`, this.#lastError, this.#redactor);
    }
    if (status === 'wait') this.client.connect().catch(() => {});
    try {
      await this.#firstConnection();
    } catch (error) {
      throw connectionError(operation, 'could not connect to Redis', this.#lastError ?? error, this.#redactor);
    }
  }

  // Shared by every call made before the first connection is up, so concurrent callers add one
  // listener pair to the client rather than one each.
  #firstConnection(): Promise<void> {
    this.#connecting ??= new Promise<void>((resolve, reject) => {
      const settle = (error?: Error): void => {
        this.client.off('ready', onReady);
        this.client.off('close', onClose);
        this.#connecting = undefined;
        this.#stopWaiting = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
      const onReady = (): void => settle();
      const onClose = (): void => settle(new Error('the connection closed'));
      this.client.on('ready', onReady);
      this.client.on('close', onClose);
      this.#stopWaiting = () => settle(new ClosedError('RedisBackend'));
    });
    return this.#connecting;
  }

  #onReady(): void {
    const recovered = this.#everReady && !this.#connected;
    this.#everReady = true;
    this.#connected = true;
    this.#lastError = undefined;
    if (!recovered) return;
    this.#log.info({}, 'connection to Redis is back');
    this.#watcher.refreshFailing();
  }

  #onDown(): void {
    if (!this.#connected || this.#closed) return;
    this.#connected = false;
    const error = this.#lastError === undefined ? undefined : this.#redactor.message(this.#lastError);
    this.#log.warn({ error }, 'connection to Redis lost; calls fail fast until it is back');
  }

  #subscriberConnection(): Redis {
    const overrides: RedisOptions = {
      lazyConnect: false,
      enableOfflineQueue: true,
      autoResubscribe: false,
      maxRetriesPerRequest: null,
      // The watcher replaces a lost subscriber itself, then reads everything again.
      retryStrategy: () => null,
      reconnectOnError: null,
    };
    if (!this.#isCluster) return (this.client as Redis).duplicate({ ...overrides, failoverDetector: false });
    // Classic pub/sub reaches every node of a Cluster, so any master serves as the subscriber.
    const cluster = this.client as Cluster;
    const nodes = cluster.nodes('master');
    const node = nodes[Math.floor(Math.random() * nodes.length)];
    if (node === undefined) throw new Error('no Cluster node known yet');
    const { host, port, username, password, tls, connectTimeout } = node.options;
    return new Redis({ ...definedOnly({ host, port, username, password, tls, connectTimeout }), ...overrides });
  }

  #listen(event: string, listener: (...args: unknown[]) => void): void {
    this.client.on(event, listener);
    this.#listeners.push([event, listener]);
  }

  #malformed(error: MalformedRecordError, key: string, id: string): void {
    this.#malformedRecords.report(`${key}\u0000${id}`, { key, id, problem: error.message }, 'skipping a malformed registry record');
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('RedisBackend');
  }
}

function createClient(options: RedisBackendOptions): { client: RedisClient; owns: boolean } {
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
      redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 5_000, ...clusterOptions.redisOptions },
    });
    return { client: cluster, owns: true };
  }
  const redisOptions: RedisOptions = { ...CLIENT_DEFAULTS, ...(options.redis?.sentinels === undefined ? {} : { failoverDetector: true }), ...options.redis };
  if (options.url !== undefined && typeof options.url !== 'string') throw new InvalidArgumentError('url', 'a redis:// or rediss:// URL', options.url);
  const client = options.url === undefined ? new Redis(redisOptions) : new Redis(options.url, redisOptions);
  return { client, owns: true };
}

function secretsOf(client: RedisClient): (string | undefined)[] {
  if (client.isCluster) {
    const redisOptions = (client as Cluster).options.redisOptions;
    return [redisOptions?.password, redisOptions?.sentinelPassword];
  }
  const { password, sentinelPassword } = (client as Redis).options;
  return [password, sentinelPassword];
}

function integer(value: unknown): number {
  // A client with stringNumbers: true answers integers as strings.
  const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) throw new Error('unexpected reply from a registry script');
  return number;
}

function integers<N extends 2 | 3>(value: unknown, count: N): N extends 2 ? [number, number] : [number, number, number] {
  if (!Array.isArray(value) || value.length !== count) throw new Error('unexpected reply from a registry script');
  return (value as unknown[]).map(integer) as N extends 2 ? [number, number] : [number, number, number];
}

/** `value` without its undefined properties, as exactOptionalPropertyTypes wants for ioredis options. */
function definedOnly<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
