/**
 * A {@link RegistryBackend} on etcd v3 through its JSON gateway. Each instance is one key holding
 * its JSON, attached to a lease of its own (the TTL rounded up to whole seconds, as etcd counts);
 * a renewal is one lease keep-alive plus a transaction guarded by the lease (which also writes a
 * status change), so a renewal says `lost` as soon as the lease or the key is gone. Watches list,
 * then follow etcd's watch from the listing's revision; losses of data are detected through
 * per-service epochs and revisions and reported through `onReset`. See docs/backends/etcd.md.
 */
import { randomBytes } from 'node:crypto';
import { ClosedError, InvalidArgumentError, MalformedRecordError } from '../../core/errors.js';
import {
  assertInstanceRef,
  assertInstanceStatus,
  assertServiceName,
  assertTtl,
  createInstance,
  withStatus,
  type InstanceRef,
  type InstanceStatus,
  type ServiceInstance,
} from '../../core/instance.js';
import { loggerOption, type Logger } from '../../core/logger.js';
import type { Lease, RegistryBackend, RegistryReset, RenewResult, Unsubscribe, WatchHandlers } from '../backend.js';
import { MalformedRecords } from '../malformed-records.js';
import { WatchHub } from '../watch-hub.js';
import { RequestAbortedError } from '../attempt-signal.js';
import { EtcdClient, EtcdRpcError, GRPC, type EtcdObject } from './client.js';
import { KeyLayout, b64, prefixRange } from './keys.js';
import { resolveSettings, type EtcdBackendOptions, type EtcdSettings } from './options.js';
import { RECORD_MAX_BYTES, encodeRecord, keyValues, readService } from './records.js';
import { ResetDetector } from './resets.js';
import { etcdWatchSource, headerRevision, type ServiceRead, type WatchCounters } from './watch.js';

/** Counters of an {@link EtcdBackend}, plain integers. */
export interface EtcdBackendStats {
  /** Records and keys skipped because they were not valid (each skip counts, on every read). */
  readonly malformedRecords: number;
  /** Services with a watch running. */
  readonly activeWatches: number;
  /** Watch streams opened again after a disconnect, a compaction or a loss. */
  readonly watchReconnects: number;
  /** Services listed again by their watch (the revision to resume from was compacted, or the data lost). */
  readonly watchRelists: number;
  /** Losses of registry data detected (each reported through `onReset`). */
  readonly resetsDetected: number;
}

/** What this backend registered: the lease and the record last written. */
interface Owned {
  readonly lease: string;
  instance: ServiceInstance;
}

const KIND = 'etcd';

/**
 * rollcall's backend for etcd v3 (3.4 and later).
 *
 * @example
 * const backend = new EtcdBackend({ endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'], namespace: 'prod' });
 * const registration = await autoRegister({ backend, service: 'orders', port: 8080 });
 */
export class EtcdBackend implements RegistryBackend {
  readonly kind = KIND;
  readonly #settings: EtcdSettings;
  readonly #client: EtcdClient;
  readonly #layout: KeyLayout;
  readonly #log: Logger;
  readonly #malformed: MalformedRecords;
  readonly #resets: ResetDetector;
  readonly #hub: WatchHub;
  readonly #counters: WatchCounters = { reconnects: 0, relists: 0 };
  readonly #owned = new Map<string, Owned>();
  readonly #inflight = new Set<Promise<unknown>>();
  #raisedTtlLogged = false;
  #closing: Promise<void> | undefined;

