/**
 * Reads what the scripts return into rollcall's model: listings, change messages and the services
 * index. Everything read from Redis is input, not truth: a record that does not make a valid
 * instance of this service, whose lease deadline lies beyond what its TTL allows, or that is over
 * the size limit is reported and skipped; the rest of the service is still returned.
 */
import { MalformedRecordError } from '../../core/errors.js';
import { SERVICE_NAME_PATTERN, TTL_LIMITS, isInstanceStatus, withStatus, type InstanceStatus, type ServiceInstance } from '../../core/instance.js';
import { storedInstance } from '../stored-instance.js';
import type { ServiceKeys } from './keys.js';
import {
  CLOCK_SLACK_MS,
  PLANTED_DEADLINES,
  PLANTED_EXPIRIES,
  PLANTED_INDEX,
  PLANTED_LOG,
  PLANTED_RECORDS,
  READ_DELTA,
  READ_FULL,
  RECORD_MAX_BYTES,
} from './scripts.js';
import { integer, score, unexpected } from './replies.js';

/**
 * How far past the server's now plus its TTL a lease deadline may lie: a server that took over
 * after a failover may run somewhat behind the one that set the deadline. Further out, the
 * deadline was not set by a registration or renewal (which set now + TTL): the record is skipped.
 */
export { CLOCK_SLACK_MS };

/** What every read of a service tells, whole or delta. */
export interface ReadHead {
  /** The service's version when it was read; every later change has a greater one. */
  readonly version: number;
  /** The Redis server's clock when it answered (epoch ms). */
  readonly serverNow: number;
  /** Set when the service's records hash was created; `''` without one (no hash, or written before epochs). */
  readonly epoch: string;
  /**
   * Keys of the service found holding another Redis type (`PLANTED_*` bits): the deadlines and
   * records keys are read as empty, the log and the expiry index were replaced.
   */
  readonly plantedKeys: number;
  /** The latest lease deadline among the service's instances (server epoch ms), when known. */
  readonly latestDeadline: number | undefined;
}

/** A read of the whole service. */
export interface FullListing extends ReadHead {
  readonly kind: 'full';
  /** Valid live instances, sorted by id. */
  readonly instances: ServiceInstance[];
}

/** A read of what changed since a version the reader knew. */
export interface DeltaListing extends ReadHead {
  readonly kind: 'delta';
  /** Each instance changed since: as it is now, or undefined when it is gone (or unreadable). */
  readonly changes: ReadonlyMap<string, ServiceInstance | undefined>;
}

/** One read of a service. */
export type Listing = FullListing | DeltaListing;

/** The version and epoch a watcher read last: enough for the next read to bring only what changed. */
export interface KnownVersion {
  readonly epoch: string;
  readonly version: number;
}

/** What `services()` read: valid names, sorted, and whether the index key held another Redis type. */
export interface ServicesReply {
  readonly names: string[];
  readonly plantedIndex: boolean;
}

/** Receives each skipped record: the key it lives in, its id, and what is wrong with it. */
export type MalformedHandler = (error: MalformedRecordError, key: string, id: string) => void;

/** Thrown for a reply whose shape no script of ours produces; the backend reports `REGISTRY_UNAVAILABLE`. */
export const UNEXPECTED_LISTING = 'unexpected reply from the listing script';
export const UNEXPECTED_SERVICES = 'unexpected reply from the services script';

/** `<ttlMs> <status> <updatedAt> ` in front of the instance JSON. */
const RECORD_PREFIX = /^(\d{1,9}) ([a-z]{1,16}) (\d{1,16}) /;
/** Characters of records remembered with their instance; the memory starts over beyond it. */
const CACHED_RECORD_CHARS = 1_000_000;
const HEADER = 6;
const ROW = 3;
const SERVICE_KEY_BITS = PLANTED_DEADLINES | PLANTED_RECORDS | PLANTED_LOG | PLANTED_EXPIRIES;

interface Known {
  readonly instance: ServiceInstance;
  readonly ttlMs: number;
}

/** The stored record of an instance: `<ttlMs> <status> <updatedAt> <instance JSON as registered>`. */
export function recordOf(ttlMs: number, status: InstanceStatus, updatedAt: number, json: string): string {
  return `${ttlMs} ${status} ${updatedAt} ${json}`;
}

/**
 * Instances already read, by stored record. Records change only on registration and status
 * change, so reading a service again mostly costs a lookup per instance instead of parsing and
 * validating each one. Instances are frozen, so sharing them is safe.
 */
export class RecordCache {
  readonly #known = new Map<string, Known>();
  #chars = 0;

