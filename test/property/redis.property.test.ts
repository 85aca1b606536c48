/**
 * Property tests of the Redis backend's parsers (src/backends/redis/records.ts): whatever Redis
 * sends back (planted records, forged messages, replies of any shape), the parsers throw only
 * their documented errors and never return an instance that is not valid, not of the service, or
 * not alive by its own lease. fast-check prints the seed and the shrunk counterexample on failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedRecordError } from '../../src/core/errors.js';
import {
  INSTANCE_STATUSES,
  SERVICE_NAME_PATTERN,
  TTL_LIMITS,
  createInstance,
  type InstanceInput,
  type ServiceInstance,
} from '../../src/core/instance.js';
import { serviceKeys } from '../../src/backends/redis/keys.js';
import {
  CLOCK_SLACK_MS,
  RecordCache,
  UNEXPECTED_LISTING,
  UNEXPECTED_SERVICES,
  applyChanges,
  parseChange,
  parseListing,
  parseServices,
  type Listing,
} from '../../src/backends/redis/records.js';
import { RECORD_MAX_BYTES } from '../../src/backends/redis/scripts.js';

const SERVICE = 'orders';
const KEYS = serviceKeys('prop', SERVICE);
const NOW = 1_700_000_000_000;

const ids = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/);
const labels = fc.stringMatching(/^[A-Za-z0-9._+-]{1,12}$/);

/** Valid instance inputs of `service`. */
function validInputs(service: fc.Arbitrary<string>): fc.Arbitrary<InstanceInput> {
  return fc.record(
    {
      id: ids,
      service,
      host: fc.stringMatching(/^[A-Za-z0-9._:%-]{1,30}$/),
      port: fc.integer({ min: 1, max: 65_535 }),
      protocol: fc.constantFrom('http', 'https', 'grpc'),
      tags: fc.uniqueArray(fc.stringMatching(/^[^\s,]{1,12}$/), { maxLength: 4 }),
      meta: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9_-]{1,10}$/).filter((key) => !key.startsWith('consul-')), fc.string({ maxLength: 30 }), {
        maxKeys: 4,
      }),
      weight: fc.integer({ min: 1, max: 10_000 }),
      zone: labels,
      version: labels,
      status: fc.constantFrom(...INSTANCE_STATUSES),
    },
    { requiredKeys: ['id', 'service', 'host', 'port'] },
  );
}

/** A record as the scripts store it: lease prefix, then the instance JSON as registered. */
function stored(instance: ServiceInstance, ttlMs: number, status: string, updatedAt: number): string {
  return `${ttlMs} ${status} ${updatedAt} ${JSON.stringify(instance)}`;
}

const ttls = fc.integer({ min: TTL_LIMITS.min, max: TTL_LIMITS.max });

/** One row a listing could hold: valid, damaged, planted or plain garbage. */
const rows = fc.oneof(
  // Valid, alive within its lease.
  fc.tuple(validInputs(fc.constant(SERVICE)), ttls, fc.constantFrom(...INSTANCE_STATUSES), fc.nat({ max: 2 ** 40 }), fc.integer({ min: 1, max: 1_000_000 })).map(
    ([input, ttlMs, status, updatedAt, ahead]) => {
      const instance = createInstance(input, 1);
      return [instance.id, stored(instance, ttlMs, status, updatedAt), String(NOW + Math.min(ahead, ttlMs))] as unknown[];
    },
  ),
  // Valid record, under another id, service or with a deadline beyond its lease.
  fc.tuple(validInputs(fc.constantFrom(SERVICE, 'payments')), ids, fc.integer({ min: -1e6, max: 1e13 })).map(([input, id, ahead]) => {
    const instance = createInstance(input, 1);
    return [id, stored(instance, 30_000, 'passing', 1), NOW + ahead] as unknown[];
  }),
  // A valid record cut or spliced at any point.
  fc.tuple(validInputs(fc.constant(SERVICE)), fc.nat(), fc.string({ maxLength: 8 })).map(([input, at, inserted]) => {
    const instance = createInstance(input, 1);
    const record = stored(instance, 30_000, 'passing', 1);
    const cut = at % (record.length + 1);
    return [instance.id, record.slice(0, cut) + inserted + record.slice(cut + inserted.length), String(NOW + 1_000)] as unknown[];
  }),
  // A lease prefix in front of any JSON value, or of an instance with one field of any value.
  fc.tuple(ids, fc.jsonValue()).map(([id, json]) => [id, `30000 passing 1 ${JSON.stringify(json)}`, String(NOW + 1_000)] as unknown[]),
  fc.tuple(validInputs(fc.constant(SERVICE)), fc.constantFrom('id', 'service', 'host', 'port', 'tags', 'meta', 'weight', 'zone', 'status', 'registeredAt'), fc.jsonValue()).map(
    ([input, field, value]) => {
      const instance = { ...JSON.parse(JSON.stringify(createInstance(input, 1))), [field]: value } as ServiceInstance;
      return [input.id, stored(instance, 30_000, 'passing', 1), String(NOW + 1_000)] as unknown[];
    },
  ),
  // Anything at all in each slot.
  fc.tuple(fc.oneof(ids, fc.string()), fc.anything(), fc.anything()),
  fc.tuple(ids, fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 40 })), fc.oneof(fc.string(), fc.double(), fc.constantFrom('inf', '-inf', 'nan'))),
);

