/**
 * A {@link RegistryBackend} over Consul's HTTP API. Writes go to the local agent (service
 * registration with a TTL check, heartbeats as check updates, drain as maintenance mode); reads
 * go through the health and catalog endpoints; watches are blocking queries shared per service.
 * See docs/backends/consul.md for the mapping.
 */
import type { Lease, RegistryBackend, RenewResult, Unsubscribe, WatchHandlers } from '../backend.js';
import { MalformedRecords } from '../malformed-records.js';
import { WatchHub } from '../watch-hub.js';
import { ClosedError, MalformedRecordError, RegistryUnavailableError } from '../../core/errors.js';
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
import { loggerOption, type Logger } from '../../core/logger.js';
import { ConsulHttp, type ConsulResponse } from './http.js';
import {
  DRAIN_REASON,
  checkStatusFor,
  consulServiceId,
  heartbeatOutput,
  instanceFromHealthEntry,
  registrationBody,
  ttlCheckId,
  visibilityFilter,
} from './mapping.js';
import { resolveSettings, type ConsulBackendOptions, type ConsulSettings } from './options.js';
import { consulWatchSource } from './watch.js';

/** Cheap counters of a {@link ConsulBackend}. */
export interface ConsulBackendStats {
  /** Health entries skipped because they were not valid instances (each skip counts, also on re-reads). */
  readonly malformedRecords: number;
  /** Services with a blocking-query loop running. */
  readonly activeWatches: number;
}

const KIND = 'consul';

/**
 * rollcall's backend for Consul.
 *
 * @example
 * const backend = new ConsulBackend({ address: 'http://127.0.0.1:8500', token: process.env.CONSUL_TOKEN });
 * const registration = await autoRegister({ backend, service: 'orders', port: 8080 });
 */
export class ConsulBackend implements RegistryBackend {
  readonly kind = KIND;
  readonly #settings: ConsulSettings;
  readonly #http: ConsulHttp;
  readonly #hub: WatchHub;
  readonly #log: Logger;
  readonly #malformedRecords: MalformedRecords;
  readonly #inflight = new Set<Promise<unknown>>();
  /** Consul ids this backend put in maintenance mode, so that a later non-draining renew takes them out. */
  readonly #draining = new Set<string>();
  #closing: Promise<void> | undefined;

