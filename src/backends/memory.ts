/**
 * The embedded registry: in this process, no server. The default for demos and single-process
 * setups, and the backend for unit tests (deterministic under vitest's fake timers).
 *
 * A {@link MemoryRegistry} plays the server; each {@link MemoryBackend} is a client of one
 * registry in one namespace. Backends sharing a registry and namespace see each other's
 * instances; other namespaces are invisible.
 */
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import {
  assertInstanceRef,
  assertServiceName,
  assertTtl,
  createInstance,
  assertInstanceStatus,
  withStatus,
  type InstanceRef,
  type InstanceStatus,
  type ServiceInstance,
} from '../core/instance.js';
import { systemClock, type Clock } from '../core/clock.js';
import { loggerOption, type LoggerLike } from '../core/logger.js';
import type { Lease, RegistryBackend, RegistryBackendStats, RenewResult, Unsubscribe, WatchHandlers } from './backend.js';
import { WatchHub, type WatchSink } from './watch-hub.js';

interface Entry {
  instance: ServiceInstance;
  readonly ttlMs: number;
  expiresAt: number;
  readonly timer: NodeJS.Timeout;
}

type ServiceTable = Map<string, Entry>;

/** In-process registry storage. Expiry runs on unref'd timers and on every read. */
export class MemoryRegistry {
  readonly #clock: Clock;
  // namespace -> service -> id -> entry
  readonly #data = new Map<string, Map<string, ServiceTable>>();
  readonly #sinks = new Map<string, Set<WatchSink>>();
  readonly #pendingNotifications = new Set<string>();

  /** @param options.clock time source for leases. @default Date.now */
  constructor(options: { clock?: Clock | undefined } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /** Current time by this registry's clock. */
  now(): number {
    return this.#clock.now();
  }

  register(namespace: string, instance: ServiceInstance, ttlMs: number): void {
    const table = this.#table(namespace, instance.service, true);
    const previous = table.get(instance.id);
    if (previous !== undefined) clearTimeout(previous.timer);
    const entry: Entry = {
      instance,
      ttlMs,
      expiresAt: this.now() + ttlMs,
      timer: this.#expiryTimer(namespace, instance, ttlMs),
    };
    table.set(instance.id, entry);
    this.#notify(namespace, instance.service);
  }

  renew(namespace: string, ref: InstanceRef, status: InstanceStatus): RenewResult {
    const entry = this.#live(namespace, ref);
    if (entry === undefined) return 'lost';
    entry.expiresAt = this.now() + entry.ttlMs;
    entry.timer.refresh();
    if (entry.instance.status !== status) {
      entry.instance = withStatus(entry.instance, status, this.now());
      this.#notify(namespace, ref.service);
    }
    return 'renewed';
  }

  deregister(namespace: string, ref: InstanceRef): void {
    const table = this.#table(namespace, ref.service, false);
    const entry = table?.get(ref.id);
    if (table === undefined || entry === undefined) return;
    clearTimeout(entry.timer);
    table.delete(ref.id);
    this.#notify(namespace, ref.service);
  }

  instances(namespace: string, service: string): ServiceInstance[] {
    const table = this.#table(namespace, service, false);
    if (table === undefined) return [];
    const now = this.now();
    const live: ServiceInstance[] = [];
    for (const entry of table.values()) if (entry.expiresAt > now) live.push(entry.instance);
    return live;
  }

  services(namespace: string): string[] {
    const services = this.#data.get(namespace);
    if (services === undefined) return [];
    return [...services.keys()].filter((service) => this.instances(namespace, service).length > 0).sort();
  }

  /** Pushes the service's list to `sink` now (asynchronously) and after every change. */
  watch(namespace: string, service: string, sink: WatchSink): () => void {
    const key = watchKey(namespace, service);
    let sinks = this.#sinks.get(key);
    if (sinks === undefined) this.#sinks.set(key, (sinks = new Set()));
    sinks.add(sink);
    queueMicrotask(() => {
      if (sinks.has(sink)) sink.change(this.instances(namespace, service));
    });
    return () => {
      sinks.delete(sink);
      if (sinks.size === 0 && this.#sinks.get(key) === sinks) this.#sinks.delete(key);
    };
  }

  /**
   * Loses every registration, as a registry restarted without persistence would. Watchers hear
   * the now empty lists.
   */
  clear(): void {
    for (const [namespace, services] of this.#data) {
      for (const [service, table] of services) {
        for (const entry of table.values()) clearTimeout(entry.timer);
        table.clear();
        this.#notify(namespace, service);
      }
    }
    this.#data.clear();
  }

  #live(namespace: string, ref: InstanceRef): Entry | undefined {
    const entry = this.#table(namespace, ref.service, false)?.get(ref.id);
    return entry !== undefined && entry.expiresAt > this.now() ? entry : undefined;
  }

  #table(namespace: string, service: string, create: true): ServiceTable;
  #table(namespace: string, service: string, create: false): ServiceTable | undefined;
  #table(namespace: string, service: string, create: boolean): ServiceTable | undefined {
    let services = this.#data.get(namespace);
    if (services === undefined) {
      if (!create) return undefined;
      this.#data.set(namespace, (services = new Map<string, ServiceTable>()));
    }
    let table = services.get(service);
    if (table === undefined && create) services.set(service, (table = new Map<string, Entry>()));
    return table;
  }