const HEADER = 6;

const headers = fc.oneof(
  fc.tuple(
    fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    fc.constant(NOW),
    fc.oneof(fc.constant(''), fc.stringMatching(/^\d{16}$/)),
    fc.constantFrom(0, 1, 2, 3, 8, 16, 27),
    fc.constantFrom(0, 1),
    fc.oneof(fc.constant(''), fc.nat().map((ahead) => String(NOW + ahead)), fc.string()),
  ),
  fc.tuple(fc.anything(), fc.anything(), fc.anything(), fc.anything(), fc.anything(), fc.anything()),
);

/** Each instance a listing returns is valid, of the service, and justified by a row: its own id, its record, a deadline its lease allows. */
function expectSoundInstance(instance: ServiceInstance, reply: unknown[], serverNow: number): void {
  // Valid: revalidating its JSON form gives it back.
  expect(createInstance(JSON.parse(JSON.stringify(instance)) as InstanceInput, 0)).toEqual(instance);
  expect(Object.isFrozen(instance)).toBe(true);
  expect(instance.service).toBe(SERVICE);
  const justified = reply.some((item, i) => {
    if (i < HEADER || (i - HEADER) % 3 !== 0 || item !== instance.id) return false;
    const record = reply[i + 1];
    if (typeof record !== 'string' || record.length > RECORD_MAX_BYTES) return false;
    const [ttl, status, updatedAt] = record.split(' ');
    const deadline = Number(reply[i + 2]);
    let stored: unknown;
    try {
      stored = JSON.parse(record.slice(`${ttl} ${status} ${updatedAt} `.length));
    } catch {
      return false;
    }
    const { host, port, id } = stored as Partial<ServiceInstance>;
    return id === instance.id && host === instance.host && port === instance.port && status === instance.status && deadline > serverNow && deadline <= serverNow + Number(ttl) + CLOCK_SLACK_MS;
  });
  expect(justified).toBe(true);
}

