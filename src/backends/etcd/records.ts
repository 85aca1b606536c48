/**
 * Reads what etcd holds into rollcall's model. Everything read is input, not truth: a key that is
 * not attached to a lease (it would never expire), a value over the size limit, or one that is
 * not a valid instance of the service and id its key names is reported and skipped; the rest of
 * the service is still returned.
 */
import { MalformedRecordError } from '../../core/errors.js';
import type { ServiceInstance } from '../../core/instance.js';
import { storedInstance } from '../stored-instance.js';
import { fromB64, type KeyLayout } from './keys.js';

/** Largest instance record read or written, in bytes. */
export const RECORD_MAX_BYTES = 65_536;

/** One key-value pair as etcd's JSON gateway returns it, decoded. */
export interface KeyValue {
  readonly key: string;
  /** The base64 value as etcd sent it (`''` for keys-only reads and deletions). */
  readonly rawValue: string;
  /** Lease id as a decimal string; `'0'` when the key has no lease. */
  readonly lease: string;
}

/** The `kvs` of a range answer (or the `kv` of events), decoded; entries that are not objects are dropped. */
export function keyValues(kvs: unknown): KeyValue[] {
  if (!Array.isArray(kvs)) return [];
  const out: KeyValue[] = [];
  for (const kv of kvs as unknown[]) {
    const read = keyValue(kv);
    if (read !== undefined) out.push(read);
  }
  return out;
}

export function keyValue(kv: unknown): KeyValue | undefined {
  if (typeof kv !== 'object' || kv === null) return undefined;
  const fields = kv as Record<string, unknown>;
  return {
    key: fromB64(fields['key']),
    rawValue: typeof fields['value'] === 'string' ? fields['value'] : '',
    lease: typeof fields['lease'] === 'string' && /^\d{1,20}$/.test(fields['lease']) ? fields['lease'] : '0',
  };
}

/** The record of an instance: its JSON, as registered. */
export function encodeRecord(instance: ServiceInstance): string {
  return JSON.stringify(instance);
}

/**
 * The instance stored at `kv` (an instance key of `service` with id `id`), or the
 * {@link MalformedRecordError} saying why it is skipped.
 */
export function readInstance(kv: KeyValue, service: string, id: string): ServiceInstance | MalformedRecordError {
  const location = kv.key;
  if (kv.lease === '0') return new MalformedRecordError(location, 'the key is not attached to a lease, so it would never expire');
  // base64 is 4/3 of the bytes: the size is checked before decoding.
  if (kv.rawValue.length > Math.ceil(RECORD_MAX_BYTES / 3) * 4) {
    return new MalformedRecordError(location, `the record is over the ${RECORD_MAX_BYTES}-byte limit`);
  }
  return storedInstance(fromB64(kv.rawValue), location, service, id);
}

/** The instances among `kvs` (keys of `service`'s prefix), sorted by id, and the service's epoch. */
export function readService(
  kvs: readonly KeyValue[],
  service: string,
  layout: KeyLayout,
  onMalformed: (error: MalformedRecordError) => void,
): { instances: ServiceInstance[]; epoch: string | undefined } {
  const instances: ServiceInstance[] = [];
  let epoch: string | undefined;
  for (const kv of kvs) {
    const parsed = layout.parse(kv.key);
    if (parsed === undefined || parsed.service !== service) continue;
    if (parsed.kind === 'epoch') {
      epoch = kv.rawValue;
      continue;
    }
    const instance = readInstance(kv, service, parsed.id);
    if (instance instanceof MalformedRecordError) onMalformed(instance);
    else instances.push(instance);
  }
  instances.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { instances, epoch };
}