  constructor(options: ConsulBackendOptions = {}) {
    this.#settings = resolveSettings(options);
    this.#log = loggerOption(options.logger, 'logger', { component: 'consul-backend' });
    this.#malformedRecords = new MalformedRecords(this.#log);
    this.#http = new ConsulHttp(this.#settings);
    const random = options.random ?? Math.random;
    this.#hub = new WatchHub(
      consulWatchSource({
        http: this.#http,
        settings: this.#settings,
        logger: this.#log,
        random,
        readQuery: () => this.#readQuery('health'),
        parse: (service, body) => this.#parseHealth(service, body),
        track: (loop) => this.#track(loop),
      }),
      (error) => this.#log.error({ err: error }, 'watch subscriber threw'),
    );
  }

  /** The rollcall namespace this backend reads and writes, if any. */
  get namespace(): string | undefined {
    return this.#settings.namespace;
  }

  register(instance: ServiceInstance, lease: Lease): Promise<void> {
    return this.#run(async () => {
      const valid = createInstance(instance, Date.now());
      assertTtl(lease?.ttlMs, 'lease.ttlMs');
      const body = registrationBody(valid, {
        namespace: this.#settings.namespace,
        ttlMs: lease.ttlMs,
        deregisterCriticalAfterMs: this.#settings.deregisterCriticalAfterMs,
      });
      const id = consulServiceId(this.#settings.namespace, valid);
      // replace-existing-checks: a re-registration leaves exactly one TTL check, whatever was there.
      const response = await this.#send('register', 'PUT', '/v1/agent/service/register', { 'replace-existing-checks': 'true' }, body);
      if (response.status !== 200) throw this.#http.failure('register', response);
      if (valid.status === 'draining' || this.#draining.has(id)) {
        if (!(await this.#maintenance('register', id, valid.status === 'draining'))) {
          throw new RegistryUnavailableError(KIND, 'register', `Consul lost service ${id} right after registering it`);
        }
      }
    });
  }

  renew(ref: InstanceRef, status: InstanceStatus): Promise<RenewResult> {
    return this.#run(async () => {
      assertInstanceRef(ref);
      assertInstanceStatus(status);
      const id = consulServiceId(this.#settings.namespace, ref);
      const response = await this.#send('renew', 'PUT', `/v1/agent/check/update/${pathSegment(ttlCheckId(id))}`, {}, {
        Status: checkStatusFor(status),
        Output: heartbeatOutput(status),
      });
      // 404: unknown check (agent restarted without state, instance reaped). 500 "does not have
      // associated TTL": what agents before 1.11 answer for an unknown check.
      if (response.status === 404 || (response.status === 500 && response.body.includes('does not have associated TTL'))) {
        this.#draining.delete(id);
        return 'lost';
      }
      if (response.status !== 200) throw this.#http.failure('renew', response);
      const draining = status === 'draining';
      if (draining !== this.#draining.has(id) && !(await this.#maintenance('renew', id, draining))) return 'lost';
      return 'renewed';
    });
  }

  deregister(ref: InstanceRef): Promise<void> {
    return this.#run(async () => {
      assertInstanceRef(ref);
      const id = consulServiceId(this.#settings.namespace, ref);
      const response = await this.#send('deregister', 'PUT', `/v1/agent/service/deregister/${pathSegment(id)}`);
      // Modern agents answer 404 for an unknown id; deregistering is idempotent.
      if (response.status !== 200 && response.status !== 404) throw this.#http.failure('deregister', response);
      this.#draining.delete(id);
    });
  }

  instances(service: string): Promise<ServiceInstance[]> {
    return this.#run(async () => {
      assertServiceName(service);
      const response = await this.#send('instances', 'GET', `/v1/health/service/${service}`, this.#readQuery('health'));
      if (response.status !== 200) throw this.#http.failure('instances', response);
      return this.#parseHealth(service, response.body);
    });
  }

  services(): Promise<string[]> {
    return this.#run(async () => {
      const query = { ...this.#readQuery('catalog'), passing: undefined };
      const response = await this.#send('services', 'GET', '/v1/catalog/services', query);
      if (response.status !== 200) throw this.#http.failure('services', response);
      const parsed = parseJson(response.body, 'services');
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new RegistryUnavailableError(KIND, 'services', 'Consul answered /v1/catalog/services with something other than a JSON object');
      }
      // Consul accepts names rollcall cannot address (upper case, dots); those are not rollcall services.
      return Object.keys(parsed).filter((name) => SERVICE_NAME_PATTERN.test(name)).sort();
    });
  }

  watch(service: string, handlers: WatchHandlers): Unsubscribe {
    if (this.#closing !== undefined) throw new ClosedError('ConsulBackend');
    assertServiceName(service);
    return this.#hub.subscribe(service, handlers);
  }

  /** Number of services this backend is watching (one blocking query each). */
  get activeWatches(): number {
    return this.#hub.activeWatches;
  }

  stats(): ConsulBackendStats {
    return { malformedRecords: this.#malformedRecords.count, activeWatches: this.#hub.activeWatches };
  }

  /** Aborts every long poll at once, waits for other in-flight requests, then drops all connections. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#hub.close();
      while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
      await this.#http.close();
    })();
    return this.#closing;
  }

  /** Enables or disables maintenance mode; false when Consul no longer knows the service. */
  async #maintenance(operation: string, id: string, enable: boolean): Promise<boolean> {
    const query = enable ? { enable: 'true', reason: DRAIN_REASON } : { enable: 'false' };
    const response = await this.#send(operation, 'PUT', `/v1/agent/service/maintenance/${pathSegment(id)}`, query);
    if (response.status === 404) {
      this.#draining.delete(id);
      return false;
    }
    if (response.status !== 200) throw this.#http.failure(operation, response);
    if (enable) this.#draining.add(id);
    else this.#draining.delete(id);
    return true;
  }

  #readQuery(endpoint: 'health' | 'catalog'): Record<string, string | undefined> {
    const settings = this.#settings;
    return {
      filter: visibilityFilter(endpoint, settings.namespace, settings.tags),
      dc: settings.datacenter,
      passing: settings.passingOnly ? '' : undefined,
      ...this.#enterpriseQuery(),
    };
  }

  #enterpriseQuery(): Record<string, string | undefined> {
    return { ns: this.#settings.consulNamespace, partition: this.#settings.partition };
  }

  #send(
    operation: string,
    method: 'GET' | 'PUT',
    path: string,
    query: Record<string, string | undefined> = {},
    body?: unknown,
  ): Promise<ConsulResponse> {
    const withEnterprise = method === 'PUT' ? { ...query, ...this.#enterpriseQuery() } : query;
    return this.#http.send(operation, method, path, { query: withEnterprise, body });
  }

  #parseHealth(service: string, body: string): ServiceInstance[] {
    const parsed = parseJson(body, 'instances');
    if (!Array.isArray(parsed)) {
      throw new RegistryUnavailableError(KIND, 'instances', `Consul answered /v1/health/service/${service} with something other than a JSON array`);
    }
    const context = { service, namespace: this.#settings.namespace, tags: this.#settings.tags, now: Date.now() };
    const instances: ServiceInstance[] = [];
    for (const entry of parsed) {
      try {
        const instance = instanceFromHealthEntry(entry, context);
        if (instance !== undefined) instances.push(instance);
      } catch (error) {
        if (!(error instanceof MalformedRecordError)) throw error;
        this.#malformed(error);
      }
    }
    return instances;
  }

  #malformed(error: MalformedRecordError): void {
    this.#malformedRecords.report(error.message, { location: error.location }, `skipping a Consul entry that is not a valid instance: ${error.message}`);
  }

  #track(work: Promise<unknown>): void {
    this.#inflight.add(work);
    void work.finally(() => this.#inflight.delete(work)).catch(() => {});
  }

  // Async like every remote call: validation failures reject, they never throw synchronously.
  async #run<T>(operation: () => Promise<T>): Promise<T> {
    await Promise.resolve();
    if (this.#closing !== undefined) throw new ClosedError('ConsulBackend');
    const work = operation();
    this.#track(work);
    return work;
  }
}

function parseJson(body: string, operation: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new RegistryUnavailableError(KIND, operation, 'Consul answered with a body that is not JSON');
  }
}

// Instance ids may hold `:` (safe in a path); anything else unusual is escaped.
function pathSegment(id: string): string {
  return encodeURIComponent(id).replaceAll('%3A', ':');
}
