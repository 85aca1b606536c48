/**
 * A {@link RegistryBackend} over Consul's HTTP API. Writes go to the local agent (service
 * registration with a TTL check, heartbeats as check updates, drain as maintenance mode); reads
 * go through the health and catalog endpoints; watches are blocking queries shared per service.
 * See docs/backends/consul.md for the mapping and the Consul behaviour each rule follows.
 */
import type { Lease, RegistryBackend, RegistryReset, RenewResult, Unsubscribe, WatchHandlers } from '../backend.js';
import { MalformedRecords } from '../malformed-records.js';
import type { RegistryTarget } from '../../observability/channels.js';
import { observeRegistryCall } from '../../observability/registry-call.js';
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
import { ConsulHttp, consulIndex, type ConsulResponse } from './http.js';
import {
  DRAIN_REASON,
  checkStatusFor,
  consulServiceId,
  goDuration,
  heartbeatOutput,
  instanceFromHealthEntry,
  registrationBody,
  ttlCheckId,
  visibilityFilter,
} from './mapping.js';
import { resolveSettings, type ConsulBackendOptions, type ConsulSettings } from './options.js';
import { AgentIdentity, ResetSignals } from './reset.js';
import { consulWatchSource, type HealthRead } from './watch.js';

/** Cheap counters of a {@link ConsulBackend}. */
export interface ConsulBackendStats {
  /** Health entries skipped because they were not valid instances (each skip counts, also on re-reads). */
  readonly malformedRecords: number;
  /** Catalog service names skipped because rollcall cannot address them (each skip counts, also on re-reads). */
  readonly skippedServiceNames: number;
  /** Registry resets reported to `onReset` listeners. */
  readonly resets: number;
  /** Services with a blocking-query loop running. */
  readonly activeWatches: number;
  /** Times a failing blocking-query loop got an answer again. */
  readonly watchReconnects: number;
}

/** Options of one request besides its method, path, query and body. */
interface SendOptions {
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
  /** The service the request is about, for traces. */
  readonly service?: string | undefined;
}

/** Options of one health read: a watch's blocking query, or none for a plain read. */
interface HealthReadOptions extends SendOptions {
  readonly index?: bigint | undefined;
  readonly waitMs?: number | undefined;
}