  #expiryTimer(namespace: string, instance: ServiceInstance, ttlMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const table = this.#table(namespace, instance.service, false);
      const entry = table?.get(instance.id);
      if (table === undefined || entry === undefined || entry.timer !== timer) return;
      table.delete(instance.id);
      this.#notify(namespace, instance.service);
    }, ttlMs);
    timer.unref();
    return timer;
  }

  // Several changes in one tick reach watchers as one list.
  #notify(namespace: string, service: string): void {
    const key = watchKey(namespace, service);
    if (!this.#sinks.has(key) || this.#pendingNotifications.has(key)) return;
    this.#pendingNotifications.add(key);
    queueMicrotask(() => {
      this.#pendingNotifications.delete(key);
      const sinks = this.#sinks.get(key);
      if (sinks === undefined) return;
      const instances = this.instances(namespace, service);
      for (const sink of [...sinks]) sink.change(instances);
    });
  }
}

function watchKey(namespace: string, service: string): string {
  return `${namespace}\u0000${service}`;
}

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /** The registry to use; share one between backends to make them see each other. @default a new private registry */
  registry?: MemoryRegistry | undefined;
  /** Isolates this backend's instances from other namespaces of the same registry. @default 'default' */
  namespace?: string | undefined;
  /** Logs errors thrown by watch subscribers. @default silent */
  logger?: LoggerLike | undefined;
}

/** A {@link RegistryBackend} on an in-process {@link MemoryRegistry}. */
export class MemoryBackend implements RegistryBackend {
  readonly kind = 'memory';
  readonly registry: MemoryRegistry;
  readonly namespace: string;
  readonly #hub: WatchHub;
  readonly #ownsRegistry: boolean;
  #closed = false;

  constructor(options: MemoryBackendOptions = {}) {
    this.#ownsRegistry = options.registry === undefined;
    this.registry = options.registry ?? new MemoryRegistry();
    this.namespace = options.namespace ?? 'default';
    if (typeof this.namespace !== 'string' || this.namespace.length === 0) {
      throw new InvalidArgumentError('namespace', 'a non-empty string', this.namespace);
    }
    const logger = loggerOption(options.logger, 'logger', { component: 'memory-backend' });
    this.#hub = new WatchHub(
      (service, sink) => this.registry.watch(this.namespace, service, sink),
      (error) => logger.error({ err: error }, 'watch subscriber threw'),
    );
  }

  register(instance: ServiceInstance, lease: Lease): Promise<void> {
    return this.#run(() => {
      const valid = createInstance(instance, this.registry.now());
      assertTtl(lease?.ttlMs, 'lease.ttlMs');
      this.registry.register(this.namespace, valid, lease.ttlMs);
    });
  }

  renew(ref: InstanceRef, status: InstanceStatus): Promise<RenewResult> {
    return this.#run(() => {
      assertInstanceRef(ref);
      assertInstanceStatus(status);
      return this.registry.renew(this.namespace, ref, status);
    });
  }

  deregister(ref: InstanceRef): Promise<void> {
    return this.#run(() => {
      assertInstanceRef(ref);
      this.registry.deregister(this.namespace, ref);
    });
  }

  instances(service: string): Promise<ServiceInstance[]> {
    return this.#run(() => {
      assertServiceName(service);
      return this.registry.instances(this.namespace, service);
    });
  }

  services(): Promise<string[]> {
    return this.#run(() => this.registry.services(this.namespace));
  }

  watch(service: string, handlers: WatchHandlers): Unsubscribe {
    if (this.#closed) throw new ClosedError('MemoryBackend');
    assertServiceName(service);
    return this.#hub.subscribe(service, handlers);
  }

  /** Number of services this backend is watching in its registry. */
  get activeWatches(): number {
    return this.#hub.activeWatches;
  }

  /** Its watches (an in-process registry holds no malformed data and never loses a watch). */
  stats(): RegistryBackendStats {
    return { activeWatches: this.#hub.activeWatches, malformedRecords: 0, watchReconnects: 0 };
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#hub.close();
    // A private registry dies with its only client; a shared one outlives it.
    if (this.#ownsRegistry) this.registry.clear();
    return Promise.resolve();
  }

  /** {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // Async like a remote backend: callers never see synchronous throws or synchronous results.
  async #run<T>(operation: () => T): Promise<T> {
    await Promise.resolve();
    if (this.#closed) throw new ClosedError('MemoryBackend');
    return operation();
  }
}