/** What a returned listing must satisfy, whatever the reply it came from. */
function expectSound(listing: Listing, reply: unknown[], malformed: number): void {
  const rowCount = (reply.length - HEADER) / 3;
  expect(Number.isSafeInteger(listing.version) && listing.version >= 0).toBe(true);
  expect(typeof listing.epoch).toBe('string');
  if (listing.kind === 'delta') {
    // Every row is an instance as it is now, or gone; a malformed one is gone and counted.
    expect(listing.changes.size).toBeLessThanOrEqual(rowCount);
    for (const [id, instance] of listing.changes) {
      if (instance === undefined) continue;
      expect(instance.id).toBe(id);
      expectSoundInstance(instance, reply, listing.serverNow);
    }
    return;
  }
  expect(listing.instances.length + malformed).toBe(rowCount);
  for (const instance of listing.instances) expectSoundInstance(instance, reply, listing.serverNow);
  const sortedIds = listing.instances.map((i) => i.id);
  expect(sortedIds).toEqual([...sortedIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  expect(listing.latestDeadline === undefined).toBe(listing.instances.length === 0);
}

function listingProperty(reply: fc.Arbitrary<unknown>, cache: RecordCache): fc.IPropertyWithHooks<[unknown]> {
  return fc.property(reply, (input) => {
    let malformed = 0;
    let listing: Listing;
    try {
      listing = parseListing(
        input,
        SERVICE,
        KEYS,
        (error, key) => {
          expect(error).toBeInstanceOf(MalformedRecordError);
          expect(key).toBe(KEYS.records);
          malformed++;
        },
        cache,
      );
    } catch (error) {
      // The one documented failure: a reply whose shape no script produces.
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toBe(UNEXPECTED_LISTING);
      return;
    }
    expectSound(listing, input as unknown[], malformed);
  });
}

describe('redis records parsers (property)', () => {
  it('parseListing: anything at all', () => {
    fc.assert(listingProperty(fc.anything(), new RecordCache()), { numRuns: 1_500 });
  });

  it('parseListing: listings of valid, damaged, misplaced and planted rows', () => {
    // One cache across runs, so records met under one id are met again under others.
    const reply = fc.tuple(headers, fc.array(rows, { maxLength: 12 })).map(([header, body]) => [...header, ...body.flat()]);
    fc.assert(listingProperty(reply, new RecordCache()), { numRuns: 2_500 });
  });

  it('parseListing: every valid live row comes back as registered, status and time from the lease', () => {
    const valid = fc.uniqueArray(
      fc.tuple(validInputs(fc.constant(SERVICE)), ttls, fc.constantFrom(...INSTANCE_STATUSES), fc.nat({ max: 2 ** 40 })),
      { selector: ([input]) => input.id, maxLength: 8 },
    );
    fc.assert(
      fc.property(valid, (entries) => {
        const reply: unknown[] = [7, NOW, '1700000000000000', 0, 0, ''];
        const expected = entries.map(([input, ttlMs, status, updatedAt]) => {
          const instance = createInstance(input, 1);
          reply.push(instance.id, stored(instance, ttlMs, status, updatedAt), String(NOW + ttlMs));
          return { ...instance, status, updatedAt };
        });
        const listing = parseListing(reply, SERVICE, KEYS, () => expect.unreachable('no row is malformed'), new RecordCache());
        expect(listing.kind === 'full' && listing.instances).toEqual(expected.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
      }),
      { numRuns: 800 },
    );
  });

  it('applyChanges: the same list as rebuilding it from scratch, sorted, and the same array when nothing changed', () => {
    const pool = Array.from({ length: 12 }, (_, n) => [createInstance({ id: `i${n}`, service: SERVICE, host: 'a', port: 1 }, 1), createInstance({ id: `i${n}`, service: SERVICE, host: 'b', port: 1 }, 1)]);
    const version = fc.nat({ max: 11 }).chain((n) => fc.constantFrom(...(pool[n] as ServiceInstance[])));
    const current = fc.uniqueArray(version, { selector: (instance) => instance.id, maxLength: 10 }).map((list) => [...list].sort((a, b) => (a.id < b.id ? -1 : 1)));
    const changes = fc.array(fc.tuple(fc.nat({ max: 11 }), fc.option(fc.constantFrom(0, 1), { nil: undefined })), { maxLength: 8 });
    fc.assert(
      fc.property(current, changes, (list, edits) => {
        const map = new Map<string, ServiceInstance | undefined>();
        for (const [n, which] of edits) map.set(`i${n}`, which === undefined ? undefined : (pool[n] as ServiceInstance[])[which]);
        const expected = new Map(list.map((instance) => [instance.id, instance]));
        for (const [id, instance] of map) {
          if (instance === undefined) expected.delete(id);
          else expected.set(id, instance);
        }
        const result = applyChanges(list, map);
        expect(result).toEqual([...expected.values()].sort((a, b) => (a.id < b.id ? -1 : 1)));
        const same = result.length === list.length && result.every((instance, i) => instance === list[i]);
        expect(result === list).toBe(same);
      }),
      { numRuns: 1_500 },
    );
  });

  it('parseChange: a version or MalformedRecordError, for any message', () => {
    const messages = fc.oneof(fc.string(), fc.stringMatching(/^\d{1,20}$/), fc.nat().map(String), fc.anything());
    fc.assert(
      fc.property(messages, (message) => {
        let version: number;
        try {
          version = parseChange(message, KEYS);
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedRecordError);
          expect((error as MalformedRecordError).location).toBe(KEYS.channel);
          return;
        }
        expect(Number.isSafeInteger(version) && version >= 0).toBe(true);
        expect(String(version)).toBe(String(message).replace(/^0+(?=\d)/, ''));
      }),
      { numRuns: 2_000 },
    );
  });

  it('parseServices: sorted valid names or the documented error, for any reply', () => {
    const replies = fc.oneof(
      fc.anything(),
      fc.tuple(fc.constantFrom(0, 4, '0', 3), fc.array(fc.oneof(fc.string(), fc.stringMatching(SERVICE_NAME_PATTERN), fc.anything()), { maxLength: 10 })).map(
        ([planted, names]) => [planted, ...names],
      ),
    );
    fc.assert(
      fc.property(replies, (reply) => {
        let skipped = 0;
        try {
          const { names, plantedIndex } = parseServices(reply, '{prop}:services', () => skipped++);
          for (const name of names) expect(SERVICE_NAME_PATTERN.test(name)).toBe(true);
          expect(names).toEqual([...names].sort());
          expect(names.length + skipped).toBe((reply as unknown[]).length - 1);
          expect(typeof plantedIndex).toBe('boolean');
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message).toBe(UNEXPECTED_SERVICES);
        }
      }),
      { numRuns: 1_500 },
    );
  });
});
