/**
 * A read-only {@link RegistryBackend} on DNS SRV records, through node:dns with configurable
 * servers: what Consul's DNS interface, Kubernetes headless services and plain SRV zones publish.
 * Answers are reused for their TTL (within bounds), watches look the service up again when the
 * answer expires and push it when it changed, and writes are refused with a typed error. See
 * docs/backends/dns.md.
 */
import { promises as dns } from 'node:dns';
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import { sleep } from '../../core/clock.js';
import { ClosedError, messageOf, type MalformedRecordError } from '../../core/errors.js';
import type { InstanceRef, InstanceStatus, ServiceInstance } from '../../core/instance.js';
import { loggerOption, type Logger } from '../../core/logger.js';
import type { Lease, RegistryBackend, RenewResult, Unsubscribe, WatchHandlers } from '../backend.js';
import { MalformedRecords } from '../malformed-records.js';
import { WatchHub, type WatchSink } from '../watch-hub.js';
import { ReadOnlyRegistryError } from './errors.js';
import { lookupService, type DnsResolver, type Lookup } from './lookup.js';
import { assertDnsServiceName } from './names.js';
import { resolveSettings, type DnsBackendOptions, type DnsSettings } from './options.js';

/** Counters of a {@link DnsBackend}, plain integers. */
export interface DnsBackendStats {
  /** Lookups sent (one SRV query and the address queries of its targets each). */
  readonly lookups: number;
  /** Reads answered from an answer still within its TTL. */
  readonly cacheHits: number;
  /** SRV records skipped: targets without addresses (each skip counts, on every lookup). */
  readonly skippedRecords: number;
  /** Services with a watch running. */
  readonly activeWatches: number;
}

interface Cached {
  readonly lookup: Lookup;
  readonly expiresAt: number;
}

/** Answers remembered; the least recently read are forgotten beyond it. */
const CACHED_SERVICES = 10_000;

/**
 * rollcall's read-only backend for DNS SRV records.
 *
 * @example
 * const backend = new DnsBackend({ name: kubernetesDnsName({ port: 'http', namespace: 'shop' }) });
 * const resolver = createResolver({ backend });
 */
export class DnsBackend implements RegistryBackend {
  readonly kind = 'dns';
  readonly #settings: DnsSettings;
  readonly #resolver: dns.Resolver;
  readonly #log: Logger;
  readonly #skipped: MalformedRecords;
  readonly #hub: WatchHub;
  readonly #cache = new Map<string, Cached>();
  readonly #pending = new Map<string, Promise<Lookup>>();
  readonly #firstSeen = new Map<string, Map<string, number>>();
  readonly #inflight = new Set<Promise<unknown>>();
  #lookups = 0;
  #cacheHits = 0;
  #closing: Promise<void> | undefined;

  constructor(options: DnsBackendOptions = {}) {
    this.#settings = resolveSettings(options);
    this.#log = loggerOption(options.logger, 'logger', { component: 'dns-backend' });
    this.#skipped = new MalformedRecords(this.#log);
    this.#resolver = new dns.Resolver({ timeout: this.#settings.timeoutMs, tries: this.#settings.tries });
    if (this.#settings.servers !== undefined) this.#resolver.setServers([...this.#settings.servers]);
    this.#hub = new WatchHub(
      (service, sink) => {
        const controller = new AbortController();
        this.#track(this.#watchLoop(service, sink, controller.signal));
        return () => controller.abort();
      },
      (error) => this.#log.error({ err: error }, 'watch subscriber threw'),
    );
  }

  /** The SRV name template (`{service}` stands for the service). */
  get nameTemplate(): string {
    return this.#settings.template;
  }

  /** Refused: DNS is read-only here (`INVALID_ARGUMENT`, {@link ReadOnlyRegistryError}). */
  register(_instance: ServiceInstance, _lease: Lease): Promise<void> {
    return this.#run(() => Promise.reject(new ReadOnlyRegistryError('register')));
  }

  /** Refused: DNS is read-only here (`INVALID_ARGUMENT`, {@link ReadOnlyRegistryError}). */
  renew(_ref: InstanceRef, _status: InstanceStatus): Promise<RenewResult> {
    return this.#run(() => Promise.reject(new ReadOnlyRegistryError('renew')));
  }

  /** Refused: DNS is read-only here (`INVALID_ARGUMENT`, {@link ReadOnlyRegistryError}). */
  deregister(_ref: InstanceRef): Promise<void> {
    return this.#run(() => Promise.reject(new ReadOnlyRegistryError('deregister')));
  }

  /**
   * The service's instances from its SRV records, reused while the answer's TTL lasts. A name
   * that does not exist (NXDOMAIN) or holds no SRV record lists none; a server failure (SERVFAIL,
   * REFUSED) or silence (timeout) rejects with `REGISTRY_UNAVAILABLE`, so a resolver falls back to
   * what it last knew.
   */
  instances(service: string): Promise<ServiceInstance[]> {
    return this.#run(async () => {
      assertDnsServiceName(service);
      return [...(await this.#lookup(service)).instances];
    });
  }

