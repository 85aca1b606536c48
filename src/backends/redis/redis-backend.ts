/**
 * A {@link RegistryBackend} on Redis 7.0+ through ioredis: standalone, Sentinel or Cluster.
 *
 * Every operation is one Lua script (one round trip; Cluster adds a second script for the
 * namespace's indexes, which live in another slot). Lease deadlines are computed from the server's
 * clock inside the scripts, so expiry never depends on a client's clock. Calls fail fast while the
 * connection is down instead of queueing, so callers fall back at once. Each instance belongs to
 * the backend object that registered it, change messages only make watchers read (only what
 * changed), one backend per namespace sweeps expired instances, and losses of data (restart,
 * flush, failover) are detected and reported through `onReset`. See docs/backends/redis.md.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ClosedError, InvalidArgumentError, MalformedRecordError, RegistryUnavailableError } from '../../core/errors.js';
import {
  assertInstanceRef,
  assertServiceName,
  assertTtl,
  createInstance,
  assertInstanceStatus,
  SERVICE_NAME_PATTERN,
  type InstanceRef,
  type InstanceStatus,
  type ServiceInstance,
} from '../../core/instance.js';
import { unrefTimeout } from '../../core/clock.js';
import { durationOption, integerOption } from '../../core/options.js';
import { loggerOption, type Logger, type LoggerLike } from '../../core/logger.js';
import { MalformedRecords } from '../malformed-records.js';
import type { RegistryTarget } from '../../observability/channels.js';
import { observeRegistryCall } from '../../observability/registry-call.js';
import type { Lease, RegistryBackend, RegistryReset, RenewResult, Unsubscribe, WatchHandlers } from '../backend.js';
import { WatchHub } from '../watch-hub.js';
import { InstanceOwnedError, Redactor, connectionError, redactUrl, translateError } from './errors.js';
import { DEFAULT_NAMESPACE, assertNamespace, namespaceKeys, serviceKeys, servicesIndexKey, type NamespaceKeys, type ServiceKeys } from './keys.js';
import { RecordCache, parseChange, parseListing, parseServices, type KnownVersion, type Listing, type MalformedHandler } from './records.js';
import { ResetDetector } from './resets.js';
import {
  DEREGISTER,
  NAMESPACE_AFTER_WRITE,
  PLANTED_DEADLINES,
  PLANTED_EXPIRIES,
  PLANTED_EXPIRY_INDEX,
  PLANTED_INDEX,
  PLANTED_LOG,
  PLANTED_RECORDS,
  PLANTED_SWEEPER,
  PLANTED_SWEEPERS,
  READ,
  RECORD_MAX_BYTES,
  REGISTER,
  RENEW,
  SERVICES,
  SWEEP_CHECK,
  SWEEP_RELEASE,
  SWEEP_SERVICE,
  runScript,
} from './scripts.js';
import { DUE_LIMIT, SWEEP_LEASE_MS, Sweeper, type SweepCheck } from './sweeper.js';
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

/** Counters of a {@link RedisBackend}, plain integers. */
export interface RedisBackendStats {
  /**
   * Registry data skipped because it was not valid (each skip counts, on every read): records,
   * names in the services index, change messages, and keys holding another Redis type.
   */
  readonly malformedRecords: number;
  /** Services with an underlying watch. */
  readonly activeWatches: number;
  /** Reads run for watchers: after a change message, after a reconnection, after a failed read. */
  readonly watchRefreshes: number;
  /** Of `watchRefreshes`, reads that brought only the instances changed since the previous read. */
  readonly watchDeltas: number;
  /** Looks at the namespace's sweeper lease (see docs/backends/redis.md, Expiry). */
  readonly sweeperChecks: number;
  /** Services this backend swept for expired instances while it held the sweeper lease. */
  readonly expirySweeps: number;
  /** Losses of registry data detected (each reported through `onReset`). */
  readonly resetsDetected: number;
  /** Times the watch connection was lost and a new one read every watched service again. */
  readonly watchReconnects: number;
}