  get(record: string): Known | undefined {
    return this.#known.get(record);
  }

  set(record: string, known: Known): void {
    if (this.#chars + record.length > CACHED_RECORD_CHARS) {
      this.#known.clear();
      this.#chars = 0;
    }
    this.#known.set(record, known);
    this.#chars += record.length;
  }
}

/**
 * Reads what the read script returns: `{version, now, epoch, planted keys, mode, latest deadline,
 * then id, record, deadline of each row}`, the whole service or the rows changed since the
 * version the reader knew. Throws a plain `Error` ({@link UNEXPECTED_LISTING}) when the shape is
 * wrong; records that are wrong are reported through `onMalformed` and skipped (in a delta, taken
 * as gone). Every instance returned is valid, of `service`, stored under its own id, and alive by
 * its own lease.
 */
export function parseListing(reply: unknown, service: string, keys: ServiceKeys, onMalformed: MalformedHandler, cache: RecordCache): Listing {
  if (!Array.isArray(reply) || reply.length < HEADER || (reply.length - HEADER) % ROW !== 0) throw new Error(UNEXPECTED_LISTING);
  const items = reply as unknown[];
  const version = integer(items[0]) ?? unexpected(UNEXPECTED_LISTING);
  const serverNow = integer(items[1]) ?? unexpected(UNEXPECTED_LISTING);
  const epoch = items[2];
  const plantedKeys = integer(items[3]) ?? unexpected(UNEXPECTED_LISTING);
  const mode = integer(items[4]) ?? unexpected(UNEXPECTED_LISTING);
  const latest = items[5];
  if (
    typeof epoch !== 'string' ||
    version < 0 ||
    serverNow < 0 ||
    (plantedKeys & ~SERVICE_KEY_BITS) !== 0 ||
    (mode !== READ_FULL && mode !== READ_DELTA) ||
    (latest !== '' && typeof latest !== 'string')
  ) {
    throw new Error(UNEXPECTED_LISTING);
  }
  const head = { version, serverNow, epoch, plantedKeys };
  if (mode === READ_DELTA) {
    const changes = new Map<string, ServiceInstance | undefined>();
    for (let i = HEADER; i < items.length; i += ROW) {
      const id = items[i];
      if (typeof id !== 'string') throw new Error(UNEXPECTED_LISTING);
      const record = items[i + 1];
      const deadline = items[i + 2];
      // Gone: removed (no deadline), or expired and not pruned yet.
      const gone = deadline === null || deadline === undefined || score(deadline) <= serverNow;
      const read = gone ? undefined : readInstance(id, record, deadline, serverNow, service, keys, cache);
      if (read instanceof MalformedRecordError) onMalformed(read, keys.records, id);
      changes.set(id, read === undefined || read instanceof MalformedRecordError ? undefined : read.instance);
    }
    const latestDeadline = integer(latest);
    return { kind: 'delta', ...head, latestDeadline, changes };
  }
  const rows: { id: string; instance: ServiceInstance; deadline: number }[] = [];
  for (let i = HEADER; i < items.length; i += ROW) {
    const id = items[i];
    if (typeof id !== 'string') throw new Error(UNEXPECTED_LISTING);
    const read = readInstance(id, items[i + 1], items[i + 2], serverNow, service, keys, cache);
    if (read instanceof MalformedRecordError) onMalformed(read, keys.records, id);
    else rows.push({ id, ...read });
  }
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let latestDeadline: number | undefined;
  for (const { deadline } of rows) if (latestDeadline === undefined || deadline > latestDeadline) latestDeadline = deadline;
  return { kind: 'full', ...head, latestDeadline, instances: rows.map((row) => row.instance) };
}

/**
 * `current` (sorted by id) with `changes` applied, still sorted by id: changed instances replaced,
 * new ones inserted, gone ones removed, frozen. Costs one copy of `current` plus a binary search and
 * an insertion or removal per change (at most 1,000, see MAX_DELTA), and returns `current` itself
 * when nothing in it changed.
 */
export function applyChanges(current: readonly ServiceInstance[], changes: ReadonlyMap<string, ServiceInstance | undefined>): readonly ServiceInstance[] {
  let result: ServiceInstance[] | undefined;
  // A few changes to a long list: a copy (one memory move) and a binary search per change.
  for (const [id, instance] of changes) {
    const list = result ?? current;
    const at = indexOf(list, id);
    const found = at < list.length && list[at]?.id === id;
    if (found ? list[at] === instance : instance === undefined) continue;
    // Spread, not slice(): V8 copies a frozen array's slice() element by element, 20 times slower.
    result ??= [...current];
    if (instance === undefined) result.splice(at, 1);
    else if (found) result[at] = instance;
    else result.splice(at, 0, instance);
  }
  return result === undefined ? current : Object.freeze(result);
}

