/**
 * How a rollcall instance is written to Consul and read back. Pure functions, no I/O: the
 * backend sends what these build and parses what Consul answers with them.
 *
 * Consul has no fields for protocol, zone, version or timestamps, so they travel in service Meta
 * under keys starting with {@link RESERVED_META_PREFIX}; rollcall namespaces travel there too.
 */
import { InvalidArgumentError, MalformedRecordError } from '../../core/errors.js';
import {
  INSTANCE_LIMITS,
  parseInstanceRecord,
  type HealthStatus,
  type InstanceRef,
  type InstanceStatus,
  type ServiceInstance,
} from '../../core/instance.js';

/** Meta keys starting with this belong to rollcall; user meta may not use them. */
export const RESERVED_META_PREFIX = 'rollcall_';

/** The reserved Meta keys, documented in docs/backends/consul.md. */
export const META_KEYS = {
  namespace: 'rollcall_namespace',
  protocol: 'rollcall_protocol',
  zone: 'rollcall_zone',
  version: 'rollcall_version',
  registeredAt: 'rollcall_registered_at',
  updatedAt: 'rollcall_updated_at',
} as const;

/** Consul's own limit on service Meta pairs. */
const CONSUL_MAX_META_PAIRS = 64;
const RESERVED_KEY_COUNT = Object.keys(META_KEYS).length;
/** User meta pairs that always fit beside rollcall's reserved keys. */
export const MAX_USER_META_PAIRS = CONSUL_MAX_META_PAIRS - RESERVED_KEY_COUNT;

/** Check id prefix Consul gives the check that service maintenance mode adds. */
const SERVICE_MAINTENANCE_PREFIX = '_service_maintenance:';
const NODE_MAINTENANCE_ID = '_node_maintenance';
const CONSUL_META_PREFIX = 'consul-';
/** A UTF-16 code unit that is half of a pair without its other half. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Characters of registry text quoted in an error message. */
const MAX_SHOWN = 64;

/**
 * Namespaces become part of Consul service ids and Meta values, so they are restricted to
 * characters that keep {@link consulServiceId} unambiguous (no `~` and no `:`) and that filter
 * expressions can quote.
 */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Separates a rollcall namespace from the service name in Consul ids: a character no namespace or service name holds. */
const NAMESPACE_SEPARATOR = '~';

/**
 * The Consul service id of an instance. Consul ids are unique per agent, rollcall ids only within
 * a service and namespace, so both are folded in: `<service>:<id>` or `<namespace>~<service>:<id>`.
 * Service names hold neither `~` nor `:` (they may hold `.`), namespaces neither `~`, `:` nor `.`,
 * so the part before the first `:` tells the namespace and service apart and distinct instances
 * never share an id.
 */
export function consulServiceId(namespace: string | undefined, ref: InstanceRef): string {
  return `${idPrefix(namespace, ref.service)}${ref.id}`;
}

/** The TTL check of an instance: Consul's own default id for a service's single check. */
export function ttlCheckId(serviceId: string): string {
  return `service:${serviceId}`;
}

function idPrefix(namespace: string | undefined, service: string): string {
  return namespace === undefined ? `${service}:` : `${namespace}${NAMESPACE_SEPARATOR}${service}:`;
}

/** Go duration text for milliseconds (Consul parses `1500ms`). */
export function goDuration(ms: number): string {
  return `${ms}ms`;
}

/** What the TTL check reports for a rollcall status. Draining is carried by maintenance mode instead. */
export function checkStatusFor(status: InstanceStatus): HealthStatus {
  return status === 'draining' ? 'passing' : status;
}

/** The TTL check's Output for a status: shown in Consul's UI, kept short and constant. */
export function heartbeatOutput(status: InstanceStatus): string {
  return status === 'draining' ? 'rollcall: alive, draining' : `rollcall: ${status}`;
}

/** Maintenance reason shown in Consul's UI while an instance drains. */
export const DRAIN_REASON = 'rollcall: draining, shutting down';

export interface RegistrationSettings {
  readonly namespace: string | undefined;
  readonly ttlMs: number;
  readonly deregisterCriticalAfterMs: number;
}

