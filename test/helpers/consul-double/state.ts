/**
 * The double's agent and catalog in one process: services, checks, a raft-like index, TTL
 * expiry, the critical-service reaper and what wakes blocking queries. No HTTP here; the server
 * validates requests and formats answers.
 *
 * Deliberate simplifications (see docs/backends/consul.md): one node, which is both the agent
 * and the catalog (registrations reach the catalog at once instead of by anti-entropy); script,
 * HTTP and TCP checks are stored but never run.
 */
import { randomUUID } from 'node:crypto';
import type { CheckDefinition, ProxyDefinition } from './decode.js';

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface ServiceRecord {
  readonly id: string;
  readonly name: string;
  readonly tags: readonly string[];
  readonly address: string;
  readonly taggedAddresses: Readonly<Record<string, { Address: string; Port: number }>>;
  readonly meta: Readonly<Record<string, string>>;
  readonly port: number;
  readonly weights: { readonly Passing: number; readonly Warning: number };
  readonly enableTagOverride: boolean;
  readonly kind: string;
  readonly proxy: ProxyDefinition;
  readonly connectNative: boolean;
  readonly namespace: string;
  readonly partition: string;
  /** Registered through this agent's API (the `consul` service of the servers is not). */
  readonly local: boolean;
  /** Id of the service whose `Connect.SidecarService` this is (`LocallyRegisteredAsSidecar`). */
  readonly sidecarOf: string | undefined;
  createIndex: number;
  modifyIndex: number;
}

export interface CheckRecord {
  readonly checkId: string;
  readonly name: string;
  readonly notes: string;
  readonly serviceId: string;
  readonly serviceName: string;
  readonly type: string;
  readonly namespace: string;
  readonly partition: string;
  readonly definition: CheckDefinition | undefined;
  /** The agent's `checkReapAfter`: DeregisterCriticalServiceAfter raised to the minimum. */
  readonly reapAfterMs: number;
  readonly outputMaxSize: number;
  status: CheckStatus;
  /** Latest output, as the agent's own endpoints show it. */
  output: string;
  /** Output as the catalog has it: output-only changes reach it after `checkUpdateIntervalMs`. */
  syncedOutput: string;
  /**
   * `CheckState.CriticalTime`: set by the first update that reports critical (a heartbeat, a TTL
   * expiry), cleared by any other, and zero for a check that was just (re-)added, whatever its
   * status (agent/local/state.go). The reaper only counts checks with a critical time.
   */
  criticalSince: number | undefined;
  createIndex: number;
  modifyIndex: number;
  ttlTimer: NodeJS.Timeout | undefined;
  deferTimer: NodeJS.Timeout | undefined;
}

export interface StateOptions {
  readonly datacenter: string;
  readonly nodeName: string;
  readonly nodeAddress: string;
  /** Consul's `check_reap_interval` (30 s): how often critical services are reaped. */
  readonly reapIntervalMs: number;
  /** Consul's `check_deregister_interval_min` (1 min): the floor of DeregisterCriticalServiceAfter. */
  readonly deregisterCriticalMinMs: number;
  /** Consul's `check_update_interval` (5 min): delay before output-only changes reach the catalog. */
  readonly checkUpdateIntervalMs: number;
  readonly now: () => number;
}

export interface NewCheck {
  readonly checkId: string;
  readonly name: string;
  readonly notes: string;
  readonly status: CheckStatus;
  /** Output carried over from the check this one replaces. */
  readonly output?: string | undefined;
  readonly type: string;
  readonly definition: CheckDefinition | undefined;
}

const NO_PROXY: ProxyDefinition = { destinationServiceName: '', destinationServiceId: '', localServiceAddress: '', localServicePort: 0 };

const DEFAULT_OUTPUT_MAX_SIZE = 4_096;
const MAINTENANCE_PREFIX = '_service_maintenance:';
const DEFAULT_MAINTENANCE_REASON =
  'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

export function recordKey(partition: string, namespace: string, id: string): string {
  return `${partition}/${namespace}/${id}`;
}

