/**
 * The one model both sides share: a service instance, and the validation every edge applies to
 * it. Limits are the strictest of the backends we support (Consul's meta rules) so an instance
 * valid here is valid everywhere. Service names follow what real registries hold (`auth_service`,
 * `Orders`, `orders.api`), not DNS labels: only a backend that needs DNS labels restricts further.
 */
import { InvalidArgumentError, MalformedRecordError } from './errors.js';

/** Health as reported by the instance's own checks. */
export type HealthStatus = 'passing' | 'warning' | 'critical';

/** Status stored in the registry: health, or `draining` when the instance is shutting down. */
export type InstanceStatus = HealthStatus | 'draining';

/** One running copy of a service, as stored in a registry. Immutable. */
export interface ServiceInstance {
  /** Unique within the service; used to renew and deregister. */
  readonly id: string;
  /** Service name, case preserved (see {@link SERVICE_NAME_PATTERN}). */
  readonly service: string;
  /** Host name or IP address that callers connect to. */
  readonly host: string;
  /** TCP port, 1 to 65535. */
  readonly port: number;
  /** URL scheme callers use, e.g. `http`, `https`, `grpc`. */
  readonly protocol: string;
  /** Free-form labels used by filters. */
  readonly tags: readonly string[];
  /** Free-form string pairs (Consul's limits: 64 keys, key ≤ 128 chars, value ≤ 512 UTF-8 bytes). */
  readonly meta: Readonly<Record<string, string>>;
  /** Relative share of traffic for weighted strategies, 1 to 10000. */
  readonly weight: number;
  /** Failure domain (availability zone, rack) for zone-aware balancing. */
  readonly zone?: string | undefined;
  /** Version of the running code, for canary filters. */
  readonly version?: string | undefined;
  readonly status: InstanceStatus;
  /** Epoch milliseconds when this registration was first written. */
  readonly registeredAt: number;
  /** Epoch milliseconds of the last write (register or status change). */
  readonly updatedAt: number;
}

/** Names one instance: what renew and deregister take. */
export interface InstanceRef {
  readonly service: string;
  readonly id: string;
}

/** What a caller supplies to describe an instance; everything but `service`, `id`, `host` and `port` has a default. */
export interface InstanceInput {
  id: string;
  service: string;
  host: string;
  port: number;
  /** @default 'http' */
  protocol?: string | undefined;
  /** @default [] */
  tags?: readonly string[] | undefined;
  /** @default {} */
  meta?: Readonly<Record<string, string>> | undefined;
  /** @default 1 */
  weight?: number | undefined;
  zone?: string | undefined;
  version?: string | undefined;
  /** @default 'passing' */
  status?: InstanceStatus | undefined;
  /** @default now */
  registeredAt?: number | undefined;
  /** @default now */
  updatedAt?: number | undefined;
}

/**
 * Service names: letters (case preserved), digits, `-`, `_` and `.`, starting with a letter or a
 * digit, 1 to {@link SERVICE_NAME_MAX_LENGTH} characters. `auth_service`, `Orders`, `orders.api`
 * and `ip-intel` are valid; whitespace, control characters and characters that carry meaning in
 * keys or URLs (`/ : { } ? # % @` ...) are not, so a name is safe in every backend's keys and paths.
 */
export const SERVICE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Longest service name accepted. */
export const SERVICE_NAME_MAX_LENGTH = 128;
/** Instance ids: letters, digits, `.`, `_`, `-`, `:`; 1 to 128 characters; safe in URL paths and keys. */
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const HOST_PATTERN = /^[A-Za-z0-9._:%-]{1,253}$/;
const PROTOCOL_PATTERN = /^[a-z][a-z0-9+.-]{0,15}$/;
const TAG_PATTERN = /^[^\s,]{1,128}$/;
const LABEL_PATTERN = /^[A-Za-z0-9._+-]{1,64}$/;
const META_KEY_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** Limits enforced on every instance. */
export const INSTANCE_LIMITS = {
  maxTags: 64,
  maxMetaPairs: 64,
  /** In UTF-8 bytes, as Consul counts (Go's `len`). */
  maxMetaValueBytes: 512,
  maxWeight: 10_000,
} as const;

export const INSTANCE_STATUSES: readonly InstanceStatus[] = ['passing', 'warning', 'critical', 'draining'];

export function isInstanceStatus(value: unknown): value is InstanceStatus {
  return typeof value === 'string' && (INSTANCE_STATUSES as readonly string[]).includes(value);
}

