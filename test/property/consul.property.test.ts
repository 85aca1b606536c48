/**
 * Properties of the Consul mapping (src/backends/consul/mapping.ts) over arbitrary catalog and
 * health data: reading never throws anything but MalformedRecordError and never yields an invalid
 * instance; what rollcall writes reads back the same; the server-side filter and the client-side
 * view agree in every go-bexpr generation; Consul ids never collide. fast-check prints the seed
 * and the shrunk counterexample of any failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SERVICE_KINDS,
  consulServiceId,
  instanceFromHealthEntry,
  registrationBody,
  statusOf,
  visibilityFilter,
  type ConsulServiceKind,
  type ReadContext,
} from '../../src/backends/consul/mapping.js';
import { InvalidArgumentError, MalformedRecordError } from '../../src/core/errors.js';
import { INSTANCE_STATUSES, createInstance, type ServiceInstance } from '../../src/core/instance.js';
import { createFilter, type SelectorSchema } from '../helpers/consul-double/bexpr.js';

const serviceName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);
const instanceId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/);
const namespace = fc.option(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,10}$/), { nil: undefined });
const tag = fc.stringMatching(/^[^\s,"]{1,12}$/);
const metaKey = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/), fc.constant('__proto__')).filter((key) => !key.startsWith('consul-') && !key.startsWith('rollcall_'));
const kinds: fc.Arbitrary<ConsulServiceKind[]> = fc.subarray([...SERVICE_KINDS], { minLength: 1 });

const validInstance: fc.Arbitrary<ServiceInstance> = fc
  .record({
    id: instanceId,
    service: serviceName,
    host: fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()),
    port: fc.integer({ min: 1, max: 65_535 }),
    protocol: fc.constantFrom('http', 'https', 'grpc'),
    tags: fc.uniqueArray(tag, { maxLength: 4 }),
    meta: fc.dictionary(metaKey, fc.string({ maxLength: 40 }), { maxKeys: 4 }),
    weight: fc.integer({ min: 1, max: 10_000 }),
    zone: fc.option(fc.stringMatching(/^[A-Za-z0-9._+-]{1,10}$/), { nil: undefined }),
    version: fc.option(fc.stringMatching(/^[A-Za-z0-9._+-]{1,10}$/), { nil: undefined }),
    status: fc.constantFrom(...INSTANCE_STATUSES),
    registeredAt: fc.integer({ min: 0, max: 2 ** 40 }),
    updatedAt: fc.integer({ min: 0, max: 2 ** 40 }),
  })
  .map((input) => createInstance(input, 0));

/** What Consul would list for a body rollcall registered, checks reflecting the instance's status. */
function healthEntryOf(body: Record<string, unknown>, status: ServiceInstance['status'], kind: string): unknown {
  const checkStatus = status === 'draining' ? 'passing' : status;
  const checks = [
    { CheckID: 'serfHealth', Status: 'passing' },
    { CheckID: `service:${String(body['ID'])}`, Status: checkStatus },
    ...(status === 'draining' ? [{ CheckID: `_service_maintenance:${String(body['ID'])}`, Status: 'critical' }] : []),
  ];
  // Through JSON, as on the wire: a `__proto__` key must survive both ways.
  return JSON.parse(
    JSON.stringify({
      Node: { Node: 'n1', Address: '10.9.9.9', Meta: {} },
      Service: { ID: body['ID'], Service: body['Name'], Tags: body['Tags'], Address: body['Address'], Port: body['Port'], Meta: body['Meta'], Weights: body['Weights'], ...(kind === '' ? {} : { Kind: kind }) },
      Checks: checks,
    }),
  ) as unknown;
}

/** Arbitrary health entries: Consul-shaped with arbitrary values, Consul-shaped with junk spliced in, or anything at all. */
const jsonValue = fc.jsonValue({ maxDepth: 3 });
const consulShaped = fc.record({
  Node: fc.oneof(fc.record({ Node: fc.string(), Address: fc.oneof(fc.string(), fc.ipV4()) }), jsonValue),
  Service: fc.oneof(
    fc.record(
      {
        ID: fc.oneof(fc.string({ maxLength: 30 }), instanceId.map((id) => `orders:${id}`), jsonValue),
        Service: fc.oneof(fc.constant('orders'), fc.string(), jsonValue),
        Kind: fc.oneof(fc.constantFrom('', 'connect-proxy', 'mesh-gateway', 'destination'), jsonValue),
        Tags: fc.oneof(fc.array(fc.string({ maxLength: 10 }), { maxLength: 4 }), jsonValue),
        Address: fc.oneof(fc.string({ maxLength: 20 }), fc.ipV4(), jsonValue),
        Port: fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.double(), jsonValue),
        Meta: fc.oneof(
          fc.dictionary(
            fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('rollcall_namespace', 'rollcall_protocol', 'rollcall_registered_at', 'rollcall_updated_at', 'rollcall_zone', '__proto__')),
            fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('shop', 'http', '12', '-1', 'HTTP!')),
            { maxKeys: 5 },
          ),
          jsonValue,
        ),
        Weights: fc.oneof(fc.record({ Passing: fc.oneof(fc.integer({ min: -10, max: 100_000 }), fc.double(), jsonValue) }), jsonValue),
      },
      { requiredKeys: ['ID', 'Service'] },
    ),
    jsonValue,
  ),
  Checks: fc.oneof(fc.array(fc.record({ CheckID: fc.oneof(fc.string({ maxLength: 30 }), jsonValue), Status: fc.oneof(fc.constantFrom('passing', 'warning', 'critical', 'maintenance'), jsonValue) })), jsonValue),
});
const anyEntry = fc.oneof(consulShaped, fc.anything());