/** Services whose keys are remembered; the memory starts over beyond it. */
const CACHED_SERVICES = 1_000;
/** The server's run id in `INFO server`. */
const RUN_ID = /^run_id:([0-9a-f]+)\r?$/m;

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
  /** KEYS of every service script: deadlines, records, log, and outside Cluster the services and expiry indexes. */
  readonly scriptKeys: readonly string[];
}

/** What this backend object wrote for an instance it owns: a renewal proves it is still there. */
interface Owned {
  readonly ttlMs: number;
  readonly json: string;
  record: string;
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
  readonly #namespaceKeys: NamespaceKeys;
  /** Names this backend among the namespace's sweepers (not a secret: it only takes part in a lease). */
  readonly #sweeperToken = randomBytes(12).toString('base64url');
  readonly #expirySweeper: Sweeper;
  /** Records of the instances this object registered, by `<service> <id>`. */
  readonly #owned = new Map<string, Owned>();
  readonly #pruneLimit: number;
  readonly #operationTimeoutMs: number;
  readonly #log: Logger;
  readonly #redactor: Redactor;
  readonly #hub: WatchHub;
  readonly #watcher: RedisWatcher;
  /**
   * Proves ownership of the instances this object registers: the scripts store digests of it with
   * each instance and refuse writes to a live instance from anyone who cannot present it. Never
   * stored, logged or put in an error.
   */
  readonly #ownerSecret = randomBytes(32).toString('base64url');
  readonly #resets: ResetDetector;
  /** Run-id checks of (re)connections in flight: a listing waits for them before it is believed. */
  readonly #serverChecks = new Set<Promise<void>>();
  /** Cluster only: the `ready` listener on each node connection. */
  readonly #nodeListeners = new Map<Redis, () => void>();
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
  readonly #target: RegistryTarget;
  #watchReconnects = 0;
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
    this.#resets = new ResetDetector((error) => this.#log.error({ error: this.#redactor.message(error) }, 'an onReset listener threw'));
    const { client, owns } = createClient(options);
    this.client = client;
    this.#ownsClient = owns;
    this.#isCluster = client.isCluster;
    this.#target = targetOf(client);
    this.#redactor = new Redactor([...secretsOf(client), this.#ownerSecret]);
    this.#indexKey = servicesIndexKey(this.namespace);
    this.#namespaceKeys = namespaceKeys(this.namespace);
    this.#everReady = client.status === 'ready';
    this.#connected = this.#everReady;
    this.#listen('ready', () => this.#onReady());
    this.#listen('error', (error: unknown) => {
      this.#lastError = error;
    });
    this.#listen('close', () => this.#onDown());
    if (this.#isCluster) {
      for (const node of (client as Cluster).nodes('all')) this.#followNode(node);
      this.#listen('+node', (node) => this.#followNode(node as Redis));
      this.#listen('-node', (node) => this.#unfollowNode(node as Redis));
    } else if (this.#everReady) {
      this.#checkServer(client as Redis, 'server', 'the Redis server');
    }
    this.#expirySweeper = new Sweeper({
      check: () => this.#call('sweep', () => this.#sweepCheck()),
      sweep: (service, deadline) => this.#call('sweep', () => this.#sweepService(service, deadline)),
      release: () => this.#call('sweep', () => this.#sweepRelease()).catch(() => {}),
      onError: (error) => this.#log.debug({ error: this.#redactor.message(error) }, 'expiry sweeper: a look at the lease failed; trying again'),
    });
    this.#watcher = new RedisWatcher({
      list: (service, known) => this.#call('watch', () => this.#list(service, known), service),
      change: (service, message) => this.#change(service, message),
      channel: (service) => this.#service(service).keys.channel,
      namespaceChannel: this.#namespaceKeys.channel,
      onNamespaceMessage: () => this.#expirySweeper.nudge(),
      onActive: (active) => {
        if (active) this.#expirySweeper.start();
        else void this.#expirySweeper.stop();
      },
      connect: () => this.#subscriberConnection(),
      connectionError: (error) => connectionError('watch', 'the watch connection to Redis was lost', error, this.#redactor),
      onTransition: (up, error) => {
        if (up) {
          this.#watchReconnects++;
          this.#log.info({}, 'watch connection to Redis is back; watched services were read again');
        } else this.#log.warn({ error: this.#redactor.message(error) }, 'watch connection to Redis lost; reconnecting');
      },
    });
    this.#hub = new WatchHub(this.#watcher.source, (error) => this.#log.error({ error: this.#redactor.message(error) }, 'watch subscriber threw'));
  }

  /**
   * Writes the instance with a lease. The instance then belongs to this backend object: while its
   * lease is live, a register, renew or deregister of the same id through any other backend object
   * is refused ({@link InstanceOwnedError}, code `REGISTRY_AUTH`) or answers `lost`. Its stored
   * record may not exceed {@link RECORD_MAX_BYTES} (`INVALID_ARGUMENT`).
   */
  async register(instance: ServiceInstance, lease: Lease): Promise<void> {
    this.#assertOpen();
    const valid = createInstance(instance, Date.now());
    assertTtl(lease?.ttlMs, 'lease.ttlMs');
    const { keys, scriptKeys } = this.#service(valid.service);
    const json = JSON.stringify(valid);
    const record = `${lease.ttlMs} ${valid.status} ${valid.updatedAt} ${json}`;
    const bytes = Buffer.byteLength(record);
    if (bytes > RECORD_MAX_BYTES) {
      throw new InvalidArgumentError('instance', `an instance whose stored record is at most ${RECORD_MAX_BYTES} bytes`, `a record of ${bytes} bytes`);
    }
    await this.#call('register', async () => {
      const reply = await runScript(this.client, REGISTER, scriptKeys, [
        valid.id,
        lease.ttlMs,
        record,
        keys.channel,
        valid.service,
        this.#pruneLimit,
        this.#namespaceKeys.channel,
        this.#ownerSecret,
      ]);
      const [written, deadlineOrLeft, replaced, earliest] = integers(reply, 4);
      this.#planted(replaced, keys, true);
      if (written !== 1) throw new InstanceOwnedError('register', valid.service, valid.id, deadlineOrLeft);
      this.#owned.set(ownedKey(valid.service, valid.id), { ttlMs: lease.ttlMs, json, record });
      if (this.#isCluster) await this.#afterWrite(valid.service, ['raise', deadlineOrLeft, 0], earliest > 0 ? [0, earliest] : undefined);
    }, valid.service);
  }

  /**
   * Extends the lease and records the status. `lost` when the instance is not a live instance of
   * this backend object as it wrote it: expired, flushed, never registered here, another owner's,
   * or changed by someone else (then the caller's re-registration restores it).
   */
  async renew(ref: InstanceRef, status: InstanceStatus): Promise<RenewResult> {
    this.#assertOpen();
    assertInstanceRef(ref);
    assertInstanceStatus(status);
    const { keys, scriptKeys } = this.#service(ref.service);
    const mine = this.#owned.get(ownedKey(ref.service, ref.id));
    return this.#call('renew', async () => {
      const reply = await runScript(this.client, RENEW, scriptKeys, [
        ref.id,
        status,
        keys.channel,
        ref.service,
        this.#pruneLimit,
        mine?.record ?? '',
        this.#namespaceKeys.channel,
        this.#ownerSecret,
      ]);
      const [renewed, deadline, planted, updatedAt, earliest, former] = integers(reply, 6);
      this.#planted(planted, keys, renewed === 1);
      if (renewed !== 1) return 'lost';
      if (mine !== undefined && updatedAt > 0) mine.record = `${mine.ttlMs} ${status} ${updatedAt} ${mine.json}`;
      if (this.#isCluster) await this.#afterWrite(ref.service, ['raise', deadline, 0], earliest > 0 || former > 0 ? [former, earliest] : undefined);
      return 'renewed';
    }, ref.service);
  }

  /**
   * Removes the instance. Idempotent: an unknown (or expired) instance is fine. Another owner's
   * live instance is refused with {@link InstanceOwnedError} (code `REGISTRY_AUTH`).
   */
  async deregister(ref: InstanceRef): Promise<void> {
    this.#assertOpen();
    assertInstanceRef(ref);
    const { keys, scriptKeys } = this.#service(ref.service);
    await this.#call('deregister', async () => {
      const reply = await runScript(this.client, DEREGISTER, scriptKeys, [ref.id, keys.channel, ref.service, this.#pruneLimit, this.#ownerSecret]);
      const [removed, removedDeadline, remaining, planted, before, after] = integers(reply, 6);
      this.#planted(planted, keys, false);
      if (removed < 0) throw new InstanceOwnedError('deregister', ref.service, ref.id, removedDeadline);
      this.#owned.delete(ownedKey(ref.service, ref.id));
      if (this.#isCluster && removed > 0) {
        await this.#afterWrite(ref.service, removedDeadline > 0 ? ['deregister', removedDeadline, remaining] : ['none', 0, 0], [before, after]);
      }
    }, ref.service);
  }

  async instances(service: string): Promise<ServiceInstance[]> {
    this.#assertOpen();
    assertServiceName(service);
    const listing = await this.#call('instances', () => this.#list(service, undefined), service);
    // A read without a known version is always whole.
    return listing.kind === 'full' ? listing.instances : [];
  }

  /**
   * Names of services with a live instance, sorted. Invalid names in the index are skipped and
   * counted; an index key of another Redis type lists nothing (counted and logged once) until a
   * registration or renewal replaces it.
   */
  async services(): Promise<string[]> {
    this.#assertOpen();
    return this.#call('services', async () => {
      const reply = await runScript(this.client, SERVICES, [this.#indexKey], [this.#pruneLimit]);
      const { names, plantedIndex } = parseServices(reply, this.#indexKey, this.#onMalformed);
      if (plantedIndex) this.#planted(PLANTED_INDEX, undefined, false);
      return names;
    });
  }

  /**
   * Pushes the service's instance list through `handlers`: the current list first, then after
   * every registration, deregistration, status change and expiry. One pub/sub connection serves
   * every watched service of this backend; every list pushed was read from Redis (a change message
   * only makes the watcher read).
   */
  watch(service: string, handlers: WatchHandlers): Unsubscribe {
    this.#assertOpen();
    assertServiceName(service);
    return this.#hub.subscribe(service, handlers);
  }

  /**
   * Tells `listener` about every loss of registry data this backend detects, before it returns
   * (from `instances()`) or pushes (through `watch`) the first listing read after the loss:
   *
   * - a service whose keys vanished or were created anew while instances it listed were still
   *   live, or whose version went back (reset of that service);
   * - a reconnection to a server whose run id changed: a restart (with or without its data), or a
   *   failover to another server (reset of the whole namespace).
   *
   * Normal registrations, deregistrations, status changes, expiries and reconnections to the same
   * server are not resets. See docs/backends/redis.md for what is and is not detected.
   */
  onReset(listener: (reset: RegistryReset) => void): Unsubscribe {
    return this.#resets.onReset(listener);
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
      watchDeltas: this.#watcher.deltas,
      sweeperChecks: this.#expirySweeper.checks,
      expirySweeps: this.#expirySweeper.sweeps,
      resetsDetected: this.#resets.detected,
      watchReconnects: this.#watchReconnects,
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

  /**
   * What `util.inspect` and `console.log` show: where the client connects, credentials as `***`,
   * never the client's options (which hold them).
   */
  [inspect.custom](): string {
    return `RedisBackend { namespace: ${JSON.stringify(this.namespace)}, client: ${describeClient(this.client)}, closed: ${this.#closed} }`;
  }

  /** What `JSON.stringify` shows: never the client's options, which hold credentials. */
  toJSON(): { kind: string; namespace: string } {
    return { kind: this.kind, namespace: this.namespace };
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    this.#hub.close();
    // Gives the sweeper lease up at once (others look when told), rather than at its end.
    await this.#expirySweeper.stop();
    await this.#watcher.close();
    // Every call settles by its deadline at the latest.
    if (this.#pending.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    clearTimeout(this.#sweeper);
    // A client that never connected must not keep our listeners.
    this.#stopWaiting?.();
    for (const [event, listener] of this.#listeners) this.client.off(event, listener);
    for (const node of [...this.#nodeListeners.keys()]) this.#unfollowNode(node);
    if (this.#ownsClient) await disconnect(this.client);
  }

  /**
   * Cluster only: the namespace's indexes live in another slot than the service, so a second
   * script keeps them in step after a write. `index`: what the services index needs ('raise' to a
   * deadline, or 'deregister' with the removed and remaining deadlines); `expiry`: the service's
   * earliest deadline before and after the write, when it may have moved.
   */
  async #afterWrite(service: string, index: ['raise' | 'deregister' | 'none', number, number], expiry: [number, number] | undefined): Promise<void> {
    const [step, deadline, remaining] = index;
    const args = [service, step, deadline, remaining, expiry === undefined ? 'none' : 'set', expiry?.[0] ?? 0, expiry?.[1] ?? 0, this.#namespaceKeys.channel];
    const replaced = await runScript(this.client, NAMESPACE_AFTER_WRITE, [this.#indexKey, this.#namespaceKeys.expiries], args);
    this.#planted(integer(replaced), undefined, true);
  }

  async #sweepCheck(): Promise<SweepCheck> {
    const { sweeper, sweepers, expiries } = this.#namespaceKeys;
    const reply = await runScript(this.client, SWEEP_CHECK, [sweeper, sweepers, expiries], [this.#sweeperToken, SWEEP_LEASE_MS, DUE_LIMIT]);
    if (!Array.isArray(reply) || reply.length < 6 || reply.length % 2 !== 0) throw new Error('unexpected reply from the sweep script');
    const items = reply as unknown[];
    const [held, participants, serverNow] = [integer(items[0]), integer(items[1]), integer(items[2])];
    const replaced = integer(items[4]);
    const badNames = integer(items[5]);
    for (const [bit, key, expected] of [
      [PLANTED_SWEEPER, sweeper, 'a string'],
      [PLANTED_SWEEPERS, sweepers, 'a sorted set'],
      [PLANTED_EXPIRY_INDEX, expiries, 'a sorted set'],
    ] as const) {
      if ((replaced & bit) !== 0) this.#malformedRecords.report(`${key}\u0000#type`, { key, problem: `held another Redis type than ${expected}; replaced` }, 'a registry key holds another Redis type');
    }
    if (badNames > 0) {
      this.#malformed(new MalformedRecordError(`${expiries} member`, `${badNames} name(s) that are not service names; removed`), expiries, '');
    }
    const due: { service: string; deadline: number }[] = [];
    for (let i = 6; i < items.length; i += 2) {
      const service = items[i];
      if (typeof service === 'string' && SERVICE_NAME_PATTERN.test(service)) due.push({ service, deadline: deadlineOf(items[i + 1], serverNow) });
    }
    const first = items[3];
    return { held: held === 1, participants, serverNow, nextExpiry: first === '' ? undefined : deadlineOf(first, serverNow), due };
  }

  async #sweepService(service: string, deadline: number): Promise<void> {
    const { keys, scriptKeys } = this.#service(service);
    const reply = await runScript(this.client, SWEEP_SERVICE, scriptKeys, [keys.channel, this.#pruneLimit, service]);
    const [, before, after, planted] = integers(reply, 4);
    this.#planted(planted, keys, false);
    // In Cluster the expiry entry is set here; `deadline` is what it held when the sweep was decided.
    if (this.#isCluster) await this.#afterWrite(service, ['none', 0, 0], [before === 0 ? deadline : before, after]);
  }

  async #sweepRelease(): Promise<void> {
    const { sweeper, sweepers, channel } = this.#namespaceKeys;
    await runScript(this.client, SWEEP_RELEASE, [sweeper, sweepers], [this.#sweeperToken, channel]);
  }

  // Keys are built once per service: every call of a heartbeat or a resolve needs the same ones.
  #service(service: string): ServiceContext {
    let context = this.#services.get(service);
    if (context === undefined) {
      const keys = serviceKeys(this.namespace, service);
      const own = [keys.deadlines, keys.records, keys.log];
      // Outside Cluster the indexes move in the same script; in Cluster they live in another slot.
      context = { keys, scriptKeys: this.#isCluster ? own : [...own, this.#indexKey, this.#namespaceKeys.expiries] };
      if (this.#services.size >= CACHED_SERVICES) this.#services.clear();
      this.#services.set(service, context);
    }
    return context;
  }

  async #list(service: string, known: KnownVersion | undefined): Promise<Listing> {
    const { keys, scriptKeys } = this.#service(service);
    const ticket = this.#resets.beforeRead(service);
    const reply = await runScript(this.client, READ, scriptKeys, [keys.channel, this.#pruneLimit, service, known?.epoch ?? '', known?.version ?? 0]);
    // A reconnection's run-id check decides first whether what was read follows a restart.
    if (this.#serverChecks.size > 0) await Promise.all(this.#serverChecks);
    const listing = parseListing(reply, service, keys, this.#onMalformed, this.#records);
    this.#planted(listing.plantedKeys, keys, false);
    this.#resets.afterRead(service, ticket, listing);
    return listing;
  }

  #change(service: string, message: string): number | undefined {
    const { keys } = this.#service(service);
    try {
      return parseChange(message, keys);
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
  #call<T>(operation: string, run: () => Promise<T>, service?: string): Promise<T> {
    return observeRegistryCall(this.#target, { operation, service }, () => this.#bounded(operation, run));
  }

  #bounded<T>(operation: string, run: () => Promise<T>): Promise<T> {
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
    // Sent before anything else on the new connection, so its answer comes before any listing's.
    if (!this.#isCluster) this.#checkServer(this.client as Redis, 'server', 'the Redis server');
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

  // Cluster: each node connection reports its own (re)connections; a node is known by its address.
  #followNode(node: Redis): void {
    if (this.#nodeListeners.has(node)) return;
    const address = `${node.options.host ?? ''}:${node.options.port ?? ''}`;
    const onReady = (): void => this.#checkServer(node, address, `Cluster node ${address}`);
    node.on('ready', onReady);
    this.#nodeListeners.set(node, onReady);
    if (node.status === 'ready') onReady();
  }

  #unfollowNode(node: Redis): void {
    const onReady = this.#nodeListeners.get(node);
    if (onReady === undefined) return;
    node.off('ready', onReady);
    this.#nodeListeners.delete(node);
  }

  /**
   * Reads the run id of the server behind `connection`, which has just (re)connected: a new one
   * where another was seen is a restart or failover. Bounded by operationTimeoutMs; a server that
   * refuses INFO (ACL) only leaves the per-service detection.
   */
  #checkServer(connection: Redis, server: string, description: string): void {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<undefined>((resolve) => (timer = unrefTimeout(() => resolve(undefined), this.#operationTimeoutMs)));
    const check = Promise.race([connection.info('server'), gaveUp])
      .then((text) => {
        const runId = typeof text === 'string' ? RUN_ID.exec(text)?.[1] : undefined;
        if (runId !== undefined && !this.#closed) this.#resets.serverSeen(server, runId, description);
      })
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        this.#serverChecks.delete(check);
      });
    this.#serverChecks.add(check);
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

  /**
   * Counts (and logs once per key) the keys a script found holding another Redis type. A service's
   * deadlines and records are replaced by a registration (`replaced`) and otherwise read as empty;
   * the keys rollcall derives (log, services and expiry indexes) are always replaced.
   */
  #planted(bits: number, keys: ServiceKeys | undefined, replaced: boolean): void {
    if (bits === 0) return;
    const planted: [number, string | undefined, string, boolean][] = [
      [PLANTED_DEADLINES, keys?.deadlines, 'a sorted set', replaced],
      [PLANTED_RECORDS, keys?.records, 'a hash', replaced],
      [PLANTED_INDEX, this.#indexKey, 'a sorted set', true],
      [PLANTED_LOG, keys?.log, 'a sorted set', true],
      [PLANTED_EXPIRIES, this.#namespaceKeys.expiries, 'a sorted set', true],
    ];
    for (const [bit, key, expected, gone] of planted) {
      if ((bits & bit) === 0 || key === undefined) continue;
      const problem = gone ? `held another Redis type than ${expected}; replaced` : `holds another Redis type than ${expected}; read as empty`;
      this.#malformedRecords.report(`${key}\u0000#type`, { key, problem }, 'a registry key holds another Redis type');
    }
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
function describeClient(client: RedisClient): string {
  if (client.isCluster) return `Cluster (${client.status}) of ${(client as Cluster).nodes('master').length} known masters`;
  const { host, port, path, db, tls, username, password, sentinels, name } = (client as Redis).options;
  const credentials = username !== undefined || password !== undefined ? '***@' : '';
  if (sentinels !== undefined && sentinels !== null) return `Redis (${client.status}) master ${JSON.stringify(name)} of ${sentinels.length} sentinels${credentials === '' ? '' : ', credentials ***'}`;
  const where = path !== undefined && path !== null ? path : `${host ?? ''}:${port ?? ''}/${db ?? 0}`;
  return `Redis (${client.status}) ${tls === undefined ? 'redis' : 'rediss'}://${credentials}${where}`;
}

/** Where calls go, for tracing: a standalone server's address; a Cluster's or Sentinel's master is not fixed. */
function targetOf(client: RedisClient): RegistryTarget {
  if (client.isCluster) return { backend: 'redis', address: undefined, port: undefined };
  const { host, port, path, sentinels } = (client as Redis).options;
  if (sentinels !== undefined && sentinels !== null) return { backend: 'redis', address: undefined, port: undefined };
  if (path !== undefined && path !== null) return { backend: 'redis', address: path, port: undefined };
  return { backend: 'redis', address: host ?? 'localhost', port: port ?? 6379 };
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
  const number = typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) throw new Error('unexpected reply from a registry script');
  return number;
}

type Integers<N extends number, T extends number[] = []> = T['length'] extends N ? T : Integers<N, [...T, number]>;

function integers<N extends 4 | 6>(value: unknown, count: N): Integers<N> {
  if (!Array.isArray(value) || value.length !== count) throw new Error('unexpected reply from a registry script');
  return (value as unknown[]).map(integer) as Integers<N>;
}

/** Key of {@link RedisBackend}'s record of an instance it owns. */
function ownedKey(service: string, id: string): string {
  return `${service} ${id}`;
}

/** A deadline as the sweep script returns a score: a planted non-number counts as due now. */
function deadlineOf(score: unknown, serverNow: number): number {
  const value = typeof score === 'string' || typeof score === 'number' ? Number(score) : Number.NaN;
  return Number.isFinite(value) ? value : serverNow;
}

/** `value` without its undefined properties, as exactOptionalPropertyTypes wants for ioredis options. */
function definedOnly<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
