/**
 * The read side of the Consul backend: `/v1/health/service/:name` and `/v1/catalog/services`
 * with this backend's view (namespace, tags, kinds) as a server-side filter where the agent
 * applies it, and client-side where it refuses or ignores it (every go-bexpr generation, agents
 * before 1.14); each read reports a registry reset it shows before its listing goes anywhere.
 */
import type { MalformedRecords } from '../malformed-records.js';
import { MalformedRecordError, RegistryUnavailableError } from '../../core/errors.js';
import { SERVICE_NAME_PATTERN, type ServiceInstance } from '../../core/instance.js';
import type { Logger } from '../../core/logger.js';
import { consulIndex, type ConsulHttp, type ConsulResponse } from './http.js';
import { goDuration, instanceFromHealthEntry, visibilityFilter } from './mapping.js';
import type { ConsulSettings } from './options.js';
import type { AgentIdentity, ResetSignals } from './reset.js';
import type { HealthRead } from './watch.js';

/** Options of one request besides its method, path, query and body. */
export interface SendOptions {
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
  readonly service?: string | undefined;
}

/** Options of one health read: a watch's blocking query, or none for a plain read. */
export interface HealthReadOptions extends SendOptions {
  readonly index?: bigint | undefined;
  readonly waitMs?: number | undefined;
}

/** Sends one GET to the agent (the backend's `#send`: observed, enterprise query added for writes). */
export type SendGet = (operation: string, path: string, query: Record<string, string | undefined>, options?: SendOptions) => Promise<ConsulResponse>;

export interface ConsulReadsDependencies {
  readonly settings: ConsulSettings;
  readonly http: ConsulHttp;
  readonly log: Logger;
  readonly get: SendGet;
  readonly agent: AgentIdentity;
  readonly resets: ResetSignals;
  readonly malformedRecords: MalformedRecords;
  readonly skippedNames: MalformedRecords;
}

const KIND = 'consul';
/** Health reads in flight at once while `services()` checks names one by one. */
const VERIFY_CONCURRENCY = 8;
/** go-bexpr's errors, at creation (every version) and at evaluation (v0.1.4 on), as Consul relays them. */
const FILTER_ERROR = /boolean expression evaluator|error finding value in datum|unable to find suitable primitive comparison|cannot perform .* operations/i;
/** A filter no service matches, in a form every go-bexpr version accepts: tells whether the agent applies `filter` at all. */
const MATCH_NOTHING = 'ServiceName == "rollcall" and ServiceName != "rollcall"';
const CATALOG_PATH = '/v1/catalog/services';

export class ConsulReads {
  readonly #deps: ConsulReadsDependencies;
  /** False once the agent refused the health filter: reads then filter client-side only. */
  #healthFilter = true;
  /** Whether `/v1/catalog/services` applies `filter` (Consul 1.14 on); `client` when it does not, or refused it. */
  #catalogFilter: 'unknown' | 'honored' | 'client' = 'unknown';

  constructor(dependencies: ConsulReadsDependencies) {
    this.#deps = dependencies;
  }

  /**
   * One health read with this backend's view, shared by `instances()`, the watch and
   * `services()`: falls back to client-side filtering when the agent refuses the filter, and
   * reports a registry reset before returning the first listing read after a loss.
   */
  async health(operation: string, service: string, read: HealthReadOptions): Promise<HealthRead> {
    const { http, log, resets, agent } = this.#deps;
    const path = `/v1/health/service/${pathSegment(service)}`;
    const agentCheck = agent.check();
    const ticket = resets.ticket();
    const blocking = read.index === undefined ? {} : { index: String(read.index), wait: read.waitMs === undefined ? undefined : goDuration(read.waitMs) };
    const get = (withFilter: boolean): Promise<ConsulResponse> => this.#deps.get(operation, path, { ...this.#query('health', withFilter), ...blocking }, read);
    const filtered = this.#healthFilter;
    let response = await get(filtered);
    if (filtered && isFilterRejection(response)) {
      if (this.#healthFilter) {
        this.#healthFilter = false;
        log.warn(
          { status: response.status },
          `Consul refused rollcall's filter (${http.redact(response.body.trim()).slice(0, 200)}); filtering instances client-side from now on`,
        );
      }
      response = await get(false);
    }
    if (response.status !== 200) throw http.failure({ operation, path }, response);
    const instances = this.#parseHealth(service, response.body);
    const index = consulIndex(response);
    const key = `health ${service}`;
    resets.reportReasons([resets.observeIndex(key, index, ticket, path), await agentCheck], { key, index });
    return { instances, index, body: response.body };
  }

