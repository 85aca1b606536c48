/**
 * Property tests of the etcd and DNS backends' pure parts: etcd keys parse back to what wrote them
 * and one service's range never covers another's; whatever etcd holds at a key, reading it gives a
 * valid instance of that key or a MalformedRecordError; DNS service names are exactly the DNS
 * labels rollcall accepts; any SRV answer becomes valid, unique instances within the weight
 * limits, of the lowest priority unless asked otherwise. fast-check prints the seed and the shrunk
 * counterexample on failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedRecordError, InvalidArgumentError } from '../../src/core/errors.js';
import { INSTANCE_ID_PATTERN, INSTANCE_LIMITS, SERVICE_NAME_PATTERN, createInstance } from '../../src/core/instance.js';
import { KeyLayout, prefixRange } from '../../src/backends/etcd/keys.js';
import { encodeRecord, readInstance } from '../../src/backends/etcd/records.js';
import { lookupService, type DnsResolver } from '../../src/backends/dns/lookup.js';
import { DNS_LABEL_PATTERN, assertDnsServiceName } from '../../src/backends/dns/names.js';
import { resolveSettings } from '../../src/backends/dns/options.js';

const namespaces = fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}$/);
const services = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$/);
const ids = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,30}$/);
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

describe('etcd keys (property)', () => {
  it('parse back to the service and id that made them', () => {
    fc.assert(
      fc.property(namespaces, services, ids, (namespace, service, id) => {
        const layout = new KeyLayout(namespace);
        expect(layout.parse(layout.instance(service, id))).toEqual({ kind: 'instance', service, id });
        expect(layout.parse(layout.epoch(service))).toEqual({ kind: 'epoch', service });
      }),
      { numRuns: 1_000 },
    );
  });

  it("never put one service's keys in another service's range", () => {
    fc.assert(
      fc.property(namespaces, services, services, ids, (namespace, a, b, id) => {
        fc.pre(a !== b);
        const layout = new KeyLayout(namespace);
        const range = prefixRange(layout.service(a));
        const start = Buffer.from(range.key, 'base64');
        const end = Buffer.from(range.range_end, 'base64');
        for (const key of [layout.instance(b, id), layout.epoch(b)]) {
          const bytes = Buffer.from(key, 'utf8');
          expect(Buffer.compare(bytes, start) >= 0 && Buffer.compare(bytes, end) < 0).toBe(false);
        }
        const own = Buffer.from(layout.instance(a, id), 'utf8');
        expect(Buffer.compare(own, start) >= 0 && Buffer.compare(own, end) < 0).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('etcd records (property)', () => {
  it('read back as the instance written, and anything else as a MalformedRecordError', () => {
    const instances = fc.record({
      id: ids,
      port: fc.integer({ min: 1, max: 65_535 }),
      weight: fc.integer({ min: 1, max: 10_000 }),
      tags: fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,8}$/), { maxLength: 4 }),
      status: fc.constantFrom('passing', 'warning', 'critical', 'draining' as const),
    });
    const planted = fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((value) => JSON.stringify(value)));
    fc.assert(
      fc.property(instances, planted, fc.constantFrom('0', '7587862'), ({ id, ...fields }, garbage, lease) => {
        const written = createInstance({ id, service: 'orders', host: '10.0.0.1', ...fields }, 1_700_000_000_000);
        const key = `/rollcall/p/orders/instances/${id}`;
        const read = readInstance({ key, rawValue: b64(encodeRecord(written)), lease: '7587862' }, 'orders', id);
        expect(read).toEqual(written);
        const other = readInstance({ key, rawValue: b64(garbage), lease }, 'orders', id);
        if (!(other instanceof MalformedRecordError)) {
          expect(lease).not.toBe('0');
          expect(other.id).toBe(id);
          expect(other.service).toBe('orders');
        }
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('DNS names (property)', () => {
  it('accept exactly the service names that are DNS labels, refusing the rest with InvalidArgumentError', () => {
    fc.assert(
      fc.property(fc.oneof(services, fc.string({ maxLength: 70 }), fc.stringMatching(/^[a-z0-9-]{1,70}$/)), (name) => {
        const valid = SERVICE_NAME_PATTERN.test(name) && DNS_LABEL_PATTERN.test(name);
        let error: unknown;
        try {
          assertDnsServiceName(name);
        } catch (caught) {
          error = caught;
        }
        if (valid) expect(error).toBeUndefined();
        else expect(error).toBeInstanceOf(InvalidArgumentError);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('DNS SRV answers (property)', () => {
  const ipv4 = fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 0, max: 3 })).map(([a, b]) => `10.${b}.0.${a}`);
  const records = fc.array(
    fc.record({
      target: fc.constantFrom('a.test', 'b.test', 'c.test', 'ghost.test', '.'),
      port: fc.integer({ min: 1, max: 65_535 }),
      priority: fc.integer({ min: 0, max: 3 }),
      weight: fc.integer({ min: 0, max: 65_535 }),
    }),
    { maxLength: 12 },
  );
  const addresses = fc.record({ 'a.test': fc.array(ipv4, { maxLength: 3 }), 'b.test': fc.array(ipv4, { maxLength: 3 }), 'c.test': fc.constant<string[]>(['fd00::1']) });

  it('become valid, unique instances within the weight limits, of the lowest priority unless asked', async () => {
    await fc.assert(
      fc.asyncProperty(records, addresses, fc.constantFrom('lowest', 'all' as const), async (srv, hosts, priorities) => {
        const lookup = (family: 4 | 6) => (name: string) => {
          const found = (hosts as Readonly<Record<string, readonly string[]>>)[name]?.filter((address) => (family === 6) === address.includes(':')) ?? [];
          return found.length === 0 ? Promise.reject(Object.assign(new Error('no data'), { code: 'ENODATA' })) : Promise.resolve(found.map((address) => ({ address, ttl: 30 })));
        };
        const resolver = {
          resolveSrv: () => Promise.resolve(srv.map(({ target, ...rest }) => ({ name: target, ...rest }))),
          resolve4: lookup(4),
          resolve6: lookup(6),
        } as unknown as DnsResolver;
        const settings = resolveSettings({ env: {}, priorities, minTtlMs: 1_000, maxTtlMs: 60_000 });
        const skipped: MalformedRecordError[] = [];
        const result = await lookupService('orders', { resolver, settings, firstSeen: new Map(), onSkipped: (error) => skipped.push(error) });
        const usable = srv.filter((record) => record.target !== '.');
        const lowest = Math.min(...usable.map((record) => record.priority));
        const kept = priorities === 'lowest' ? usable.filter((record) => record.priority === lowest) : usable;
        const expected = new Set(kept.flatMap((record) => ((hosts as Readonly<Record<string, readonly string[]>>)[record.target] ?? []).map((address) => `${address}|${record.port}`)));
        expect(new Set(result.instances.map((i) => `${i.host}|${i.port}`))).toEqual(expected);
        expect(new Set(result.instances.map((i) => i.id)).size).toBe(result.instances.length);
        for (const instance of result.instances) {
          expect(instance.id).toMatch(INSTANCE_ID_PATTERN);
          expect(instance.weight).toBeGreaterThanOrEqual(1);
          expect(instance.weight).toBeLessThanOrEqual(INSTANCE_LIMITS.maxWeight);
          expect(kept.some((record) => record.port === instance.port && String(record.priority) === instance.meta['priority'])).toBe(true);
        }
        expect(result.ttlMs).toBe(result.instances.length === 0 ? 60_000 : 30_000);
        expect(skipped.length).toBe(kept.filter((record) => ((hosts as Readonly<Record<string, readonly string[]>>)[record.target] ?? []).length === 0).length);
      }),
      { numRuns: 1_000 },
    );
  });
});