/**
 * Tags rollcall can select with Consul's `filter`: go-bexpr's string literals cannot hold `"`
 * (`DoubleStringChar <- !'"' .` in every version of its grammar), and text that is not well-formed
 * UTF-16 does not survive Consul's JSON decoding. Throws {@link InvalidArgumentError} naming the tag.
 */
export function assertFilterableTags(tags: readonly string[], field: string): void {
  tags.forEach((tag, index) => {
    if (tag.includes('"')) {
      throw new InvalidArgumentError(`${field}[${index}]`, 'a tag without `"` (Consul filter expressions cannot quote it)', tag);
    }
    if (LONE_SURROGATE.test(tag)) {
      throw new InvalidArgumentError(`${field}[${index}]`, 'a tag of well-formed Unicode text', tag, 'it holds a lone surrogate');
    }
  });
}

/**
 * The body of `PUT /v1/agent/service/register` for an already validated instance. Throws
 * {@link InvalidArgumentError} when user meta collides with rollcall's reserved keys or would
 * exceed Consul's 64 pairs once they are added, and for tags no filter can select.
 */
export function registrationBody(instance: ServiceInstance, settings: RegistrationSettings): Record<string, unknown> {
  const userMeta = Object.entries(instance.meta);
  if (userMeta.length > MAX_USER_META_PAIRS) {
    throw new InvalidArgumentError(
      'instance.meta',
      `at most ${MAX_USER_META_PAIRS} keys with the Consul backend (Consul allows ${CONSUL_MAX_META_PAIRS}, rollcall reserves ${RESERVED_KEY_COUNT})`,
      `${userMeta.length} keys`,
    );
  }
  assertFilterableTags(instance.tags, 'instance.tags');
  // No prototype: a `__proto__` key is an ordinary pair here and reaches Consul like any other.
  const meta = Object.create(null) as Record<string, string>;
  for (const [key, value] of userMeta) {
    if (key.startsWith(RESERVED_META_PREFIX)) {
      throw new InvalidArgumentError('instance.meta key', `a key not starting with "${RESERVED_META_PREFIX}" (reserved by the Consul backend)`, key);
    }
    meta[key] = value;
  }
  if (settings.namespace !== undefined) meta[META_KEYS.namespace] = settings.namespace;
  meta[META_KEYS.protocol] = instance.protocol;
  if (instance.zone !== undefined) meta[META_KEYS.zone] = instance.zone;
  if (instance.version !== undefined) meta[META_KEYS.version] = instance.version;
  meta[META_KEYS.registeredAt] = String(instance.registeredAt);
  meta[META_KEYS.updatedAt] = String(instance.updatedAt);
  const id = consulServiceId(settings.namespace, instance);
  return {
    ID: id,
    Name: instance.service,
    Tags: [...instance.tags],
    Address: instance.host,
    Port: instance.port,
    Meta: meta,
    Weights: { Passing: instance.weight, Warning: instance.weight },
    Check: {
      CheckID: ttlCheckId(id),
      Name: 'rollcall heartbeat',
      Notes: 'TTL check renewed by rollcall; critical when no heartbeat arrives within the TTL',
      TTL: goDuration(settings.ttlMs),
      Status: checkStatusFor(instance.status),
      DeregisterCriticalServiceAfter: goDuration(settings.deregisterCriticalAfterMs),
    },
  };
}

/**
 * Kinds of Consul services (`Service.Kind`, agent/structs/structs.go). `typical` is Consul's empty
 * kind: an application's own instances. The others are Connect proxies and gateways, which carry
 * mesh traffic for a service rather than being it.
 */
export const SERVICE_KINDS = ['typical', 'connect-proxy', 'mesh-gateway', 'terminating-gateway', 'ingress-gateway', 'api-gateway'] as const;
export type ConsulServiceKind = (typeof SERVICE_KINDS)[number];

/** What a backend sees: its rollcall namespace, the tags every instance must carry, the kinds it lists. */
export interface Visibility {
  readonly namespace: string | undefined;
  readonly tags: readonly string[];
  readonly kinds: readonly ConsulServiceKind[];
}

/** Double-quoted bexpr string literal: JSON's escapes are a subset of Go's `strconv.Unquote`. */
function quote(value: string): string {
  return JSON.stringify(value);
}