const readContext: fc.Arbitrary<ReadContext> = fc.record({
  service: fc.constant('orders'),
  namespace: fc.option(fc.constantFrom('shop', 'team-a'), { nil: undefined }),
  tags: fc.subarray(['a', 'b', 'canary']),
  kinds,
  now: fc.integer({ min: 0, max: 2 ** 40 }),
});

/** Field types of `structs.CheckServiceNode`, as the double's filter engine needs them. */
const HEALTH_SCHEMA: SelectorSchema = {
  Service: 'struct',
  'Service.Kind': 'string',
  'Service.Tags': 'strings',
  'Service.Meta': 'map',
  'Service.Meta.*': 'string',
};

describe('Consul mapping properties', () => {
  it('reads any health entry into a valid instance, nothing, or a MalformedRecordError, and throws nothing else', () => {
    fc.assert(
      fc.property(anyEntry, readContext, (entry, context) => {
        let result: ServiceInstance | undefined;
        try {
          result = instanceFromHealthEntry(entry, context);
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedRecordError);
          // Bounded messages: a record never copies kilobytes into a log line.
          expect((error as Error).message.length).toBeLessThan(600);
          return;
        }
        if (result === undefined) return;
        expect(Object.isFrozen(result)).toBe(true);
        expect(createInstance(result, 0)).toEqual(result);
        expect(result.service).toBe(context.service);
        expect(context.tags.every((wanted) => result.tags.includes(wanted))).toBe(true);
      }),
      { numRuns: 3_000 },
    );
  });

  it('reads back exactly what it registered, in every namespace', () => {
    fc.assert(
      fc.property(validInstance, namespace, fc.integer({ min: 1_000, max: 86_400_000 }), (written, ns, ttlMs) => {
        const body = registrationBody(written, { namespace: ns, ttlMs, deregisterCriticalAfterMs: 60_000 });
        const read = instanceFromHealthEntry(healthEntryOf(body, written.status, ''), { service: written.service, namespace: ns, tags: [], kinds: ['typical'], now: 0 });
        expect(read).toEqual(written);
        // ...and nobody else's view holds it.
        const other = ns === undefined ? 'elsewhere' : undefined;
        expect(instanceFromHealthEntry(healthEntryOf(body, written.status, ''), { service: written.service, namespace: other, tags: [], kinds: ['typical'], now: 0 })).toBeUndefined();
      }),
      { numRuns: 1_500 },
    );
  });

  it('writes a filter every go-bexpr generation evaluates exactly as the client-side view decides', () => {
    const entry = fc.record({
      Service: fc.record({
        ID: instanceId.map((id) => `orders:${id}`),
        Service: fc.constant('orders'),
        Kind: fc.constantFrom('', 'connect-proxy', 'mesh-gateway', 'ingress-gateway'),
        Tags: fc.uniqueArray(fc.constantFrom('a', 'b', 'canary', 'x\\y'), { maxLength: 3 }),
        Meta: fc.dictionary(fc.constantFrom('rollcall_namespace', 'team', 'x'), fc.constantFrom('', 'shop', 'team-a'), { maxKeys: 3 }),
        Port: fc.constant(80),
      }),
      Node: fc.constant({ Node: 'n1', Address: '10.0.0.1' }),
      Checks: fc.constant([]),
    });
    const visibility = fc.record({
      namespace: fc.option(fc.constantFrom('shop', 'team-a'), { nil: undefined }),
      tags: fc.subarray(['a', 'canary', 'x\\y']),
      kinds,
    });
    fc.assert(
      fc.property(entry, visibility, fc.constantFrom<'0.1.2' | '0.1.10' | '0.1.12'>('0.1.2', '0.1.10', '0.1.12'), (datum, view, version) => {
        const filter = createFilter(visibilityFilter('health', view), HEALTH_SCHEMA, version);
        const visible = instanceFromHealthEntry(datum, { ...view, service: 'orders', now: 0 }) !== undefined;
        expect(filter.matches(datum)).toBe(visible);
      }),
      { numRuns: 1_500 },
    );
  });

  it('gives distinct instances distinct Consul ids', () => {
    const ref = fc.record({ namespace, service: serviceName, id: instanceId });
    fc.assert(
      fc.property(ref, ref, (a, b) => {
        const same = a.namespace === b.namespace && a.service === b.service && a.id === b.id;
        expect(consulServiceId(a.namespace, a) === consulServiceId(b.namespace, b)).toBe(same);
      }),
      { numRuns: 3_000 },
    );
  });

  it('derives one status from any checks, and rejects only tags no filter can quote', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ CheckID: fc.string({ maxLength: 25 }), Status: fc.string({ maxLength: 10 }) })), (checks) => {
        expect(INSTANCE_STATUSES).toContain(statusOf(checks));
      }),
      { numRuns: 1_000 },
    );
    fc.assert(
      fc.property(validInstance, fc.string({ maxLength: 8 }), (written, extra) => {
        const candidate = { ...written, tags: [...written.tags, `t${extra}`] };
        const quotable = !candidate.tags.some((t) => t.includes('"') || /\p{Cs}/u.test(t));
        try {
          registrationBody(candidate, { namespace: undefined, ttlMs: 15_000, deregisterCriticalAfterMs: 60_000 });
          expect(quotable).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidArgumentError);
          expect(quotable).toBe(false);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});