/** Throws {@link InvalidArgumentError} unless `status` is an instance status. */
export function assertInstanceStatus(status: unknown, field = 'status'): asserts status is InstanceStatus {
  if (!isInstanceStatus(status)) throw new InvalidArgumentError(field, `one of ${INSTANCE_STATUSES.join(', ')}`, status);
}

const SERVICE_NAME_EXPECTED = `a service name of 1-${SERVICE_NAME_MAX_LENGTH} letters, digits, "-", "_" or ".", starting with a letter or digit`;

/**
 * Throws {@link InvalidArgumentError} unless `name` is a valid service name; the error names the
 * first character that is not allowed.
 */
export function assertServiceName(name: unknown, field = 'service'): asserts name is string {
  if (typeof name === 'string' && SERVICE_NAME_PATTERN.test(name)) return;
  throw new InvalidArgumentError(field, SERVICE_NAME_EXPECTED, name, typeof name === 'string' ? serviceNameProblem(name) : undefined);
}

/** What is wrong with a string that is not a service name. */
function serviceNameProblem(name: string): string {
  if (name.length === 0) return 'the name is empty';
  if (name.length > SERVICE_NAME_MAX_LENGTH) return `the name has ${name.length} characters`;
  const at = [...name].findIndex((char, index) => !(index === 0 ? /[A-Za-z0-9]/ : /[A-Za-z0-9._-]/).test(char));
  const char = [...name][at] as string;
  const codePoint = `U+${(char.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`;
  const shown = /^[\x21-\x7e]$/u.test(char) ? `"${char}" (${codePoint})` : codePoint;
  return at === 0 && /[._-]/.test(char) ? `it starts with ${shown}` : `character ${shown} at position ${at + 1} is not allowed`;
}

/** Throws {@link InvalidArgumentError} unless `ref` names one instance. */
export function assertInstanceRef(ref: unknown, field = 'ref'): asserts ref is InstanceRef {
  if (typeof ref !== 'object' || ref === null) throw new InvalidArgumentError(field, 'an object { service, id }', ref);
  const { service, id } = ref as Record<string, unknown>;
  assertServiceName(service, `${field}.service`);
  assertInstanceId(id, `${field}.id`);
}

function assertInstanceId(id: unknown, field: string): asserts id is string {
  if (typeof id !== 'string' || !INSTANCE_ID_PATTERN.test(id)) {
    throw new InvalidArgumentError(field, 'an id of 1-128 characters from A-Z a-z 0-9 . _ : - starting with a letter or digit', id);
  }
}

/** Throws {@link InvalidArgumentError} unless `value` is an integer number of milliseconds in range. */
export function assertDuration(value: unknown, field: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `an integer number of milliseconds from ${min} to ${max}`, value);
  }
}

/** Lease TTLs: 1 second to 1 day. */
export const TTL_LIMITS = { min: 1_000, max: 86_400_000 } as const;

/** Throws {@link InvalidArgumentError} unless `value` is a lease TTL within {@link TTL_LIMITS}. */
export function assertTtl(value: unknown, field = 'ttlMs'): asserts value is number {
  assertDuration(value, field, TTL_LIMITS.min, TTL_LIMITS.max);
}

/**
 * Validates `input`, applies defaults and returns a frozen {@link ServiceInstance}.
 * Throws {@link InvalidArgumentError} naming the first invalid field.
 */