  constructor(options: EtcdBackendOptions = {}) {
    this.#settings = resolveSettings(options);
    this.#log = loggerOption(options.logger, 'logger', { component: 'etcd-backend' });
    this.#layout = new KeyLayout(this.#settings.namespace);
    this.#malformed = new MalformedRecords(this.#log);
    this.#resets = new ResetDetector((error) => this.#log.error({ err: error }, 'onReset listener threw'));
    this.#client = new EtcdClient(this.#settings, this.#log);
    this.#hub = new WatchHub(
      etcdWatchSource(
        {
          settings: this.#settings,
          client: this.#client,
          layout: this.#layout,
          logger: this.#log,
          list: (service, signal) => this.#list('watch', service, signal),
          epoch: (service, signal) => this.#readEpoch(service, signal),
          onEpochEvent: (service, epoch) => this.#resets.epochEvent(service, epoch),
          onRevision: (revision) => this.#resets.observeRevision(revision),
          onMalformed: (error) => this.#report(error),
          track: (loop) => this.#track(loop),
        },
        this.#counters,
      ),
      (error) => this.#log.error({ err: error }, 'watch subscriber threw'),
    );
  }

  /** The namespace this backend reads and writes (keys under `/rollcall/<namespace>/`). */
  get namespace(): string {
    return this.#settings.namespace;
  }

  /** The etcd members' client URLs, without credentials. */
  get endpoints(): readonly string[] {
    return this.#settings.endpoints;
  }

  /**
   * Grants a lease of `ceil(ttlMs / 1000)` seconds (etcd counts whole seconds, and raises a TTL
   * below its minimum, 1.5 election timeouts: 2 s with etcd's defaults) and writes the instance
   * attached to it, with the service's epoch when the service has none. Registering an id again
   * replaces the record and revokes the lease this backend held for it.
   */
  register(instance: ServiceInstance, lease: Lease): Promise<void> {
    return this.#run(async () => {
      const valid = createInstance(instance, Date.now());
      assertTtl(lease?.ttlMs, 'lease.ttlMs');
      const record = encodeRecord(valid);
      if (Buffer.byteLength(record, 'utf8') > RECORD_MAX_BYTES) {
        throw new InvalidArgumentError('instance', `an instance whose record fits in ${RECORD_MAX_BYTES} bytes`, `${Buffer.byteLength(record, 'utf8')} bytes`);
      }
      const key = this.#layout.instance(valid.service, valid.id);
      const leaseId = await this.#grant(Math.ceil(lease.ttlMs / 1000));
      const put = { request_put: { key: b64(key), value: b64(record), lease: leaseId } };
      const epochKey = b64(this.#layout.epoch(valid.service));
      try {
        const answer = await this.#call('register', '/v3/kv/txn', {
          compare: [{ key: epochKey, target: 'CREATE', result: 'GREATER', create_revision: '0' }],
          success: [put],
          failure: [{ request_put: { key: epochKey, value: randomBytes(16).toString('base64') } }, put],
        });
        this.#observe(answer);
      } catch (error) {
        void this.#revoke(leaseId);
        throw error;
      }
      const previous = this.#owned.get(key);
      this.#owned.set(key, { lease: leaseId, instance: valid });
      if (previous !== undefined && previous.lease !== leaseId) await this.#revoke(previous.lease);
    });
  }

  /**
   * Sends one keep-alive of the instance's lease and, at the same time, a transaction that checks
   * the key is still attached to that lease and writes the new status when it changed. `lost`
   * when this backend never registered the instance, the lease expired or was revoked, or the key
   * was deleted or taken over.
   */
  renew(ref: InstanceRef, status: InstanceStatus): Promise<RenewResult> {
    return this.#run(async () => {
      assertInstanceRef(ref);
      assertInstanceStatus(status);
      const key = this.#layout.instance(ref.service, ref.id);
      const owned = this.#owned.get(key);
      if (owned === undefined) return 'lost';
      const next = owned.instance.status === status ? owned.instance : withStatus(owned.instance, status, Date.now());
      const success = next === owned.instance ? [] : [{ request_put: { key: b64(key), value: b64(encodeRecord(next)), lease: owned.lease } }];
      const [alive, guarded] = await Promise.all([
        this.#keepAlive(owned.lease),
        this.#call('renew', '/v3/kv/txn', { compare: [{ key: b64(key), target: 'LEASE', result: 'EQUAL', lease: owned.lease }], success }).then(
          (answer) => {
            this.#observe(answer);
            return answer['succeeded'] === true;
          },
          (error: unknown) => {
            // The lease expired between the compare and the put.
            if (error instanceof EtcdRpcError && error.grpcCode === GRPC.notFound) return false;
            throw error;
          },
        ),
      ]);
      if (alive && guarded) {
        owned.instance = next;
        return 'renewed';
      }
      if (this.#owned.get(key) === owned) this.#owned.delete(key);
      if (alive) await this.#revoke(owned.lease);
      return 'lost';
    });
  }

  /** Deletes the instance's key, then revokes (in the background) the lease this backend held for it, if any. */
  deregister(ref: InstanceRef): Promise<void> {
    return this.#run(async () => {
      assertInstanceRef(ref);
      const key = this.#layout.instance(ref.service, ref.id);
      const owned = this.#owned.get(key);
      this.#owned.delete(key);
      // The key may be attached to another lease (or none): it is deleted by name.
      this.#observe(await this.#call('deregister', '/v3/kv/deleterange', { key: b64(key) }));
      // The lease holds nothing now; revoking it only frees etcd sooner, so callers do not wait (close() does).
      if (owned !== undefined) this.#track(this.#revoke(owned.lease));
    });
  }

  instances(service: string): Promise<ServiceInstance[]> {
    return this.#run(async () => {
      assertServiceName(service);
      return [...(await this.#list('instances', service)).instances];
    });
  }

  /** Services with at least one instance key attached to a lease, sorted. One keys-only read of the namespace. */
  services(): Promise<string[]> {
    return this.#run(async () => {
      const answer = await this.#call('services', '/v3/kv/range', { ...prefixRange(this.#layout.root), keys_only: true });
      this.#observe(answer);
      const names = new Set<string>();
      for (const kv of keyValues(answer['kvs'])) {
        const parsed = this.#layout.parse(kv.key);
        if (parsed === undefined) this.#report(new MalformedRecordError(kv.key, 'not a key rollcall writes (or its service name or id is invalid)'));
        else if (parsed.kind === 'instance' && kv.lease !== '0') names.add(parsed.service);
      }
      return [...names].sort();
    });
  }

  watch(service: string, handlers: WatchHandlers): Unsubscribe {
    if (this.#closing !== undefined) throw new ClosedError('EtcdBackend');
    assertServiceName(service);
    return this.#hub.subscribe(service, handlers);
  }

  /**
   * Tells `listener` when etcd lost registry data: a service's epoch key vanished or changed (a
   * deleted prefix, a cluster restarted from an empty data dir, an older snapshot restored), or a
   * read answered at a revision below one already seen. Called before the first listing read
   * after the loss is returned or pushed.
   */
  onReset(listener: (reset: RegistryReset) => void): Unsubscribe {
    return this.#resets.onReset(listener);
  }

  stats(): EtcdBackendStats {
    return {
      malformedRecords: this.#malformed.count,
      activeWatches: this.#hub.activeWatches,
      watchReconnects: this.#counters.reconnects,
      watchRelists: this.#counters.relists,
      resetsDetected: this.#resets.detected,
    };
  }

  /**
   * Stops every watch, waits for calls in flight, then drops all connections. Leases are left to
   * expire (deregister instances first to remove them at once).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#hub.close();
      while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
      await this.#client.close();
    })();
    return this.#closing;
  }

  /** {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** One linearizable read of the service's prefix; reports a loss before resolving. */
  async #list(operation: string, service: string, signal?: AbortSignal): Promise<ServiceRead> {
    const ticket = this.#resets.beforeRead(service);
    const answer = await this.#call(operation, '/v3/kv/range', prefixRange(this.#layout.service(service)), signal);
    const revision = headerRevision(answer) ?? 0;
    const read = readService(keyValues(answer['kvs']), service, this.#layout, (error) => this.#report(error));
    this.#resets.afterRead(service, ticket, read.epoch, revision);
    return { ...read, revision };
  }

  async #readEpoch(service: string, signal: AbortSignal): Promise<{ epoch: string | undefined; revision: number }> {
    const ticket = this.#resets.beforeRead(service);
    const answer = await this.#call('watch', '/v3/kv/range', { key: b64(this.#layout.epoch(service)) }, signal);
    const revision = headerRevision(answer) ?? 0;
    const [kv] = keyValues(answer['kvs']);
    const epoch = kv?.rawValue;
    this.#resets.afterRead(service, ticket, epoch, revision);
    return { epoch, revision };
  }

  async #grant(ttlSeconds: number): Promise<string> {
    const answer = await this.#call('register', '/v3/lease/grant', { TTL: String(ttlSeconds) });
    const id = answer['ID'];
    if (typeof id !== 'string' || !/^\d{1,20}$/.test(id)) throw this.#client.translate('register', new Error('etcd granted a lease without an id'));
    const granted = Number(answer['TTL'] ?? 0);
    if (granted > ttlSeconds && !this.#raisedTtlLogged) {
      this.#raisedTtlLogged = true;
      this.#log.info({ requested: ttlSeconds, granted }, `etcd raised the lease TTL from ${ttlSeconds} s to its minimum, ${granted} s (1.5 election timeouts)`);
    }
    return id;
  }

  /** One keep-alive; false when etcd no longer knows the lease (it answers a TTL of 0). */
  async #keepAlive(lease: string): Promise<boolean> {
    const answer = await this.#call('renew', '/v3/lease/keepalive', { ID: lease });
    const result = answer['result'];
    const ttl = typeof result === 'object' && result !== null ? Number((result as EtcdObject)['TTL'] ?? 0) : 0;
    return ttl > 0;
  }

  /** Revokes a lease, deleting whatever is still attached to it; a lease etcd no longer knows is fine. Never rejects. */
  async #revoke(lease: string): Promise<void> {
    try {
      await this.#call('revoke', '/v3/lease/revoke', { ID: lease });
    } catch (error) {
      if (error instanceof EtcdRpcError && error.grpcCode === GRPC.notFound) return;
      // The lease expires on its own: nothing the caller has to handle.
      this.#log.debug({ err: error }, 'could not revoke a lease; it will expire on its own');
    }
  }

  async #call(operation: string, path: string, body: EtcdObject, signal?: AbortSignal): Promise<EtcdObject> {
    try {
      return await this.#client.call(operation, path, body, signal);
    } catch (error) {
      if (error instanceof RequestAbortedError) throw error;
      if (error instanceof EtcdRpcError && (error.grpcCode === GRPC.notFound || path === '/v3/lease/revoke')) throw error;
      throw this.#client.translate(operation, error);
    }
  }

  #observe(answer: EtcdObject): void {
    const revision = headerRevision(answer);
    if (revision !== undefined) this.#resets.observeRevision(revision);
  }

  #report(error: MalformedRecordError): void {
    this.#malformed.report(error.message, { location: error.location }, `skipping an etcd record: ${error.message}`);
  }

  #track(work: Promise<unknown>): void {
    this.#inflight.add(work);
    void work.finally(() => this.#inflight.delete(work)).catch(() => {});
  }

  // Async like every remote call: validation failures reject, they never throw synchronously.
  async #run<T>(operation: () => Promise<T>): Promise<T> {
    await Promise.resolve();
    if (this.#closing !== undefined) throw new ClosedError('EtcdBackend');
    const work = operation();
    this.#track(work);
    return work;
  }
}