export class ConsulState {
  readonly options: StateOptions;
  /** The agent's node id (agent/nodeid.go): kept in its data directory, new after a restart without it. */
  nodeId = randomUUID();
  readonly services = new Map<string, ServiceRecord>();
  /** Service checks by recordKey(partition, namespace, checkId). */
  readonly checks = new Map<string, CheckRecord>();
  /** Node-level checks (serfHealth), not namespaced. */
  readonly nodeChecks = new Map<string, CheckRecord>();
  /** Services reaped by the critical-service reaper, in order, for tests. */
  readonly reaped: string[] = [];
  #index: number;
  readonly #serviceIndexes = new Map<string, number>();
  #servicesTableIndex: number;
  #nodesIndex = 10;
  #lastExtinction: number;
  readonly #listeners = new Set<(abandon: boolean) => void>();
  readonly #reaper: NodeJS.Timeout;

  constructor(options: StateOptions) {
    this.options = options;
    // As a fresh dev agent: the node, the servers' `consul` service and serfHealth are in the catalog.
    this.#index = 10;
    this.services.set(recordKey('default', 'default', 'consul'), {
      id: 'consul',
      name: 'consul',
      tags: [],
      address: '',
      taggedAddresses: {},
      meta: { raft_version: '3', serf_protocol_current: '2', serf_protocol_max: '5', serf_protocol_min: '1', version: '1.17.0' },
      port: 8300,
      weights: { Passing: 1, Warning: 1 },
      enableTagOverride: false,
      kind: '',
      proxy: NO_PROXY,
      connectNative: false,
      namespace: 'default',
      partition: 'default',
      local: false,
      sidecarOf: undefined,
      createIndex: 11,
      modifyIndex: 11,
    });
    this.nodeChecks.set('serfHealth', this.#newCheckRecord(
      { checkId: 'serfHealth', name: 'Serf Health Status', notes: '', status: 'passing', type: '', definition: undefined },
      { id: '', name: '', namespace: 'default', partition: 'default' },
      12,
    ));
    const serfHealth = this.nodeChecks.get('serfHealth') as CheckRecord;
    serfHealth.output = serfHealth.syncedOutput = 'Agent alive and reachable';
    this.#index = 12;
    this.#serviceIndexes.set(serviceKey('default', 'default', 'consul'), 12);
    this.#servicesTableIndex = 12;
    this.#lastExtinction = 12;
    this.#reaper = setInterval(() => this.#reap(), options.reapIntervalMs);
    this.#reaper.unref();
  }

  /** The raft index of the last write. */
  get index(): number {
    return this.#index;
  }

  /** `X-Consul-Index` of `/v1/health/service/:name` and `/v1/catalog/service/:name`. */
  serviceIndex(partition: string, namespace: string, name: string): number {
    return this.#serviceIndexes.get(serviceKey(partition, namespace, name)) ?? this.#lastExtinction;
  }

  /** `X-Consul-Index` of `/v1/catalog/nodes`: the node was last written when it registered, or re-registered with a new id. */
  get nodesIndex(): number {
    return this.#nodesIndex;
  }

  /** `X-Consul-Index` of `/v1/catalog/services`. */
  get servicesTableIndex(): number {
    return this.#servicesTableIndex;
  }

  /** Called after every write (`abandon` false) and on a simulated snapshot restore (`abandon` true). */
  subscribe(listener: (abandon: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  service(partition: string, namespace: string, id: string): ServiceRecord | undefined {
    return this.services.get(recordKey(partition, namespace, id));
  }

  check(partition: string, namespace: string, checkId: string): CheckRecord | undefined {
    return this.checks.get(recordKey(partition, namespace, checkId)) ?? (namespace === 'default' ? this.nodeChecks.get(checkId) : undefined);
  }

  /** Checks of one service, in registration order. */
  checksOf(service: ServiceRecord): CheckRecord[] {
    return [...this.checks.values()].filter(
      (check) => check.serviceId === service.id && check.namespace === service.namespace && check.partition === service.partition,
    );
  }

  /**
   * Adds or replaces a service with its checks, as `addServiceInternal` and the local state do:
   * a check that already exists keeps its status and output (the body's status only applies to
   * new checks), `replaceExistingChecks` removes every other check of the service (maintenance
   * included), and a registration identical to what is stored writes nothing to the catalog, so
   * the index does not move (`InSync` from `IsSame`). Re-added checks restart their TTL and their
   * critical time.
   */
  addService(
    definition: Omit<ServiceRecord, 'createIndex' | 'modifyIndex' | 'local'>,
    checks: readonly NewCheck[],
    replaceExistingChecks: boolean,
  ): void {
    const key = recordKey(definition.partition, definition.namespace, definition.id);
    const previous = this.services.get(key);
    const kept = new Set(checks.map((check) => check.checkId));
    const dropped = previous !== undefined && replaceExistingChecks ? this.checksOf(previous).filter((check) => !kept.has(check.checkId)) : [];
    const existing = checks.map((check) => this.checks.get(recordKey(definition.partition, definition.namespace, check.checkId)));
    const restored = checks.map((check, position) => {
      const before = existing[position];
      return before === undefined ? check : { ...check, status: before.status, output: before.output };
    });
    const unchanged =
      previous !== undefined &&
      sameService(previous, definition) &&
      dropped.length === 0 &&
      restored.every((check, position) => {
        const before = existing[position];
        return before !== undefined && before.serviceId === definition.id && sameCheck(before, check);
      });
    const index = unchanged ? (previous.modifyIndex) : this.#next();
    const record: ServiceRecord = {
      ...definition,
      local: true,
      createIndex: previous?.createIndex ?? index,
      modifyIndex: unchanged ? previous.modifyIndex : index,
    };
    if (previous !== undefined && previous.name !== record.name) this.#touchService(previous, index);
    this.services.set(key, record);
    for (const check of dropped) this.#removeCheck(check);
    restored.forEach((check, position) => {
      const before = existing[position];
      if (before !== undefined) this.#removeCheck(before);
      const created = this.#newCheckRecord(check, record, before?.modifyIndex ?? index);
      if (before !== undefined) {
        created.createIndex = before.createIndex;
        created.syncedOutput = before.syncedOutput;
        if (!unchanged) created.modifyIndex = index;
      }
      this.checks.set(recordKey(record.partition, record.namespace, check.checkId), created);
    });
    if (unchanged) return;
    this.#touchService(record, index);
    this.#servicesTableIndex = index;
    this.#emit(false);
  }

  /** Removes a service and its checks. */
  removeService(service: ServiceRecord): void {
    const index = this.#next();
    this.#remove(service, index);
    this.#emit(false);
  }

  /** Removes one check (`/v1/agent/check/deregister/:id`). */
  removeCheck(check: CheckRecord): void {
    const index = this.#next();
    this.#removeCheck(check);
    check.modifyIndex = index;
    const service = check.serviceId === '' ? undefined : this.service(check.partition, check.namespace, check.serviceId);
    if (service !== undefined) this.#touchService(service, index);
    this.#emit(false);
  }

  /** Adds a check to an existing service or the node (`/v1/agent/check/register`). */
  addCheck(check: NewCheck, service: ServiceRecord | undefined, namespace: string, partition: string): void {
    const index = this.#next();
    const owner = service ?? { id: '', name: '', namespace, partition };
    const key = recordKey(partition, namespace, check.checkId);
    const existing = this.checks.get(key);
    if (existing !== undefined) this.#removeCheck(existing);
    this.checks.set(key, this.#newCheckRecord(check, owner, index));
    if (service !== undefined) this.#touchService(service, index);
    this.#emit(false);
  }

  /**
   * `CheckTTL.SetStatus` plus the local state's sync rules: the TTL restarts; a status change
   * reaches the catalog at once, an output-only change after `checkUpdateIntervalMs`.
   */
  updateTtl(check: CheckRecord, status: CheckStatus, output: string): void {
    this.#armTtl(check);
    this.#setStatus(check, status, truncate(output, check.outputMaxSize));
  }

  setMaintenance(service: ServiceRecord, enable: boolean, reason: string): void {
    const key = recordKey(service.partition, service.namespace, `${MAINTENANCE_PREFIX}${service.id}`);
    const existing = this.checks.get(key);
    if (enable === (existing !== undefined)) return;
    const index = this.#next();
    if (existing !== undefined) {
      this.#removeCheck(existing);
    } else {
      const check = this.#newCheckRecord(
        {
          checkId: `${MAINTENANCE_PREFIX}${service.id}`,
          name: 'Service Maintenance Mode',
          notes: reason === '' ? DEFAULT_MAINTENANCE_REASON : reason,
          status: 'critical',
          type: 'maintenance',
          definition: undefined,
        },
        service,
        index,
      );
      this.checks.set(key, check);
    }
    this.#touchService(service, index);
    this.#emit(false);
  }

  /** Test hook: the node's serfHealth check (a failed node makes every instance on it critical). */
  setNodeHealth(status: CheckStatus, output: string): void {
    const check = this.nodeChecks.get('serfHealth') as CheckRecord;
    this.#setStatus(check, status, output);
  }

  /**
   * Test hook: a snapshot restore. Every index drops to `index` and every blocking query returns
   * at once with the lower index, as Consul's abandoned state store makes them.
   */
  restoreSnapshot(index: number): void {
    this.#index = Math.max(1, index);
    for (const key of this.#serviceIndexes.keys()) this.#serviceIndexes.set(key, this.#index);
    this.#servicesTableIndex = this.#index;
    this.#lastExtinction = Math.min(this.#lastExtinction, this.#index);
    this.#emit(true);
  }

  /** Test hook: answer every blocking query now with an unchanged index (a spurious wake-up). */
  wakeBlockingQueries(): void {
    this.#emit(true);
  }

  /**
   * Test hook: the agent restarted without its data dir while the servers kept running: every
   * service registered through it is gone, and it has a new node id.
   */
  forgetLocalServices(): void {
    this.nodeId = randomUUID();
    const index = this.#next();
    this.#nodesIndex = index;
    for (const service of [...this.services.values()]) if (service.local) this.#remove(service, index);
    this.#emit(false);
  }

  close(): void {
    clearInterval(this.#reaper);
    for (const check of [...this.checks.values(), ...this.nodeChecks.values()]) {
      clearTimeout(check.ttlTimer);
      clearTimeout(check.deferTimer);
    }
    this.#listeners.clear();
  }

  #newCheckRecord(
    check: NewCheck,
    owner: { readonly id: string; readonly name: string; readonly namespace: string; readonly partition: string },
    index: number,
  ): CheckRecord {
    const deregisterAfter = check.definition?.deregisterAfterMs ?? 0;
    const record: CheckRecord = {
      checkId: check.checkId,
      name: check.name,
      notes: check.notes,
      serviceId: owner.id,
      serviceName: owner.name,
      type: check.type,
      namespace: owner.namespace,
      partition: owner.partition,
      definition: check.definition,
      reapAfterMs: deregisterAfter > 0 ? Math.max(deregisterAfter, this.options.deregisterCriticalMinMs) : 0,
      outputMaxSize: check.definition !== undefined && check.definition.outputMaxSize > 0 ? check.definition.outputMaxSize : DEFAULT_OUTPUT_MAX_SIZE,
      status: check.status,
      output: check.output ?? '',
      syncedOutput: check.output ?? '',
      criticalSince: undefined,
      createIndex: index,
      modifyIndex: index,
      ttlTimer: undefined,
      deferTimer: undefined,
    };
    if (check.type === 'ttl') this.#armTtl(record);
    return record;
  }

  #armTtl(check: CheckRecord): void {
    const ttlMs = check.definition?.ttlMs ?? 0;
    if (ttlMs <= 0) return;
    clearTimeout(check.ttlTimer);
    check.ttlTimer = setTimeout(() => {
      check.ttlTimer = undefined;
      if (!this.#isLive(check)) return;
      const expired = check.output === '' ? 'TTL expired' : `TTL expired (last output before timeout follows): ${check.output}`;
      this.#setStatus(check, 'critical', expired);
    }, ttlMs);
    check.ttlTimer.unref();
  }

  #setStatus(check: CheckRecord, status: CheckStatus, output: string): void {
    // UpdateCheck tracks the critical time before its idempotence test: a check registered
    // critical starts its reap clock with its first critical update, not at registration.
    if (status === 'critical') check.criticalSince ??= this.options.now();
    else check.criticalSince = undefined;
    if (check.status === status && check.output === output) return;
    check.output = output;
    if (check.status === status) {
      // Output-only changes are deferred, as the agent's check_update_interval does.
      check.deferTimer ??= this.#deferTimer(check);
      return;
    }
    clearTimeout(check.deferTimer);
    check.deferTimer = undefined;
    check.status = status;
    this.#sync(check);
  }

  #deferTimer(check: CheckRecord): NodeJS.Timeout {
    const timer = setTimeout(() => {
      check.deferTimer = undefined;
      if (this.#isLive(check) && check.syncedOutput !== check.output) this.#sync(check);
    }, this.options.checkUpdateIntervalMs);
    timer.unref();
    return timer;
  }

  #sync(check: CheckRecord): void {
    const index = this.#next();
    check.syncedOutput = check.output;
    check.modifyIndex = index;
    if (check.serviceId === '') {
      for (const key of this.#serviceIndexes.keys()) this.#serviceIndexes.set(key, index);
    } else {
      const service = this.service(check.partition, check.namespace, check.serviceId);
      if (service !== undefined) this.#touchService(service, index);
    }
    this.#emit(false);
  }

  #isLive(check: CheckRecord): boolean {
    return (check.serviceId === '' ? this.nodeChecks.get(check.checkId) : this.checks.get(recordKey(check.partition, check.namespace, check.checkId))) === check;
  }

  // The agent's reapServicesInternal: a service goes once any of its checks with a reap timeout
  // has been critical for longer than that timeout.
  #reap(): void {
    const now = this.options.now();
    for (const check of [...this.checks.values()]) {
      if (check.reapAfterMs <= 0 || check.status !== 'critical' || check.criticalSince === undefined) continue;
      if (now - check.criticalSince <= check.reapAfterMs) continue;
      const service = this.service(check.partition, check.namespace, check.serviceId);
      if (service === undefined) continue;
      this.reaped.push(service.id);
      this.removeService(service);
    }
  }

  #remove(service: ServiceRecord, index: number): void {
    this.services.delete(recordKey(service.partition, service.namespace, service.id));
    for (const check of this.checksOf(service)) this.#removeCheck(check);
    this.#servicesTableIndex = index;
    const key = serviceKey(service.partition, service.namespace, service.name);
    const survivors = [...this.services.values()].some(
      (other) => other.name === service.name && other.namespace === service.namespace && other.partition === service.partition,
    );
    if (survivors) {
      this.#serviceIndexes.set(key, index);
    } else {
      this.#serviceIndexes.delete(key);
      this.#lastExtinction = index;
    }
  }

  #removeCheck(check: CheckRecord): void {
    clearTimeout(check.ttlTimer);
    clearTimeout(check.deferTimer);
    this.checks.delete(recordKey(check.partition, check.namespace, check.checkId));
  }

  #touchService(service: ServiceRecord, index: number): void {
    this.#serviceIndexes.set(serviceKey(service.partition, service.namespace, service.name), index);
  }

  #next(): number {
    this.#index += 1;
    return this.#index;
  }

  #emit(abandon: boolean): void {
    for (const listener of [...this.#listeners]) listener(abandon);
  }
}