export function createInstance(input: InstanceInput, now: number, field = 'instance'): ServiceInstance {
  if (typeof input !== 'object' || input === null) throw new InvalidArgumentError(field, 'an instance object', input);
  assertInstanceId(input.id, `${field}.id`);
  assertServiceName(input.service, `${field}.service`);
  if (typeof input.host !== 'string' || !HOST_PATTERN.test(input.host)) {
    throw new InvalidArgumentError(`${field}.host`, 'a host name or IP address (1-253 characters, no spaces or brackets)', input.host);
  }
  if (typeof input.port !== 'number' || !Number.isInteger(input.port) || input.port < 1 || input.port > 65_535) {
    throw new InvalidArgumentError(`${field}.port`, 'an integer port from 1 to 65535', input.port);
  }
  const protocol = input.protocol ?? 'http';
  if (typeof protocol !== 'string' || !PROTOCOL_PATTERN.test(protocol)) {
    throw new InvalidArgumentError(`${field}.protocol`, 'a lowercase URL scheme such as "http" or "https"', protocol);
  }
  const tags = validateTags(input.tags ?? [], `${field}.tags`);
  const meta = validateMeta(input.meta ?? {}, `${field}.meta`);
  const weight = input.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > INSTANCE_LIMITS.maxWeight) {
    throw new InvalidArgumentError(`${field}.weight`, `an integer from 1 to ${INSTANCE_LIMITS.maxWeight}`, weight);
  }
  const status = input.status ?? 'passing';
  if (!isInstanceStatus(status)) {
    throw new InvalidArgumentError(`${field}.status`, `one of ${INSTANCE_STATUSES.join(', ')}`, status);
  }
  const registeredAt = validateTimestamp(input.registeredAt ?? now, `${field}.registeredAt`);
  const updatedAt = validateTimestamp(input.updatedAt ?? now, `${field}.updatedAt`);
  const instance: ServiceInstance = {
    id: input.id,
    service: input.service,
    host: input.host,
    port: input.port,
    protocol,
    tags,
    meta,
    weight,
    status,
    registeredAt,
    updatedAt,
    ...(input.zone === undefined ? {} : { zone: validateLabel(input.zone, `${field}.zone`) }),
    ...(input.version === undefined ? {} : { version: validateLabel(input.version, `${field}.version`) }),
  };
  return Object.freeze(instance);
}

/**
 * Turns a record read from a registry into an instance, or throws {@link MalformedRecordError}
 * saying where it was found and what is wrong with it.
 */
export function parseInstanceRecord(record: unknown, location: string): ServiceInstance {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new MalformedRecordError(location, 'expected a JSON object');
  }
  try {
    return createInstance(record as InstanceInput, Number.NaN, 'record');
  } catch (error) {
    throw new MalformedRecordError(location, error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/** Returns a copy of `instance` with a new status and `updatedAt`. */
export function withStatus(instance: ServiceInstance, status: InstanceStatus, now: number): ServiceInstance {
  return Object.freeze({ ...instance, status, updatedAt: now });
}

/** `protocol://host:port`, with IPv6 hosts in brackets. */
export function instanceOrigin(instance: ServiceInstance): string {
  const host = instance.host.includes(':') ? `[${instance.host}]` : instance.host;
  return `${instance.protocol}://${host}:${instance.port}`;
}

function validateTags(tags: unknown, field: string): readonly string[] {
  if (!Array.isArray(tags) || tags.length > INSTANCE_LIMITS.maxTags) {
    throw new InvalidArgumentError(field, `an array of at most ${INSTANCE_LIMITS.maxTags} tags`, tags);
  }
  const seen = new Set<string>();
  tags.forEach((tag: unknown, index) => {
    if (typeof tag !== 'string' || !TAG_PATTERN.test(tag)) {
      throw new InvalidArgumentError(`${field}[${index}]`, 'a tag of 1-128 characters without spaces or commas', tag);
    }
    if (seen.has(tag)) throw new InvalidArgumentError(`${field}[${index}]`, 'tags without duplicates', tag);
    seen.add(tag);
  });
  return Object.freeze([...(tags as string[])]);
}

function validateMeta(meta: unknown, field: string): Readonly<Record<string, string>> {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new InvalidArgumentError(field, 'an object of string values', meta);
  }
  const entries = Object.entries(meta);
  if (entries.length > INSTANCE_LIMITS.maxMetaPairs) {
    throw new InvalidArgumentError(field, `at most ${INSTANCE_LIMITS.maxMetaPairs} keys`, `${entries.length} keys`);
  }
  const copy: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (!META_KEY_PATTERN.test(key) || key.startsWith('consul-')) {
      throw new InvalidArgumentError(`${field} key`, 'a key of 1-128 characters from A-Z a-z 0-9 _ - not starting with "consul-"', key);
    }
    if (typeof value !== 'string' || Buffer.byteLength(value, 'utf8') > INSTANCE_LIMITS.maxMetaValueBytes) {
      throw new InvalidArgumentError(`${field}.${key}`, `a string of at most ${INSTANCE_LIMITS.maxMetaValueBytes} UTF-8 bytes`, value);
    }
    // A plain assignment of `__proto__` would set the prototype and lose the pair.
    Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return Object.freeze(copy);
}

function validateLabel(value: unknown, field: string): string {
  if (typeof value !== 'string' || !LABEL_PATTERN.test(value)) {
    throw new InvalidArgumentError(field, 'a label of 1-64 characters from A-Z a-z 0-9 . _ + -', value);
  }
  return value;
}

function validateTimestamp(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(field, 'a non-negative epoch timestamp in milliseconds', value);
  }
  return value;
}
