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
 *
 * This file is the contract: input checks, then each operation through the call gate
 * (call-gate.ts) as a script call (operations.ts), watches (watcher.ts, sweeper.ts), resets
 * (resets.ts, connection.ts), and closing. Options and connections live in options.ts and client.ts.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { ClosedError, InvalidArgumentError } from '../../core/errors.js';
import {
  assertInstanceRef,
  assertInstanceStatus,
  assertServiceName,
  assertTtl,
  createInstance,
  type InstanceRef,
  type InstanceStatus,
  type ServiceInstance,
} from '../../core/instance.js';
import type { Lease, RegistryBackend, RegistryReset, RenewResult, Unsubscribe, WatchHandlers } from '../backend.js';
import { MalformedRecords } from '../malformed-records.js';
import { WatchHub } from '../watch-hub.js';
import { CallGate } from './call-gate.js';
import { createClient, describeClient, disconnect, secretsOf, subscriberConnection, targetOf } from './client.js';
import { ConnectionMonitor } from './connection.js';
import { Redactor, connectionError } from './errors.js';
import { RedisOperations } from './operations.js';
import { resolveSettings, type RedisBackendOptions, type RedisClient } from './options.js';
import { recordOf } from './records.js';
import { ResetDetector } from './resets.js';
import { RECORD_MAX_BYTES } from './scripts.js';
import { Sweeper } from './sweeper.js';
import { RedisWatcher } from './watcher.js';

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

/** The Redis registry backend. */
export class RedisBackend implements RegistryBackend {
  readonly kind = 'redis';
  readonly namespace: string;
  /** The ioredis client in use (yours, or the one rollcall built). */
  readonly client: RedisClient;
  readonly #ownsClient: boolean;
  readonly #malformedRecords: MalformedRecords;
  readonly #resets: ResetDetector;
  readonly #connection: ConnectionMonitor;
  readonly #gate: CallGate;
  readonly #operations: RedisOperations;
  readonly #expirySweeper: Sweeper;
  readonly #watcher: RedisWatcher;
  readonly #hub: WatchHub;
  #watchReconnects = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: RedisBackendOptions = {}) {
    const { namespace, operationTimeoutMs, pruneLimit, log } = resolveSettings(options);
    this.namespace = namespace;
    const { client, owns } = createClient(options);
    this.client = client;
    this.#ownsClient = owns;
    // Never stored, logged or put in an error: it proves ownership of this object's instances.
    const ownerSecret = randomBytes(32).toString('base64url');
    const redactor = new Redactor([...secretsOf(client), ownerSecret]);
    this.#malformedRecords = new MalformedRecords(log);
    this.#resets = new ResetDetector((error) => log.error({ error: redactor.message(error) }, 'an onReset listener threw'));
    this.#connection = new ConnectionMonitor({
      client,
      log,
      redactor,
      operationTimeoutMs,
      owned: owns,
      onServer: (server, runId, description) => this.#resets.serverSeen(server, runId, description),
      onRecovered: () => this.#watcher.refreshFailing(),
      closed: () => this.#closed,
    });
    this.#gate = new CallGate({ client, connection: this.#connection, operationTimeoutMs, redactor, target: targetOf(client) });
    const operations = new RedisOperations({
      client,
      namespace,
      pruneLimit,
      ownerSecret,
      malformedRecords: this.#malformedRecords,
      resets: this.#resets,
      serverChecks: () => this.#connection.serverChecks(),
    });
    this.#operations = operations;
    const gate = this.#gate;
    this.#expirySweeper = new Sweeper({
      check: () => gate.call('sweep', () => operations.sweepCheck()),
      sweep: (service, deadline) => gate.call('sweep', () => operations.sweepService(service, deadline)),
      release: () => gate.call('sweep', () => operations.sweepRelease()).catch(() => {}),
      onError: (error) => log.debug({ error: redactor.message(error) }, 'expiry sweeper: a look at the lease failed; trying again'),
    });
    this.#watcher = new RedisWatcher({
      list: (service, known) => gate.call('watch', () => operations.list(service, known), service),
      change: (service, message) => operations.change(service, message),
      channel: (service) => operations.channel(service),
      namespaceChannel: operations.namespaceChannel,
      onNamespaceMessage: () => this.#expirySweeper.nudge(),
      onActive: (active) => {
        if (active) this.#expirySweeper.start();
        else void this.#expirySweeper.stop();
      },
      connect: () => subscriberConnection(client),
      connectionError: (error) => connectionError('watch', 'the watch connection to Redis was lost', error, redactor),
      onTransition: (up, error) => {
        if (up) {
          this.#watchReconnects++;
          log.info({}, 'watch connection to Redis is back; watched services were read again');
        } else log.warn({ error: redactor.message(error) }, 'watch connection to Redis lost; reconnecting');
      },
    });
    this.#hub = new WatchHub(this.#watcher.source, (error) => log.error({ error: redactor.message(error) }, 'watch subscriber threw'));
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
    const json = JSON.stringify(valid);
    const record = recordOf(lease.ttlMs, valid.status, valid.updatedAt, json);
    const bytes = Buffer.byteLength(record);
    if (bytes > RECORD_MAX_BYTES) {
      throw new InvalidArgumentError('instance', `an instance whose stored record is at most ${RECORD_MAX_BYTES} bytes`, `a record of ${bytes} bytes`);
    }
    await this.#gate.call('register', () => this.#operations.register(valid, lease.ttlMs, json, record), valid.service);
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
    return this.#gate.call('renew', () => this.#operations.renew(ref, status), ref.service);
  }

  /**
   * Removes the instance. Idempotent: an unknown (or expired) instance is fine. Another owner's
   * live instance is refused with {@link InstanceOwnedError} (code `REGISTRY_AUTH`).
   */
  async deregister(ref: InstanceRef): Promise<void> {
    this.#assertOpen();
    assertInstanceRef(ref);
    await this.#gate.call('deregister', () => this.#operations.deregister(ref), ref.service);
  }

  async instances(service: string): Promise<ServiceInstance[]> {
    this.#assertOpen();
    assertServiceName(service);
    const listing = await this.#gate.call('instances', () => this.#operations.list(service, undefined), service);
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
    return this.#gate.call('services', () => this.#operations.services());
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
    await this.#gate.close();
    this.#connection.close();
    if (this.#ownsClient) await disconnect(this.client);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('RedisBackend');
  }
}
