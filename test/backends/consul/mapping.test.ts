/** The pure mapping between rollcall instances and Consul's API structures. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, MalformedRecordError } from '../../../src/core/errors.js';
import {
  SERVICE_KINDS,
  consulServiceId,
  instanceFromHealthEntry,
  registrationBody,
  statusOf,
  visibilityFilter,
} from '../../../src/backends/consul/mapping.js';
import { instance } from '../../helpers/consul-double/harness.js';

const healthSample = JSON.parse(readFileSync(new URL('../../helpers/consul-double/fixtures/health-service.response.json', import.meta.url), 'utf8')) as unknown[];
const context = { service: 'orders', namespace: undefined, tags: [], kinds: ['typical'] as const, now: 1_700_000_000_000 };

function entry(overrides: { meta?: Record<string, string>; id?: string; kind?: string; checks?: { CheckID: string; Status: string }[] } = {}): unknown {
  return {
    Node: { Node: 'n1', Address: '10.0.0.9' },
    Service: {
      ID: overrides.id ?? 'orders:i-1',
      Service: 'orders',
      Tags: [],
      Address: '10.0.0.1',
      Port: 8080,
      Meta: overrides.meta ?? {},
      Weights: { Passing: 2, Warning: 2 },
      ...(overrides.kind === undefined ? {} : { Kind: overrides.kind }),
    },
    Checks: overrides.checks ?? [{ CheckID: 'service:orders:i-1', Status: 'passing' }],
  };
}

describe('Consul mapping', () => {
  it('builds the registration body of an instance', () => {
    const registered = instance({ id: 'i-7', tags: ['a'], meta: { k: 'v' }, weight: 3, status: 'warning' });
    expect(registrationBody(registered, { namespace: 'team-a', ttlMs: 15_000, deregisterCriticalAfterMs: 60_000 })).toEqual({
      ID: 'team-a~orders:i-7',
      Name: 'orders',
      Tags: ['a'],
      Address: '10.0.0.1',
      Port: 8080,
      Meta: {
        k: 'v',
        rollcall_namespace: 'team-a',
        rollcall_protocol: 'http',
        rollcall_registered_at: String(registered.registeredAt),
        rollcall_updated_at: String(registered.updatedAt),
      },
      Weights: { Passing: 3, Warning: 3 },
      Check: {
        CheckID: 'service:team-a~orders:i-7',
        Name: 'rollcall heartbeat',
        Notes: 'TTL check renewed by rollcall; critical when no heartbeat arrives within the TTL',
        TTL: '15000ms',
        Status: 'warning',
        DeregisterCriticalServiceAfter: '60000ms',
      },
    });
  });

  it('gives distinct instances distinct Consul ids, dotted service names included', () => {
    const ids = [
      consulServiceId(undefined, { service: 'a', id: 'b:c' }),
      consulServiceId(undefined, { service: 'a-b', id: 'c' }),
      consulServiceId(undefined, { service: 'a.b', id: 'c' }),
      consulServiceId('a', { service: 'b', id: 'c' }),
      consulServiceId('a', { service: 'b', id: 'c.d' }),
      consulServiceId('a-b', { service: 'c', id: 'd' }),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    // The old `<namespace>.<service>` form gave namespace `a` + service `b` the id of service `a.b`.
    expect(ids).toEqual(['a:b:c', 'a-b:c', 'a.b:c', 'a~b:c', 'a~b:c.d', 'a-b~c:d']);
  });

  it('writes filters every go-bexpr generation evaluates alike: key presence first, values behind it', () => {
    const typical = { tags: [], kinds: ['typical'] as const };
    expect(visibilityFilter('health', { ...typical, namespace: undefined })).toBe('"rollcall_namespace" not in Service.Meta and Service.Kind == ""');
    expect(visibilityFilter('health', { namespace: 'team-a', tags: ['v2', 'x\\y'], kinds: ['typical'] })).toBe(
      '"rollcall_namespace" in Service.Meta and Service.Meta.rollcall_namespace == "team-a" and "v2" in Service.Tags and "x\\\\y" in Service.Tags and Service.Kind == ""',
    );
    expect(visibilityFilter('catalog', { namespace: 'team-a', tags: ['v2'], kinds: ['typical', 'mesh-gateway'] })).toBe(
      '"rollcall_namespace" in ServiceMeta and ServiceMeta.rollcall_namespace == "team-a" and "v2" in ServiceTags and (ServiceKind == "" or ServiceKind == "mesh-gateway")',
    );
    expect(visibilityFilter('catalog', { namespace: undefined, tags: [], kinds: SERVICE_KINDS })).toBe('"rollcall_namespace" not in ServiceMeta');
  });

  it('rejects tags no filter can quote', () => {
    expect(() => registrationBody(instance({ tags: ['a"b'] }), { namespace: undefined, ttlMs: 15_000, deregisterCriticalAfterMs: 60_000 })).toThrow(
      /Invalid instance\.tags\[0\]: expected a tag without `"`/,
    );
    expect(() => registrationBody(instance({ tags: ['ok', 'x\ud800'] }), { namespace: undefined, ttlMs: 15_000, deregisterCriticalAfterMs: 60_000 })).toThrow(
      InvalidArgumentError,
    );
  });

  it('keeps a __proto__ meta key an ordinary pair, both ways', () => {
    const registered = instance({ meta: JSON.parse('{"__proto__":"x"}') as Record<string, string> });
    const body = registrationBody(registered, { namespace: undefined, ttlMs: 15_000, deregisterCriticalAfterMs: 60_000 });
    expect(JSON.stringify(body['Meta'])).toContain('"__proto__":"x"');
    const read = instanceFromHealthEntry(JSON.parse(JSON.stringify(entry({ meta: JSON.parse('{"__proto__":"y"}') as Record<string, string> }))), context);
    expect(Object.entries(read?.meta ?? {})).toEqual([['__proto__', 'y']]);
  });

  it('derives status from all checks: critical, then maintenance (draining), then warning', () => {
    const check = (CheckID: string, Status: string): { CheckID: string; Status: string } => ({ CheckID, Status });
    expect(statusOf([])).toBe('passing');
    expect(statusOf([check('serfHealth', 'passing'), check('service:x', 'warning')])).toBe('warning');
    expect(statusOf([check('service:x', 'passing'), check('_service_maintenance:x', 'critical')])).toBe('draining');
    expect(statusOf([check('service:x', 'warning'), check('_node_maintenance', 'critical')])).toBe('draining');
    expect(statusOf([check('service:x', 'critical'), check('_service_maintenance:x', 'critical')])).toBe('critical');
    expect(statusOf([check('serfHealth', 'critical'), check('service:x', 'passing')])).toBe('critical');
    expect(statusOf([check('service:x', 'unknown-status')])).toBe('critical');
  });

  it('reads the Consul docs health sample as an instance registered by another tool', () => {
    const redis = instanceFromHealthEntry(healthSample[0], { ...context, service: 'redis' });
    expect(redis).toMatchObject({
      id: 'redis',
      service: 'redis',
      host: '10.1.10.12',
      port: 8000,
      protocol: 'http',
      tags: ['primary'],
      meta: { redis_version: '4.0' },
      weight: 10,
      status: 'passing',
      registeredAt: context.now,
      updatedAt: context.now,
    });
  });

  it('reads rollcall fields back from Meta and strips the id prefix', () => {
    const read = instanceFromHealthEntry(
      entry({ id: 'team-a~orders:i-1', meta: { k: 'v', rollcall_namespace: 'team-a', rollcall_protocol: 'grpc', rollcall_zone: 'z1', rollcall_version: '1.0', rollcall_registered_at: '10', rollcall_updated_at: '20', 'consul-x': 'ignored' } }),
      { ...context, namespace: 'team-a' },
    );
    expect(read).toMatchObject({ id: 'i-1', protocol: 'grpc', zone: 'z1', version: '1.0', meta: { k: 'v' }, registeredAt: 10, updatedAt: 20, weight: 2 });
  });

  it('leaves out entries of other namespaces, without the wanted tags or of other kinds, as the filter does', () => {
    expect(instanceFromHealthEntry(entry({ meta: { rollcall_namespace: 'team-b' } }), { ...context, namespace: 'team-a' })).toBeUndefined();
    expect(instanceFromHealthEntry(entry({ meta: { rollcall_namespace: 'team-b' } }), context)).toBeUndefined();
    // The filter selects on the key's presence ("rollcall_namespace" not in Service.Meta): an empty value is a namespace too.
    expect(instanceFromHealthEntry(entry({ meta: { rollcall_namespace: '' } }), context)).toBeUndefined();
    expect(instanceFromHealthEntry(entry(), { ...context, tags: ['canary'] })).toBeUndefined();
    expect(instanceFromHealthEntry(entry({ kind: 'connect-proxy' }), context)).toBeUndefined();
    expect(instanceFromHealthEntry(entry({ kind: 'connect-proxy' }), { ...context, kinds: ['typical', 'connect-proxy'] })?.id).toBe('i-1');
    expect(instanceFromHealthEntry(entry({ kind: '' }), context)?.id).toBe('i-1');
  });

  it('rejects malformed entries with MalformedRecordError saying where and what', () => {
    const bad: [unknown, RegExp][] = [
      [null, /expected a JSON object/],
      [{ Service: 'x' }, /Service: expected a JSON object/],
      [{ Service: { ID: 1 } }, /Service\.ID: expected a string/],
      [{ ...(entry() as object), Checks: null }, /Checks: expected a JSON array/],
      [{ ...(entry() as object), Service: { ID: 'a', Service: 'payments', Port: 1 } }, /expected Service.Service "orders"/],
      [entry({ meta: { rollcall_updated_at: '-1' } }), /rollcall_updated_at: expected epoch milliseconds/],
      [entry({ meta: { rollcall_protocol: 'HTTP!' } }), /protocol/],
    ];
    for (const [value, message] of bad) {
      let thrown: unknown;
      try {
        instanceFromHealthEntry(value, context);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, String(message)).toBeInstanceOf(MalformedRecordError);
      expect(String(thrown)).toMatch(message);
    }
  });
});