/**
 * The `filter` expression selecting what a backend sees, for `/v1/health/service` (`Service.*`
 * selectors) or `/v1/catalog/services` (`Service*` selectors).
 *
 * Written so that every go-bexpr generation Consul has shipped evaluates it the same way:
 * v0.1.0-v0.1.3 (Consul 1.5-1.10) allow only `in`/`not in`/emptiness on maps and only
 * `==`/`!=`/`in`/`matches` on strings, so `Meta.x is empty` is rejected there; v0.1.4-v0.1.11
 * (Consul 1.11 on) fail the whole request when a selected map key is missing, so `Meta.x == "y"`
 * is only evaluated behind `"x" in Meta`, whose `and` short-circuits. Without a namespace the
 * backend sees instances that carry no `rollcall_namespace` key: its own and those other tools
 * registered.
 */
export function visibilityFilter(endpoint: 'health' | 'catalog', visibility: Visibility): string {
  const selectors =
    endpoint === 'health'
      ? { meta: 'Service.Meta', tags: 'Service.Tags', kind: 'Service.Kind' }
      : { meta: 'ServiceMeta', tags: 'ServiceTags', kind: 'ServiceKind' };
  const key = quote(META_KEYS.namespace);
  const clauses =
    visibility.namespace === undefined
      ? [`${key} not in ${selectors.meta}`]
      : [`${key} in ${selectors.meta}`, `${selectors.meta}.${META_KEYS.namespace} == ${quote(visibility.namespace)}`];
  for (const tag of visibility.tags) clauses.push(`${quote(tag)} in ${selectors.tags}`);
  if (visibility.kinds.length < SERVICE_KINDS.length) {
    const kinds = visibility.kinds.map((kind) => `${selectors.kind} == ${quote(kind === 'typical' ? '' : kind)}`);
    clauses.push(kinds.length === 1 ? (kinds[0] as string) : `(${kinds.join(' or ')})`);
  }
  return clauses.join(' and ');
}

/**
 * Health of one `/v1/health/service` entry from all its checks, node checks included: any
 * critical check makes it critical (a dead process stays dead even while draining), then
 * maintenance mode makes it draining, then the worst of passing and warning.
 */
export function statusOf(checks: readonly { readonly CheckID: string; readonly Status: string }[]): InstanceStatus {
  let worst: HealthStatus = 'passing';
  let maintenance = false;
  for (const check of checks) {
    if (check.CheckID.startsWith(SERVICE_MAINTENANCE_PREFIX) || check.CheckID === NODE_MAINTENANCE_ID) {
      maintenance = true;
    } else if (check.Status === 'warning') {
      if (worst === 'passing') worst = 'warning';
    } else if (check.Status !== 'passing') {
      // Consul knows no other status; anything unexpected is treated as the safe answer.
      worst = 'critical';
    }
  }
  if (worst === 'critical') return 'critical';
  return maintenance ? 'draining' : worst;
}

/** What {@link instanceFromHealthEntry} needs to know about the read. */
export interface ReadContext extends Visibility {
  readonly service: string;
  /** Timestamp used for instances registered by other tools, which carry none. */
  readonly now: number;
}

/** A parsed entry, or `undefined` for one outside this backend's view (another namespace or kind, missing tags). */
export type EntryResult = ServiceInstance | undefined;

/**
 * Turns one element of a `/v1/health/service/:name` answer into an instance. Throws
 * {@link MalformedRecordError} when a field is missing, has the wrong type or holds a value
 * rollcall cannot accept; the caller skips, logs and counts those. Never throws anything else.
 */
