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

const headers = fc.oneof(
  fc.tuple(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.constant(NOW), fc.oneof(fc.constant(''), fc.stringMatching(/^\d{16}$/)), fc.constantFrom(0, 1, 2, 3)),
  fc.tuple(fc.anything(), fc.anything(), fc.anything(), fc.anything()),
);

/** What a returned listing must satisfy, whatever the reply it came from. */
function expectSound(listing: Listing, reply: unknown[], malformed: number): void {
  const rowCount = (reply.length - 4) / 3;
  expect(listing.instances.length + malformed).toBe(rowCount);
  expect(listing.records).toHaveLength(listing.instances.length);
  expect(Number.isSafeInteger(listing.version) && listing.version >= 0).toBe(true);
  expect(typeof listing.epoch).toBe('string');
  const seen = new Set<string>();
  listing.instances.forEach((instance, n) => {
    // Valid: revalidating its JSON form gives it back.
    expect(createInstance(JSON.parse(JSON.stringify(instance)) as InstanceInput, 0)).toEqual(instance);
    expect(Object.isFrozen(instance)).toBe(true);
    expect(instance.service).toBe(SERVICE);
    // Stored under its own id, with a deadline its lease allows.
    const row = reply.findIndex((item, i) => i >= 4 && (i - 4) % 3 === 0 && item === instance.id && reply[i + 1] === listing.records[n]);
    expect(row).toBeGreaterThanOrEqual(4);
    const deadline = Number(reply[row + 2]);
    const ttlMs = Number(String(reply[row + 1]).split(' ')[0]);
    expect(deadline).toBeGreaterThan(listing.serverNow);
    expect(deadline).toBeLessThanOrEqual(listing.serverNow + ttlMs + CLOCK_SLACK_MS);
    expect(String(reply[row + 1]).length).toBeLessThanOrEqual(RECORD_MAX_BYTES);
    seen.add(instance.id);
  });
  const sortedIds = listing.instances.map((i) => i.id);
  expect(sortedIds).toEqual([...sortedIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  expect(listing.nextDeadline === undefined).toBe(listing.instances.length === 0);
  if (listing.nextDeadline !== undefined) expect(listing.nextDeadline).toBeLessThanOrEqual(listing.latestDeadline ?? -Infinity);
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
        const reply: unknown[] = [7, NOW, '1700000000000000', 0];
        const expected = entries.map(([input, ttlMs, status, updatedAt]) => {
          const instance = createInstance(input, 1);
          reply.push(instance.id, stored(instance, ttlMs, status, updatedAt), String(NOW + ttlMs));
          return { ...instance, status, updatedAt };
        });
        const listing = parseListing(reply, SERVICE, KEYS, () => expect.unreachable('no row is malformed'), new RecordCache());
        expect(listing.instances).toEqual(expected.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
      }),
      { numRuns: 800 },
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