/** Where `id` is, or would go, in `list` sorted by id. */
function indexOf(list: readonly ServiceInstance[], id: string): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((list[middle] as ServiceInstance).id < id) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Reads a message published on the service's channel: the version of a change, which a watcher
 * only uses to decide whether to read the service. Throws {@link MalformedRecordError} for
 * anything else.
 */
export function parseChange(message: unknown, keys: ServiceKeys): number {
  const version = typeof message === 'string' ? integer(message) : undefined;
  if (version === undefined || version < 0) throw new MalformedRecordError(keys.channel, 'not a change message (expected a version number)');
  return version;
}

/**
 * Reads `{planted keys, name, name, ...}`, as the services script returns it. Names that are not
 * service names are reported (`id` is the name) and skipped. Throws a plain `Error`
 * ({@link UNEXPECTED_SERVICES}) when the shape is wrong.
 */
export function parseServices(reply: unknown, indexKey: string, onMalformed: MalformedHandler): ServicesReply {
  if (!Array.isArray(reply) || reply.length === 0) throw new Error(UNEXPECTED_SERVICES);
  const [planted, ...members] = reply as unknown[];
  const plantedKeys = integer(planted) ?? unexpected(UNEXPECTED_SERVICES);
  if (plantedKeys !== 0 && plantedKeys !== PLANTED_INDEX) throw new Error(UNEXPECTED_SERVICES);
  const names: string[] = [];
  for (const name of members) {
    if (typeof name === 'string' && SERVICE_NAME_PATTERN.test(name)) names.push(name);
    else onMalformed(new MalformedRecordError(`${indexKey} member`, 'not a valid service name'), indexKey, typeof name === 'string' ? name : '');
  }
  return { names: names.sort(), plantedIndex: plantedKeys === PLANTED_INDEX };
}

function readInstance(
  id: string,
  record: unknown,
  storedDeadline: unknown,
  serverNow: number,
  service: string,
  keys: ServiceKeys,
  cache: RecordCache,
): { instance: ServiceInstance; record: string; deadline: number } | MalformedRecordError {
  const location = `${keys.records} field ${id}`;
  // A missing record comes as null; the script sends an oversized one as its size, never itself.
  if (record === null || record === undefined || record === '') return new MalformedRecordError(location, 'the instance has a deadline but no record');
  if (typeof record === 'number' || (typeof record === 'string' && record.length > RECORD_MAX_BYTES)) {
    const size = typeof record === 'number' ? record : record.length;
    return new MalformedRecordError(location, `the record has ${size} bytes, over the ${RECORD_MAX_BYTES}-byte limit`);
  }
  if (typeof record !== 'string') return new MalformedRecordError(location, 'the record is not a string');
  const known = cachedOrParsed(id, record, service, location, cache);
  if (known instanceof MalformedRecordError) return known;
  const deadline = score(storedDeadline);
  if (!Number.isSafeInteger(deadline) || deadline <= serverNow || deadline > serverNow + known.ttlMs + CLOCK_SLACK_MS) {
    return new MalformedRecordError(location, `the lease deadline is not within the record's TTL (${known.ttlMs} ms) of the server's clock`);
  }
  return { instance: known.instance, record, deadline };
}

function cachedOrParsed(id: string, record: string, service: string, location: string, cache: RecordCache): Known | MalformedRecordError {
  const cached = cache.get(record);
  // A record copied under another id or service is not the instance it describes.
  if (cached !== undefined && cached.instance.id === id && cached.instance.service === service) return cached;
  const prefix = RECORD_PREFIX.exec(record);
  const ttlMs = Number(prefix?.[1]);
  const status = prefix?.[2];
  const updatedAt = Number(prefix?.[3]);
  if (prefix === null || !isInstanceStatus(status) || !Number.isSafeInteger(updatedAt) || ttlMs < TTL_LIMITS.min || ttlMs > TTL_LIMITS.max) {
    return new MalformedRecordError(location, `expected "<ttlMs ${TTL_LIMITS.min}-${TTL_LIMITS.max}> <status> <updatedAt> <instance JSON>"`);
  }
  const instance = storedInstance(record.slice(prefix[0].length), location, service, id);
  if (instance instanceof MalformedRecordError) return instance;
  const current = instance.status === status && instance.updatedAt === updatedAt ? instance : withStatus(instance, status, updatedAt);
  const known = { instance: current, ttlMs };
  cache.set(record, known);
  return known;
}
