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
import { ClosedError, RegistryUnavailableError } from '../../core/errors.js';
import {
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
import { DRAIN_REASON, checkStatusFor, consulServiceId, heartbeatOutput, registrationBody, ttlCheckId } from './mapping.js';
import { resolveSettings, type ConsulBackendOptions, type ConsulSettings } from './options.js';
import { ConsulReads, enterpriseQuery, pathSegment, type SendOptions } from './reads.js';
import { AgentIdentity, ResetSignals } from './reset.js';
import { consulWatchSource } from './watch.js';

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
  readonly #reads: ConsulReads;
  readonly #malformedRecords: MalformedRecords;
  readonly #skippedNames: MalformedRecords;
  readonly #resets: ResetSignals;
  readonly #agent: AgentIdentity;
  readonly #target: RegistryTarget;
  #watchReconnects = 0;
  readonly #inflight = new Set<Promise<unknown>>();
  /** Consul ids this backend put in maintenance mode, so that a later non-draining renew takes them out. */
  readonly #draining = new Set<string>();
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
    this.#reads = new ConsulReads({
      settings: this.#settings,
      http: this.#http,
      log: this.#log,
      get: (operation, path, query, options) => this.#send(operation, 'GET', path, query, undefined, options),
      agent: this.#agent,
      resets: this.#resets,
      malformedRecords: this.#malformedRecords,
      skippedNames: this.#skippedNames,
    });
    const random = options.random ?? Math.random;
    this.#hub = new WatchHub(
      consulWatchSource({
        settings: this.#settings,
        logger: this.#log,
        random,
        read: (service, read) => this.#reads.health('watch', service, { ...read, service }),
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
      return (await this.#reads.health('instances', service, { service })).instances;
    });
  }

  services(): Promise<string[]> {
    return this.#run(() => this.#reads.services());
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

  async #confirmAgent(check: Promise<string | undefined>): Promise<void> {
    this.#resets.reportReasons([await check]);
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
    const withEnterprise = method === 'PUT' ? { ...query, ...enterpriseQuery(this.#settings) } : query;
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