  /** The configured `services` that have instances now, sorted: DNS cannot enumerate services. */
  services(): Promise<string[]> {
    return this.#run(async () => {
      const found = await Promise.all(this.#settings.services.map(async (service) => ((await this.#lookup(service)).instances.length > 0 ? service : undefined)));
      return found.filter((service): service is string => service !== undefined);
    });
  }

  /** Pushes the service's instances, then looks it up again each time the answer expires and pushes it when it changed. */
  watch(service: string, handlers: WatchHandlers): Unsubscribe {
    if (this.#closing !== undefined) throw new ClosedError('DnsBackend');
    assertDnsServiceName(service);
    return this.#hub.subscribe(service, handlers);
  }

  stats(): DnsBackendStats {
    return { lookups: this.#lookups, cacheHits: this.#cacheHits, skippedRecords: this.#skipped.count, activeWatches: this.#hub.activeWatches };
  }

  /** Stops every watch, cancels queries in flight and waits for them. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#hub.close();
      this.#resolver.cancel();
      while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    })();
    return this.#closing;
  }

  /** {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The cached answer while within its TTL, else one lookup shared by concurrent callers. */
  #lookup(service: string): Promise<Lookup> {
    const cached = this.#cache.get(service);
    if (cached !== undefined && Date.now() < cached.expiresAt) {
      this.#cacheHits++;
      return Promise.resolve(cached.lookup);
    }
    let pending = this.#pending.get(service);
    if (pending === undefined) {
      this.#lookups++;
      let firstSeen = this.#firstSeen.get(service);
      if (firstSeen === undefined) {
        firstSeen = new Map();
        this.#firstSeen.set(service, firstSeen);
      }
      const context = { resolver: this.#resolver as DnsResolver, settings: this.#settings, firstSeen, onSkipped: (error: MalformedRecordError) => this.#skip(error) };
      pending = lookupService(service, context)
        .then((lookup) => {
          this.#remember(service, { lookup, expiresAt: Date.now() + lookup.ttlMs });
          return lookup;
        })
        .finally(() => this.#pending.delete(service));
      this.#pending.set(service, pending);
    }
    return pending;
  }

  #remember(service: string, cached: Cached): void {
    this.#cache.delete(service);
    if (this.#cache.size >= CACHED_SERVICES) {
      const oldest = this.#cache.keys().next().value as string;
      this.#cache.delete(oldest);
      if (!this.#pending.has(oldest)) this.#firstSeen.delete(oldest);
    }
    this.#cache.set(service, cached);
  }

  async #watchLoop(service: string, sink: WatchSink, signal: AbortSignal): Promise<void> {
    const settings = this.#settings;
    const backoffFactory = new ExponentialBackoff({ initialDelay: settings.watchRetryInitialDelayMs, maxDelay: settings.watchRetryMaxDelayMs });
    let backoff: IBackoff<unknown> | undefined;
    let delivered: string | undefined;
    while (!signal.aborted) {
      try {
        const lookup = await this.#lookup(service);
        if (signal.aborted) return;
        const text = JSON.stringify(lookup.instances.map((i) => [i.id, i.weight, i.meta]));
        if (text !== delivered) {
          delivered = text;
          sink.change(lookup.instances);
        }
        if (backoff !== undefined) this.#log.info({ service }, `watch of ${service} recovered`);
        backoff = undefined;
        const expiresAt = this.#cache.get(service)?.expiresAt ?? Date.now() + lookup.ttlMs;
        await sleep(Math.max(settings.minTtlMs, expiresAt - Date.now()), signal);
      } catch (error) {
        if (signal.aborted) return;
        const failure = error instanceof Error ? error : new Error(messageOf(error));
        if (backoff === undefined) this.#log.warn({ service, err: failure }, `watch of ${service} failing, retrying with backoff: ${failure.message}`);
        backoff = backoff === undefined ? backoffFactory.next() : backoff.next(undefined);
        // Whatever changed during the outage arrives as one full list once a lookup succeeds.
        delivered = undefined;
        sink.error(failure);
        try {
          await sleep(backoff.duration, signal);
        } catch {
          return;
        }
      }
    }
  }

  #skip(error: MalformedRecordError): void {
    this.#skipped.report(error.message, { location: error.location }, `skipping a DNS record: ${error.message}`);
  }

  #track(work: Promise<unknown>): void {
    this.#inflight.add(work);
    void work.finally(() => this.#inflight.delete(work)).catch(() => {});
  }

  // Async like every remote call: validation failures reject, they never throw synchronously.
  async #run<T>(operation: () => Promise<T>): Promise<T> {
    await Promise.resolve();
    if (this.#closing !== undefined) throw new ClosedError('DnsBackend');
    const work = operation();
    this.#track(work);
    return work;
  }
}