export function instanceFromHealthEntry(entry: unknown, context: ReadContext): EntryResult {
  const where = `consul health entry of ${context.service}`;
  const root = record(entry, where);
  const service = record(root['Service'], `${where}: Service`);
  const serviceId = string(service['ID'], `${where}: Service.ID`);
  const location = `consul service ${shown(serviceId)} of ${context.service}`;
  const name = string(service['Service'], `${location}: Service.Service`);
  if (name !== context.service) throw new MalformedRecordError(location, `expected Service.Service ${JSON.stringify(context.service)}, got ${shown(name)}`);

  // The view first (second line of defence behind the server-side filter, for agents that
  // ignore `filter`), so entries outside it are left out rather than counted as malformed.
  const kind = string(service['Kind'] ?? '', `${location}: Service.Kind`);
  if (!(context.kinds as readonly string[]).includes(kind === '' ? 'typical' : kind)) return undefined;
  const meta = stringRecord(service['Meta'] ?? {}, `${location}: Service.Meta`);
  const namespace = Object.hasOwn(meta, META_KEYS.namespace) ? meta[META_KEYS.namespace] : undefined;
  if (namespace !== context.namespace) return undefined;
  const tags = stringArray(service['Tags'] ?? [], `${location}: Service.Tags`);
  if (!context.tags.every((tag) => tags.includes(tag))) return undefined;

  const node = record(root['Node'], `${location}: Node`);
  const checks = array(root['Checks'], `${location}: Checks`).map((check, index) => {
    const fields = record(check, `${location}: Checks[${index}]`);
    return {
      CheckID: string(fields['CheckID'], `${location}: Checks[${index}].CheckID`),
      Status: string(fields['Status'], `${location}: Checks[${index}].Status`),
    };
  });
  const port = number(service['Port'], `${location}: Service.Port`);
  const address = string(service['Address'] ?? '', `${location}: Service.Address`);
  const host = address === '' ? string(node['Address'], `${location}: Node.Address`) : address;

  const userMeta = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(meta)) {
    if (!key.startsWith(RESERVED_META_PREFIX) && !key.startsWith(CONSUL_META_PREFIX)) userMeta[key] = value;
  }
  const prefix = idPrefix(context.namespace, context.service);
  const registeredAt = timestamp(meta[META_KEYS.registeredAt], context.now, `${location}: Meta.${META_KEYS.registeredAt}`);
  return parseInstanceRecord(
    {
      id: serviceId.startsWith(prefix) ? serviceId.slice(prefix.length) : serviceId,
      service: name,
      host,
      port,
      protocol: meta[META_KEYS.protocol] ?? 'http',
      tags,
      meta: userMeta,
      weight: weightOf(service['Weights'], location),
      zone: meta[META_KEYS.zone],
      version: meta[META_KEYS.version],
      status: statusOf(checks),
      registeredAt,
      updatedAt: timestamp(meta[META_KEYS.updatedAt], registeredAt, `${location}: Meta.${META_KEYS.updatedAt}`),
    },
    location,
  );
}

// Consul accepts any positive weight; rollcall's range is narrower, so out-of-range weights of
// services registered by other tools are clamped rather than making the whole entry unusable.
function weightOf(value: unknown, location: string): number {
  if (value === undefined || value === null) return 1;
  const passing = record(value, `${location}: Service.Weights`)['Passing'];
  if (passing === undefined) return 1;
  const weight = number(passing, `${location}: Service.Weights.Passing`);
  return Math.min(INSTANCE_LIMITS.maxWeight, Math.max(1, Math.trunc(weight)));
}

function timestamp(value: string | undefined, fallback: number, location: string): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,16}$/.test(value)) throw new MalformedRecordError(location, `expected epoch milliseconds, got ${shown(value)}`);
  return Number(value);
}

function record(value: unknown, location: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedRecordError(location, 'expected a JSON object');
  return value as Record<string, unknown>;
}

function array(value: unknown, location: string): unknown[] {
  if (!Array.isArray(value)) throw new MalformedRecordError(location, 'expected a JSON array');
  return value;
}

function string(value: unknown, location: string): string {
  if (typeof value !== 'string') throw new MalformedRecordError(location, `expected a string, got ${typeof value}`);
  return value;
}

function number(value: unknown, location: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new MalformedRecordError(location, `expected a number, got ${typeof value}`);
  return value;
}

function stringArray(value: unknown, location: string): string[] {
  return array(value, location).map((item, index) => string(item, `${location}[${index}]`));
}

/** A copy without prototype, so that a `__proto__` key read from Consul stays an ordinary pair. */
function stringRecord(value: unknown, location: string): Record<string, string> {
  const fields = record(value, location);
  const copy = Object.create(null) as Record<string, string>;
  for (const [key, item] of Object.entries(fields)) copy[key] = string(item, `${location}[${shown(key)}]`);
  return copy;
}

/** Registry text quoted in a message, cut short: a record must not copy kilobytes into log lines. */
function shown(text: string): string {
  return JSON.stringify(text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text);
}
