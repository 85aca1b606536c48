/**
 * Reads the listing script's reply into instances. A record that does not make a valid instance of
 * this service is reported and skipped; the rest of the service is still returned.
 */
import { MalformedRecordError } from '../../core/errors.js';
import { isInstanceStatus, parseInstanceRecord, withStatus, type InstanceStatus, type ServiceInstance } from '../../core/instance.js';
import type { ServiceKeys } from './keys.js';

/** One read of a service. */
export interface Listing {
  /** The Redis server's clock when it answered (epoch ms). */
  readonly serverNow: number;
  /** The earliest lease deadline among the live instances (server epoch ms), if any. */
  readonly nextDeadline: number | undefined;
  /** Valid live instances, sorted by id. */
  readonly instances: ServiceInstance[];
  /** Equal for two listings with the same instances, records and statuses. */
  readonly signature: string;
}

/** Receives each skipped record: the key it lives in, its id, and what is wrong with it. */
export type MalformedHandler = (error: MalformedRecordError, key: string, id: string) => void;

interface Lease {
  readonly status: InstanceStatus;
  readonly updatedAt: number;
}

const LEASE_PATTERN = /^\d+ ([a-z]+) (\S+)$/;

export function parseListing(reply: unknown, service: string, keys: ServiceKeys, onMalformed: MalformedHandler): Listing {
  if (!Array.isArray(reply) || reply.length < 2 || (reply.length - 2) % 3 !== 0) {
    throw new Error('unexpected reply from the listing script');
  }
  const [serverNow, next] = reply as unknown[];
  if (typeof serverNow !== 'number' || typeof next !== 'number') throw new Error('unexpected reply from the listing script');
  const rows: { id: string; instance: ServiceInstance; raw: string }[] = [];
  for (let i = 2; i < reply.length; i += 3) {
    const id: unknown = reply[i];
    const record: unknown = reply[i + 1];
    const lease: unknown = reply[i + 2];
    if (typeof id !== 'string') throw new Error('unexpected reply from the listing script');
    const instance = readInstance(id, record, lease, service, keys, onMalformed);
    if (instance !== undefined) rows.push({ id, instance, raw: `${String(record)}\u0001${String(lease)}` });
  }
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    serverNow,
    nextDeadline: next < 0 ? undefined : next,
    instances: rows.map((row) => row.instance),
    signature: rows.map((row) => `${row.id}\u0001${row.raw}`).join('\u0000'),
  };
}

function readInstance(
  id: string,
  record: unknown,
  lease: unknown,
  service: string,
  keys: ServiceKeys,
  onMalformed: MalformedHandler,
): ServiceInstance | undefined {
  const location = `${keys.records} field ${id}`;
  try {
    if (typeof record !== 'string') throw new MalformedRecordError(location, 'the instance has a lease but no record');
    let parsed: unknown;
    try {
      parsed = JSON.parse(record);
    } catch (error) {
      throw new MalformedRecordError(location, 'not valid JSON', { cause: error });
    }
    const instance = parseInstanceRecord(parsed, location);
    if (instance.id !== id || instance.service !== service) {
      throw new MalformedRecordError(location, `the record describes ${instance.service}/${instance.id}, not ${service}/${id}`);
    }
    const state = readLease(lease, `${keys.leases} field ${id}`);
    return state.status === instance.status && state.updatedAt === instance.updatedAt
      ? instance
      : withStatus(instance, state.status, state.updatedAt);
  } catch (error) {
    if (!(error instanceof MalformedRecordError)) throw error;
    onMalformed(error, error.location.startsWith(keys.leases) ? keys.leases : keys.records, id);
    return undefined;
  }
}

function readLease(lease: unknown, location: string): Lease {
  if (typeof lease !== 'string') throw new MalformedRecordError(location, 'the instance has a record but no lease');
  const match = LEASE_PATTERN.exec(lease);
  const status = match?.[1];
  const updatedAt = Number(match?.[2]);
  if (!isInstanceStatus(status) || !Number.isFinite(updatedAt) || updatedAt < 0) {
    throw new MalformedRecordError(location, 'expected "<ttlMs> <status> <updatedAt>"');
  }
  return { status, updatedAt };
}
