/**
 * Reads listings into instances: the listing script's reply, or a change message carrying the
 * same. A record that does not make a valid instance of this service is reported and skipped; the
 * rest of the service is still returned.
 */
import { MalformedRecordError } from '../../core/errors.js';
import { isInstanceStatus, parseInstanceRecord, withStatus, type ServiceInstance } from '../../core/instance.js';
import type { ServiceKeys } from './keys.js';

/** One read of a service. */
export interface Listing {
  /** The service's version when it was read; every later change has a greater one. */
  readonly version: number;
  /** The Redis server's clock when it answered (epoch ms). */
  readonly serverNow: number;
  /** The earliest lease deadline among the live instances (server epoch ms), if any. */
  readonly nextDeadline: number | undefined;
  /** Valid live instances, sorted by id. */
  readonly instances: ServiceInstance[];
  /** The stored records of `instances`, in the same order: equal for equal listings. */
  readonly records: readonly string[];
}

/** A message on a service's channel: the version a change produced, and the listing when carried. */
export interface Change {
  readonly version: number;
  /** Undefined when the service was too large to carry: a watcher behind `version` reads it. */
  readonly listing: Listing | undefined;
}

/** Receives each skipped record: the key it lives in, its id, and what is wrong with it. */
export type MalformedHandler = (error: MalformedRecordError, key: string, id: string) => void;

/** `<ttlMs> <status> <updatedAt> ` in front of the instance JSON. */
const RECORD_PREFIX = /^\d+ ([a-z]+) (\d+) /;
/** Characters of records remembered with their instance; the memory starts over beyond it. */
const CACHED_RECORD_CHARS = 1_000_000;

/**
 * Instances already read, by stored record. Records change only on registration and status
 * change, so reading a service again mostly costs a lookup per instance instead of parsing and
 * validating each one. Instances are frozen, so sharing them is safe.
 */
export class RecordCache {
  readonly #instances = new Map<string, ServiceInstance>();
  #chars = 0;

  get(record: string): ServiceInstance | undefined {
    return this.#instances.get(record);
  }

  set(record: string, instance: ServiceInstance): void {
    if (this.#chars + record.length > CACHED_RECORD_CHARS) {
      this.#instances.clear();
      this.#chars = 0;
    }
    this.#instances.set(record, instance);
    this.#chars += record.length;
  }
}

/**
 * Reads `{version, now, next deadline or -1, id, record, id, record, ...}`, as the listing script
 * returns it (numbers as integers) or a change message carries it (one item a line). Throws a
 * plain Error when the shape is wrong; records that are wrong are reported and skipped.
 */
export function parseListing(reply: unknown, service: string, keys: ServiceKeys, onMalformed: MalformedHandler, cache: RecordCache): Listing {
  if (!Array.isArray(reply) || reply.length < 3 || (reply.length - 3) % 2 !== 0) throw new Error('unexpected reply from the listing script');
  const items = reply as unknown[];
  const version = integer(items[0]);
  const serverNow = integer(items[1]);
  const next = integer(items[2]);
  const rows: { id: string; instance: ServiceInstance; record: string }[] = [];
  for (let i = 3; i < items.length; i += 2) {
    const id = items[i];
    const record = items[i + 1];
    if (typeof id !== 'string') throw new Error('unexpected reply from the listing script');
    const instance = readInstance(id, record, service, keys, onMalformed, cache);
    if (instance !== undefined) rows.push({ id, instance, record: record as string });
  }
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    version,
    serverNow,
    nextDeadline: next < 0 ? undefined : next,
    instances: rows.map((row) => row.instance),
    records: rows.map((row) => row.record),
  };
}

/**
 * Reads a message published on the service's channel: the version alone, or the listing one item
 * a line. Throws {@link MalformedRecordError} for a message it cannot read.
 */
export function parseChange(message: string, service: string, keys: ServiceKeys, onMalformed: MalformedHandler, cache: RecordCache): Change {
  try {
    const items = message.split('\n');
    if (items.length === 1) return { version: integer(message), listing: undefined };
    const listing = parseListing(items, service, keys, onMalformed, cache);
    return { version: listing.version, listing };
  } catch (error) {
    throw new MalformedRecordError(keys.channel, 'not a change message', { cause: error });
  }
}

function readInstance(
  id: string,
  record: unknown,
  service: string,
  keys: ServiceKeys,
  onMalformed: MalformedHandler,
  cache: RecordCache,
): ServiceInstance | undefined {
  if (typeof record === 'string') {
    const known = cache.get(record);
    // A record copied under another id or service is not the instance it describes.
    if (known !== undefined && known.id === id && known.service === service) return known;
  }
  const location = `${keys.records} field ${id}`;
  try {
    // A message carries a missing record as an empty line; no stored record is empty.
    if (typeof record !== 'string' || record === '') throw new MalformedRecordError(location, 'the instance has a deadline but no record');
    const prefix = RECORD_PREFIX.exec(record);
    const status = prefix?.[1];
    const updatedAt = Number(prefix?.[2]);
    if (prefix === null || !isInstanceStatus(status) || !Number.isSafeInteger(updatedAt)) {
      throw new MalformedRecordError(location, 'expected "<ttlMs> <status> <updatedAt> <instance JSON>"');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(record.slice(prefix[0].length));
    } catch (error) {
      throw new MalformedRecordError(location, 'not valid JSON', { cause: error });
    }
    const instance = parseInstanceRecord(parsed, location);
    if (instance.id !== id || instance.service !== service) {
      throw new MalformedRecordError(location, `the record describes ${instance.service}/${instance.id}, not ${service}/${id}`);
    }
    const current = instance.status === status && instance.updatedAt === updatedAt ? instance : withStatus(instance, status, updatedAt);
    cache.set(record, current);
    return current;
  } catch (error) {
    if (!(error instanceof MalformedRecordError)) throw error;
    onMalformed(error, keys.records, id);
    return undefined;
  }
}

/** An integer as the listing script returns it, or as a change message carries it (a string). */
function integer(value: unknown): number {
  const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) throw new Error('unexpected reply from the listing script');
  return number;
}