  /** Names of services with an instance in this backend's view, sorted. */
  async services(): Promise<string[]> {
    const names = await this.#catalogNames();
    if (names.length === 0) return [];
    if (this.#catalogFilter === 'unknown') this.#catalogFilter = await this.#probeCatalogFilter();
    if (this.#catalogFilter === 'honored') return names.sort();
    // The agent listed every service it knows: keep those with an instance in this backend's view.
    const visible = await mapLimit(names, VERIFY_CONCURRENCY, async (name) => (await this.health('services', name, { service: name })).instances.length > 0);
    return names.filter((_, index) => visible[index]).sort();
  }

  /** Service names of the catalog that rollcall can address; the others are skipped, logged once and counted. */
  async #catalogNames(): Promise<string[]> {
    const { http, resets, agent, skippedNames } = this.#deps;
    const agentCheck = agent.check();
    const ticket = resets.ticket();
    const get = (withFilter: boolean): Promise<ConsulResponse> => this.#deps.get('services', CATALOG_PATH, this.#query('catalog', withFilter));
    const filtered = this.#catalogFilter !== 'client';
    let response = await get(filtered);
    if (filtered && isFilterRejection(response)) {
      if (this.#catalogFilter !== 'client') this.#switchCatalogToClient(`Consul refused rollcall's filter on ${CATALOG_PATH}`);
      response = await get(false);
    }
    if (response.status !== 200) throw http.failure({ operation: 'services', path: CATALOG_PATH }, response);
    const parsed = parseJson(response.body, 'services');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new RegistryUnavailableError(KIND, 'services', `Consul answered ${CATALOG_PATH} with something other than a JSON object`);
    }
    const index = consulIndex(response);
    resets.reportReasons([resets.observeIndex('catalog services', index, ticket, CATALOG_PATH), await agentCheck], { key: 'catalog services', index });
    return Object.keys(parsed).filter((name) => {
      if (SERVICE_NAME_PATTERN.test(name)) return true;
      const shown = JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
      skippedNames.report(`name ${name}`, { name: shown }, `skipping Consul service ${shown}: not a name rollcall can address (letters, digits, "-", "_", "." up to 128 characters)`);
      return false;
    });
  }

  /** Asks for a filter nothing matches: an agent that still lists services ignores `filter` there (before Consul 1.14). */
  async #probeCatalogFilter(): Promise<'honored' | 'client'> {
    const response = await this.#deps.get('services', CATALOG_PATH, { ...this.#query('catalog', false), filter: MATCH_NOTHING });
    if (response.status === 200 && /^\s*\{\s*\}\s*$/.test(response.body)) return 'honored';
    if (response.status !== 200 && !isFilterRejection(response)) throw this.#deps.http.failure({ operation: 'services', path: CATALOG_PATH }, response);
    this.#switchCatalogToClient(`Consul ignores \`filter\` on ${CATALOG_PATH} (agents before 1.14)`);
    return 'client';
  }

  #switchCatalogToClient(why: string): void {
    this.#catalogFilter = 'client';
    this.#deps.log.info({}, `${why}: services() checks each listed service's instances instead (one health read per service)`);
  }

  #query(endpoint: 'health' | 'catalog', withFilter: boolean): Record<string, string | undefined> {
    const { settings } = this.#deps;
    return {
      filter: withFilter ? visibilityFilter(endpoint, { namespace: settings.namespace, tags: settings.tags, kinds: settings.serviceKinds }) : undefined,
      dc: settings.datacenter,
      passing: settings.passingOnly && endpoint === 'health' ? '' : undefined,
      ...enterpriseQuery(settings),
    };
  }

  #parseHealth(service: string, body: string): ServiceInstance[] {
    const parsed = parseJson(body, 'instances');
    if (!Array.isArray(parsed)) {
      throw new RegistryUnavailableError(KIND, 'instances', `Consul answered /v1/health/service/${service} with something other than a JSON array`);
    }
    const { settings, malformedRecords } = this.#deps;
    const context = { service, namespace: settings.namespace, tags: settings.tags, kinds: settings.serviceKinds, now: Date.now() };
    const instances: ServiceInstance[] = [];
    for (const entry of parsed) {
      try {
        const instance = instanceFromHealthEntry(entry, context);
        if (instance !== undefined) instances.push(instance);
      } catch (error) {
        if (!(error instanceof MalformedRecordError)) throw error;
        malformedRecords.report(error.message, { location: error.location }, `skipping a Consul entry that is not a valid instance: ${error.message}`);
      }
    }
    return instances;
  }
}

/** The Consul Enterprise namespace and admin partition of every request, when set. */
export function enterpriseQuery(settings: ConsulSettings): Record<string, string | undefined> {
  return { ns: settings.consulNamespace, partition: settings.partition };
}

// Instance ids may hold `:` (safe in a path); anything else unusual is escaped.
export function pathSegment(id: string): string {
  return encodeURIComponent(id).replaceAll('%3A', ':');
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
