/**
 * The backend contract (SPI): the only door between rollcall and a registry. Every method is one
 * registry operation. Backends know nothing of caches, strategies or frameworks.
 *
 * A backend is done when it passes `describeBackendConformance` from `rollcall/testing` unchanged.
 */
import type { InstanceRef, InstanceStatus, ServiceInstance } from '../core/instance.js';

/** How long the registry keeps an instance without a renewal. */
export interface Lease {
  /** Milliseconds, 1000 to 86400000. */
  readonly ttlMs: number;
}

/** `renewed`: the registry still knew the instance. `lost`: it did not; register again. */
export type RenewResult = 'renewed' | 'lost';

/** Receives pushes from {@link RegistryBackend.watch}. */
export interface WatchHandlers {
  /**
   * The full list of the service's live instances (any status). Called once soon after `watch()`
   * with the current list (never synchronously inside `watch()`), then after every change:
   * registration, deregistration, status change, expiry.
   */
  onChange(instances: readonly ServiceInstance[]): void;
  /**
   * The watch lost the registry. The backend keeps trying; when it is back it delivers a full
   * list through `onChange`, so nothing changed in the gap is lost.
   */
  onError?(error: Error): void;
}

/**
 * A backend saw the registry lose data it held: a restart with an empty data set, a flush, a
 * failover to a replica that missed writes, an index that went backwards. Live instances register
 * again within one heartbeat, so until then an answer that lacks them is not the truth yet.
 */
export interface RegistryReset {
  /** The service whose data was lost; undefined when the whole registry (or namespace) was. */
  readonly service?: string | undefined;
  /** What showed the loss, for logs: e.g. `Redis restarted (run id changed)`. */
  readonly reason: string;
}

/**
 * Counters a backend may report (see {@link RegistryBackend.stats}); metrics exporters and status
 * views read the fields present. Plain integers, cheap to read.
 */
export interface RegistryBackendStats {
  /** Registry data skipped because it was not valid (each skip counts, also on re-reads). */
  readonly malformedRecords?: number | undefined;
  /** Services with an underlying watch running. */
  readonly activeWatches?: number | undefined;
  /** Times a broken watch got the registry back (a new subscriber connection, a poll loop recovered). */
  readonly watchReconnects?: number | undefined;
}

/** Stops a subscription. Safe to call more than once. */
export type Unsubscribe = () => void;

export interface RegistryBackend {
  /** Short name for logs and errors: `memory`, `redis`, `consul`, ... */
  readonly kind: string;

  /**
   * Writes (or overwrites) an instance with a lease. The instance expires unless renewed within
   * `lease.ttlMs`. Rejects with `INVALID_ARGUMENT` for an invalid instance or lease and with
   * `REGISTRY_UNAVAILABLE` / `REGISTRY_AUTH` when the registry fails or refuses.
   */
  register(instance: ServiceInstance, lease: Lease): Promise<void>;

  /**
   * Extends the lease of a registered instance and records its current status. Returns `lost`
   * when the registry no longer knows the instance (expired, flushed, restarted): the caller then
   * registers it again.
   */
  renew(ref: InstanceRef, status: InstanceStatus): Promise<RenewResult>;

  /** Removes one instance. Idempotent: removing an unknown instance succeeds. */
  deregister(ref: InstanceRef): Promise<void>;

  /**
   * The service's live instances, whatever their status. An instance whose lease expired is
   * absent, or (in registries that keep expired entries for a while, such as Consul) present with
   * status `critical`. Malformed records are skipped, logged and counted, never fatal.
   */
  instances(service: string): Promise<ServiceInstance[]>;

  /** Names of services with at least one live instance, sorted. */
  services(): Promise<string[]>;

  /**
   * Optional push of a service's instance list. However many subscribers a process has for one
   * service, a backend keeps one underlying watch for it.
   */
  watch?(service: string, handlers: WatchHandlers): Unsubscribe;

  /**
   * Optional: tells `listener` about every {@link RegistryReset} the backend detects (it never
   * guesses). A backend calls the listeners before it returns (from `instances()`) or pushes
   * (through `watch`) the first listing read after the loss, so a reader can treat that listing
   * as provisional.
   */
  onReset?(listener: (reset: RegistryReset) => void): Unsubscribe;

  /** Optional: the backend's counters, for metrics and status views. */
  stats?(): RegistryBackendStats;

  /** Releases what the backend opened. Idempotent; later calls reject with `CLOSED`. */
  close(): Promise<void>;
}