const KIND = 'consul';
/** Health reads in flight at once while `services()` checks names one by one. */
const VERIFY_CONCURRENCY = 8;
/** go-bexpr's errors, at creation (every version) and at evaluation (v0.1.4 on), as Consul relays them. */
const FILTER_ERROR = /boolean expression evaluator|error finding value in datum|unable to find suitable primitive comparison|cannot perform .* operations/i;
/** A filter no service matches, in a form every go-bexpr version accepts: tells whether the agent applies `filter` at all. */
const MATCH_NOTHING = 'ServiceName == "rollcall" and ServiceName != "rollcall"';

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
  readonly #skippedNames: MalformedRecords;
  readonly #resets: ResetSignals;
  readonly #agent: AgentIdentity;
  readonly #target: RegistryTarget;
  #watchReconnects = 0;
  readonly #inflight = new Set<Promise<unknown>>();
  /** Consul ids this backend put in maintenance mode, so that a later non-draining renew takes them out. */
  readonly #draining = new Set<string>();
  /** False once the agent refused the health filter: reads then filter client-side only. */
  #healthFilter = true;
  /** Whether `/v1/catalog/services` applies `filter` (Consul 1.14 on); `client` when it does not, or refused it. */
  #catalogFilter: 'unknown' | 'honored' | 'client' = 'unknown';
  #closing: Promise<void> | undefined;

  constructor(options: ConsulBackendOptions = {}) {
    this.#settings = resolveSettings(options);
    this.#log = loggerOption(options.logger, 'logger', { component: 'consul-backend' });
    this.#malformedRecords = new MalformedRecords(this.#log);
    this.#skippedNames = new MalformedRecords(this.#log);
    this.#resets = new ResetSignals(this.#log);
    this.#http = new ConsulHttp(this.#settings);
    this.#target = targetOf(this.#settings);
    this.#agent = new AgentIdentity(() => this.#send('agent self', 'GET', '/v1/agent/self'), this.#log);
    const random = options.random ?? Math.random;
    this.#hub = new WatchHub(
      consulWatchSource({
        settings: this.#settings,
        logger: this.#log,
        random,
        read: (service, read) => this.#readHealth('watch', service, { ...read, service }),
        track: (loop) => this.#track(loop),
        reconnected: () => void this.#watchReconnects++,
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
      const agentCheck = this.#agent.check();
      const request = { operation: 'register', path: '/v1/agent/service/register', instance: valid, ttlMs: lease.ttlMs };
      // No replace-existing-checks: it would also delete `_service_maintenance:<id>`, ending an
      // operator's `consul maint` (and our own drain) without a word. The TTL check keeps its id.
      const response = await this.#send('register', 'PUT', request.path, {}, body, { service: valid.service });
      if (response.status !== 200) throw this.#http.failure(request, response);
      // Consul keeps the status an existing check had (addServiceInternal restores it), so a
      // re-registration says the current one at once rather than at the next heartbeat.
      const update = await this.#updateCheck('register', valid.service, id, valid.status);
      if (update.status === 404) throw new RegistryUnavailableError(KIND, 'register', `Consul lost service ${id} right after registering it`);
      if (update.status !== 200) throw this.#http.failure({ ...request, status: valid.status }, update);
      if (valid.status === 'draining' || this.#draining.has(id)) {
        if (!(await this.#maintenance('register', valid.service, id, valid.status === 'draining'))) {
          throw new RegistryUnavailableError(KIND, 'register', `Consul lost service ${id} right after registering it`);
        }
      }
      await this.#confirmAgent(agentCheck);
    });
  }

  renew(ref: InstanceRef, status: InstanceStatus): Promise<RenewResult> {
    return this.#run(async () => {
      assertInstanceRef(ref);
      assertInstanceStatus(status);
      const id = consulServiceId(this.#settings.namespace, ref);
      const response = await this.#updateCheck('renew', ref.service, id, status);
      // 404: unknown check (agent restarted without state, instance reaped). 500 "does not have
      // associated TTL": what agents before 1.11 answer for an unknown check.
      if (response.status === 404 || (response.status === 500 && response.body.includes('does not have associated TTL'))) {
        this.#draining.delete(id);
        // Perhaps the agent restarted without its data: the next read checks its node id.
        this.#agent.suspect();
        return 'lost';
      }
      if (response.status !== 200) throw this.#http.failure({ operation: 'renew', path: `/v1/agent/check/update/${ttlCheckId(id)}`, status }, response);
      const draining = status === 'draining';
      if (draining !== this.#draining.has(id) && !(await this.#maintenance('renew', ref.service, id, draining))) return 'lost';
      return 'renewed';
    });
  }

  deregister(ref: InstanceRef): Promise<void> {
    return this.#run(async () => {
      assertInstanceRef(ref);
      const id = consulServiceId(this.#settings.namespace, ref);
      const path = `/v1/agent/service/deregister/${pathSegment(id)}`;
      const response = await this.#send('deregister', 'PUT', path, {}, undefined, { service: ref.service });
      // Modern agents answer 404 for an unknown id; deregistering is idempotent.
      if (response.status !== 200 && response.status !== 404) throw this.#http.failure({ operation: 'deregister', path }, response);
      this.#draining.delete(id);
    });
  }

  instances(service: string): Promise<ServiceInstance[]> {
    return this.#run(async () => {
      assertServiceName(service);
      return (await this.#readHealth('instances', service, { service })).instances;
    });
  }

  services(): Promise<string[]> {
    return this.#run(async () => {
      const names = await this.#catalogNames(this.#agent.check());
      if (names.length === 0) return [];
      if (this.#catalogFilter === 'unknown') this.#catalogFilter = await this.#probeCatalogFilter();
      if (this.#catalogFilter === 'honored') return names.sort();
      // The agent listed every service it knows: keep those with an instance in this backend's view.
      const visible = await mapLimit(names, VERIFY_CONCURRENCY, async (name) => (await this.#readHealth('services', name, { service: name })).instances.length > 0);
      return names.filter((_, index) => visible[index]).sort();
    });
  }

  watch(service: string, handlers: WatchHandlers): Unsubscribe {
    if (this.#closing !== undefined) throw new ClosedError('ConsulBackend');
    assertServiceName(service);
    return this.#hub.subscribe(service, handlers);
  }

  /**
   * Tells `listener` when Consul lost registry data: an `X-Consul-Index` that went backwards (a
   * snapshot restore, servers restarted without data) or the local agent restarted without its
   * data (a new node id). Called before the first listing read after the loss is returned or pushed.
   */
  onReset(listener: (reset: RegistryReset) => void): Unsubscribe {
    return this.#resets.subscribe(listener);
  }

  /** Number of services this backend is watching (one blocking query each). */
  get activeWatches(): number {
    return this.#hub.activeWatches;
  }

  stats(): ConsulBackendStats {
    return {
      malformedRecords: this.#malformedRecords.count,
      skippedServiceNames: this.#skippedNames.count,
      resets: this.#resets.count,
      activeWatches: this.#hub.activeWatches,
      watchReconnects: this.#watchReconnects,
    };
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

  /** {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * One `/v1/health/service/:name` read with this backend's view, shared by `instances()`, the
   * watch and `services()`: falls back to client-side filtering when the agent refuses the filter,
   * and reports a {@link RegistryReset} before returning the first listing read after a loss.
   */
  async #readHealth(operation: string, service: string, read: HealthReadOptions): Promise<HealthRead> {
    const path = `/v1/health/service/${pathSegment(service)}`;
    const agentCheck = this.#agent.check();
    const ticket = this.#resets.ticket();
    const blocking = read.index === undefined ? {} : { index: String(read.index), wait: read.waitMs === undefined ? undefined : goDuration(read.waitMs) };
    const get = (withFilter: boolean): Promise<ConsulResponse> =>
      this.#send(operation, 'GET', path, { ...this.#readQuery('health', withFilter), ...blocking }, undefined, read);
    const filtered = this.#healthFilter;
    let response = await get(filtered);
    if (filtered && isFilterRejection(response)) {
      if (this.#healthFilter) {
        this.#healthFilter = false;
        this.#log.warn(
          { status: response.status },
          `Consul refused rollcall's filter (${this.#http.redact(response.body.trim()).slice(0, 200)}); filtering instances client-side from now on`,
        );
      }
      response = await get(false);
    }
    if (response.status !== 200) throw this.#http.failure({ operation, path }, response);
    const instances = this.#parseHealth(service, response.body);
    const index = consulIndex(response);
    const key = `health ${service}`;
    this.#reportLoss([this.#resets.observeIndex(key, index, ticket, path), await agentCheck], { key, index });
    return { instances, index, body: response.body };
  }

  /** Service names of `/v1/catalog/services` that rollcall can address; the others are skipped, logged once and counted. */
  async #catalogNames(agentCheck: Promise<string | undefined>): Promise<string[]> {
    const path = '/v1/catalog/services';
    const ticket = this.#resets.ticket();
    const get = (withFilter: boolean): Promise<ConsulResponse> => this.#send('services', 'GET', path, this.#catalogQuery(withFilter));
    const filtered = this.#catalogFilter !== 'client';
    let response = await get(filtered);
    if (filtered && isFilterRejection(response)) {
      if (this.#catalogFilter !== 'client') this.#switchCatalogToClient(`Consul refused rollcall's filter on ${path}`);
      response = await get(false);
    }
    if (response.status !== 200) throw this.#http.failure({ operation: 'services', path }, response);
    const parsed = parseJson(response.body, 'services');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new RegistryUnavailableError(KIND, 'services', `Consul answered ${path} with something other than a JSON object`);
    }
    const index = consulIndex(response);
    this.#reportLoss([this.#resets.observeIndex('catalog services', index, ticket, path), await agentCheck], { key: 'catalog services', index });
    return Object.keys(parsed).filter((name) => {
      if (SERVICE_NAME_PATTERN.test(name)) return true;
      const shown = JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
      this.#skippedNames.report(`name ${name}`, { name: shown }, `skipping Consul service ${shown}: not a name rollcall can address (letters, digits, "-", "_", "." up to 128 characters)`);
      return false;
    });
  }

  /** Asks for a filter nothing matches: an agent that still lists services ignores `filter` there (before Consul 1.14). */
  async #probeCatalogFilter(): Promise<'honored' | 'client'> {
    const response = await this.#send('services', 'GET', '/v1/catalog/services', { ...this.#catalogQuery(false), filter: MATCH_NOTHING });
    if (response.status === 200 && /^\s*\{\s*\}\s*$/.test(response.body)) return 'honored';
    if (response.status !== 200 && !isFilterRejection(response)) throw this.#http.failure({ operation: 'services', path: '/v1/catalog/services' }, response);
    this.#switchCatalogToClient('Consul ignores `filter` on /v1/catalog/services (agents before 1.14)');
    return 'client';
  }

  #switchCatalogToClient(why: string): void {
    this.#catalogFilter = 'client';
    this.#log.info({}, `${why}: services() checks each listed service's instances instead (one health read per service)`);
  }

  async #confirmAgent(check: Promise<string | undefined>): Promise<void> {
    this.#reportLoss([await check]);
  }

  /** One {@link RegistryReset} for everything one read showed, before the read's listing goes anywhere. */
  #reportLoss(reasons: readonly (string | undefined)[], read?: { readonly key: string; readonly index: bigint }): void {
    const shown = reasons.filter((reason): reason is string => reason !== undefined);
    if (shown.length > 0) this.#resets.report({ reason: shown.join('; ') }, read);
  }

  #updateCheck(operation: string, service: string, id: string, status: InstanceStatus): Promise<ConsulResponse> {
    const body = { Status: checkStatusFor(status), Output: heartbeatOutput(status) };
    return this.#send(operation, 'PUT', `/v1/agent/check/update/${pathSegment(ttlCheckId(id))}`, {}, body, { service });
  }

  /** Enables or disables maintenance mode; false when Consul no longer knows the service. */
  async #maintenance(operation: string, service: string, id: string, enable: boolean): Promise<boolean> {
    const query = enable ? { enable: 'true', reason: DRAIN_REASON } : { enable: 'false' };
    const path = `/v1/agent/service/maintenance/${pathSegment(id)}`;
    const response = await this.#send(operation, 'PUT', path, query, undefined, { service });
    if (response.status === 404) {
      this.#draining.delete(id);
      return false;
    }
    if (response.status !== 200) throw this.#http.failure({ operation, path }, response);
    if (enable) this.#draining.add(id);
    else this.#draining.delete(id);
    return true;
  }

  #readQuery(endpoint: 'health' | 'catalog', withFilter: boolean): Record<string, string | undefined> {
    const settings = this.#settings;
    return {
      filter: withFilter ? visibilityFilter(endpoint, { namespace: settings.namespace, tags: settings.tags, kinds: settings.serviceKinds }) : undefined,
      dc: settings.datacenter,
      passing: settings.passingOnly && endpoint === 'health' ? '' : undefined,
      ...this.#enterpriseQuery(),
    };
  }

  #catalogQuery(withFilter: boolean): Record<string, string | undefined> {
    return this.#readQuery('catalog', withFilter);
  }

  #enterpriseQuery(): Record<string, string | undefined> {
    return { ns: this.#settings.consulNamespace, partition: this.#settings.partition };
  }

  /**
   * Sends one request, reported on the registry-call channel (a 4xx other than 404, or a 5xx, is
   * an `error` outcome); a request that never reached the agent may mean it restarted, which the
   * next read checks.
   */
  async #send(
    operation: string,
    method: 'GET' | 'PUT',
    path: string,
    query: Record<string, string | undefined> = {},
    body?: unknown,
    options: SendOptions = {},
  ): Promise<ConsulResponse> {
    const withEnterprise = method === 'PUT' ? { ...query, ...this.#enterpriseQuery() } : query;
    try {
      return await observeRegistryCall(
        this.#target,
        { operation, service: options.service, request: { method, path } },
        () => this.#http.send(operation, method, path, { query: withEnterprise, body, signal: options.signal, timeoutMs: options.timeoutMs }),
        (response) => ({ outcome: response.status < 400 || response.status === 404 ? 'ok' : 'error', statusCode: response.status }),
      );
    } catch (error) {
      if (error instanceof RegistryUnavailableError) this.#agent.suspect();
      throw error;
    }
  }

  #parseHealth(service: string, body: string): ServiceInstance[] {
    const parsed = parseJson(body, 'instances');
    if (!Array.isArray(parsed)) {
      throw new RegistryUnavailableError(KIND, 'instances', `Consul answered /v1/health/service/${service} with something other than a JSON array`);
    }
    const settings = this.#settings;
    const context = { service, namespace: settings.namespace, tags: settings.tags, kinds: settings.serviceKinds, now: Date.now() };
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

/** Where requests go, for tracing: the agent's host and port, or its socket path. */
function targetOf(settings: ConsulSettings): RegistryTarget {
  if (settings.socketPath !== undefined) return { backend: KIND, address: settings.socketPath, port: undefined };
  const url = new URL(settings.origin);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return { backend: KIND, address: url.hostname.replace(/^\[|\]$/g, ''), port };
}

/** A 400 or 500 whose text is go-bexpr's: the agent cannot evaluate the filter, the request itself is fine. */
function isFilterRejection(response: ConsulResponse): boolean {
  return (response.status === 400 || response.status === 500) && FILTER_ERROR.test(response.body);
}

/** `work` over `items` with at most `limit` in flight; results in the items' order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
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