/** `NodeService.IsSame` over the fields the double keeps. */
function sameService(stored: ServiceRecord, next: Omit<ServiceRecord, 'createIndex' | 'modifyIndex' | 'local'>): boolean {
  return (
    stored.name === next.name &&
    stored.address === next.address &&
    stored.port === next.port &&
    stored.kind === next.kind &&
    stored.enableTagOverride === next.enableTagOverride &&
    stored.connectNative === next.connectNative &&
    stored.sidecarOf === next.sidecarOf &&
    JSON.stringify(stored.tags) === JSON.stringify(next.tags) &&
    JSON.stringify(stored.meta) === JSON.stringify(next.meta) &&
    JSON.stringify(stored.weights) === JSON.stringify(next.weights) &&
    JSON.stringify(stored.taggedAddresses) === JSON.stringify(next.taggedAddresses) &&
    JSON.stringify(stored.proxy) === JSON.stringify(next.proxy)
  );
}

/** `HealthCheck.IsSame` over the fields the double keeps. */
function sameCheck(stored: CheckRecord, next: NewCheck): boolean {
  return (
    stored.name === next.name &&
    stored.notes === next.notes &&
    stored.status === next.status &&
    stored.output === (next.output ?? '') &&
    stored.type === next.type &&
    JSON.stringify(stored.definition) === JSON.stringify(next.definition)
  );
}

function serviceKey(partition: string, namespace: string, name: string): string {
  return `${partition}/${namespace}/${name}`;
}

/** `CheckTTL.SetStatus`'s truncation of long outputs. */
function truncate(output: string, max: number): string {
  const bytes = Buffer.from(output);
  if (bytes.length <= max) return output;
  return `${bytes.subarray(0, max).toString()} ... (captured ${max} of ${bytes.length} bytes)`;
}
