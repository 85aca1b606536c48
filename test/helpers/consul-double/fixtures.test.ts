/**
 * Keeps the double honest: replays the recorded Consul doc samples (fixtures/, a byte-identical
 * copy of shared/reference/consul-fixtures) against it and checks that every field the samples
 * show comes back with the same JSON type, and that values the request determines round-trip.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsulDouble } from './index.js';

const vendored = new URL('./fixtures/', import.meta.url);
/** shared/reference/consul-fixtures in the nearest ancestor that has it (the main checkout and worktrees sit at different depths). */
const upstream = ((): URL => {
  for (let up = '../../../'; up.length < 40; up += '../') {
    const candidate = new URL(`${up}shared/reference/consul-fixtures/`, import.meta.url);
    if (existsSync(candidate)) return candidate;
  }
  return new URL('../../../../shared/reference/consul-fixtures/', import.meta.url);
})();

function fixtureText(name: string): string {
  return readFileSync(new URL(name, vendored), 'utf8');
}

function fixture(name: string): unknown {
  return JSON.parse(fixtureText(name)) as unknown;
}

/** Fields whose keys are data (maps), not struct fields: their values are compared, any key allowed. */
const MAP_FIELDS = new Set(['Meta', 'NodeMeta', 'ServiceMeta', 'TaggedAddresses', 'ServiceTaggedAddresses', 'Header']);
/** Fields only Consul Enterprise returns. */
const ENTERPRISE_FIELDS = new Set(['Namespace', 'Partition']);

/**
 * Asserts that `actual` has every field of `sample` with the same JSON type, recursively. Arrays:
 * every actual element must match the sample's first element. Inside TaggedAddresses the doc
 * samples use `address`/`port` where Go emits `Address`/`Port`; keys there match case-insensitively.
 */
function expectShape(actual: unknown, sample: unknown, path: string, options: { enterprise: boolean; caseInsensitive?: boolean }): void {
  if (sample === null) return;
  if (Array.isArray(sample)) {
    expect(Array.isArray(actual), `${path} should be an array`).toBe(true);
    if (sample.length > 0) for (const [i, item] of (actual as unknown[]).entries()) expectShape(item, sample[0], `${path}[${i}]`, options);
    return;
  }
  if (typeof sample === 'object') {
    expect(typeof actual === 'object' && actual !== null && !Array.isArray(actual), `${path} should be an object`).toBe(true);
    const fields = actual as Record<string, unknown>;
    for (const [key, value] of Object.entries(sample as Record<string, unknown>)) {
      if (!options.enterprise && ENTERPRISE_FIELDS.has(key)) {
        expect(fields, `${path}.${key} is Enterprise-only`).not.toHaveProperty(key);
        continue;
      }
      const actualKey = options.caseInsensitive === true ? Object.keys(fields).find((k) => k.toLowerCase() === key.toLowerCase()) : key;
      expect(actualKey !== undefined && Object.hasOwn(fields, actualKey), `${path} should have ${key}`).toBe(true);
      const child = fields[actualKey as string];
      if (MAP_FIELDS.has(key) && value !== null && typeof value === 'object') {
        const sampleValue: unknown = Object.values(value as Record<string, unknown>)[0];
        if (sampleValue !== undefined && child !== null) {
          for (const [mapKey, item] of Object.entries(child as Record<string, unknown>)) {
            expectShape(item, sampleValue, `${path}.${key}.${mapKey}`, { ...options, caseInsensitive: key.endsWith('TaggedAddresses') });
          }
        }
      } else {
        expectShape(child, value, `${path}.${key}`, options);
      }
    }
    return;
  }
  expect(typeof actual, `${path} should be a ${typeof sample}`).toBe(typeof sample);
}

describe('the Consul double against the recorded fixtures', () => {
  // The repository carries its own copy of the fixtures, so the double is checked everywhere. Where
  // the team's reference material sits beside the repository (development machines and CI), the
  // copy must also be identical to it, so that a reference update cannot pass unnoticed.
  it.runIf(existsSync(upstream))('uses a byte-identical copy of shared/reference/consul-fixtures', () => {
    const names = readdirSync(upstream).filter((name) => name.endsWith('.json')).sort();
    expect(readdirSync(vendored).sort()).toEqual(names);
    for (const name of names) expect(fixtureText(name).trim(), name).toBe(readFileSync(new URL(name, upstream), 'utf8').trim());
  });

  for (const enterprise of [true, false]) {
    describe(enterprise ? 'as Consul Enterprise' : 'as Consul community edition', () => {
      let double: ConsulDouble;

      beforeEach(async () => {
        // The sample registration carries a script check: an agent needs enable_script_checks for it.
        double = await ConsulDouble.start({ enterprise, enableScriptChecks: true });
      });

      afterEach(async () => {
        await double.close();
      });

      async function call(method: string, path: string, body?: string): Promise<{ status: number; text: string; json: () => unknown; headers: Headers }> {
        const response = await fetch(`${double.url}${path}`, { method, ...(body === undefined ? {} : { body }) });
        const text = await response.text();
        return { status: response.status, text, json: () => JSON.parse(text) as unknown, headers: response.headers };
      }

      async function registerSample(): Promise<void> {
        const registered = await call('PUT', '/v1/agent/service/register', fixtureText('agent-service-register.request.json'));
        expect([registered.status, registered.text]).toEqual([200, '']);
      }

      it('accepts the sample registration and lists it like the agent-services sample', async () => {
        await registerSample();
        const answer = await call('GET', '/v1/agent/services');
        expect(answer.status).toBe(200);
        expect(answer.headers.get('content-type')).toBe('application/json');
        const services = answer.json() as Record<string, Record<string, unknown>>;
        const sample = Object.values(fixture('agent-services.response.json') as Record<string, unknown>)[0];
        expect(Object.keys(services)).toEqual(['redis1']);
        expectShape(services['redis1'], sample, 'agent/services.redis1', { enterprise });
        expect(services['redis1']).toMatchObject({
          ID: 'redis1',
          Service: 'redis',
          Tags: ['primary', 'v1'],
          Meta: { redis_version: '4.0' },
          Port: 8000,
          Address: '127.0.0.1',
          Weights: { Passing: 10, Warning: 1 },
          Datacenter: 'dc1',
        });
      });

      it('answers /v1/health/service like the health-service sample', async () => {
        await registerSample();
        const answer = await call('GET', '/v1/health/service/redis');
        expect(answer.status).toBe(200);
        expect(Number(answer.headers.get('x-consul-index'))).toBeGreaterThan(0);
        const entries = answer.json() as Record<string, unknown>[];
        expect(entries).toHaveLength(1);
        expectShape(entries, fixture('health-service.response.json'), 'health/service', { enterprise });
        const checks = (entries[0]?.['Checks'] as { CheckID: string; Status: string; Name: string }[]).map((c) => [c.CheckID, c.Status, c.Name]);
        // A newly registered check without Status starts critical, named after the service.
        expect(checks).toEqual([
          ['serfHealth', 'passing', 'Serf Health Status'],
          ['service:redis1', 'critical', "Service 'redis' check"],
        ]);
      });

      it('answers /v1/catalog/services exactly like the catalog-services sample for the same services', async () => {
        // The sample's cluster: redis without tags, postgresql instances tagged primary and secondary.
        for (const body of [
          { ID: 'redis', Name: 'redis' },
          { ID: 'postgresql-1', Name: 'postgresql', Tags: ['primary'] },
          { ID: 'postgresql-2', Name: 'postgresql', Tags: ['secondary'] },
        ]) {
          expect((await call('PUT', '/v1/agent/service/register', JSON.stringify(body))).status).toBe(200);
        }
        const answer = await call('GET', '/v1/catalog/services');
        expect(answer.headers.get('content-type')).toBe('application/json');
        expect(answer.json()).toEqual(fixture('catalog-services.response.json'));
      });

      it('answers /v1/catalog/service like the catalog-service sample', async () => {
        await registerSample();
        const rows = (await call('GET', '/v1/catalog/service/redis')).json() as Record<string, unknown>[];
        expect(rows).toHaveLength(1);
        expectShape(rows, fixture('catalog-service.response.json'), 'catalog/service', { enterprise });
        expect(rows[0]).toMatchObject({ ServiceID: 'redis1', ServiceName: 'redis', ServicePort: 8000, ServiceAddress: '127.0.0.1', ServiceTags: ['primary', 'v1'] });
      });

      it('answers /v1/agent/checks like the agent-checks sample and applies the TTL update sample', async () => {
        const ttl = await call('PUT', '/v1/agent/service/register', JSON.stringify({ ID: 'redis', Name: 'redis', Tags: ['primary'], Check: { TTL: '15s' } }));
        expect(ttl.status).toBe(200);
        const update = await call('PUT', '/v1/agent/check/update/service:redis', fixtureText('agent-check-update.request.json'));
        expect([update.status, update.text]).toEqual([200, '']);
        const checks = (await call('GET', '/v1/agent/checks')).json() as Record<string, unknown>;
        expectShape(checks['service:redis'], (fixture('agent-checks.response.json') as Record<string, unknown>)['service:redis'], 'agent/checks', { enterprise });
        expect(checks['service:redis']).toMatchObject({
          CheckID: 'service:redis',
          Name: "Service 'redis' check",
          Status: 'passing',
          Output: (fixture('agent-check-update.request.json') as { Output: string }).Output,
          ServiceID: 'redis',
          ServiceName: 'redis',
          ServiceTags: ['primary'],
        });
      });

      it('accepts the sample check registration, which is not a TTL check', async () => {
        const registered = await call('PUT', '/v1/agent/check/register', fixtureText('agent-check-register.request.json'));
        expect([registered.status, registered.text]).toEqual([200, '']);
        const checks = (await call('GET', '/v1/agent/checks')).json() as Record<string, Record<string, unknown>>;
        expect(checks['mem']).toMatchObject({ CheckID: 'mem', Name: 'Memory utilization', Notes: "Ensure we don't oversubscribe memory", Status: 'critical', ServiceID: '' });
        const update = await call('PUT', '/v1/agent/check/update/mem', fixtureText('agent-check-update.request.json'));
        expect([update.status, update.text]).toEqual([500, 'CheckID "mem" does not have associated TTL']);
      });

      it('answers /v1/status/leader like the status-leader sample', async () => {
        const answer = await call('GET', '/v1/status/leader');
        const leader = answer.json();
        expectShape(leader, fixture('status-leader.response.json'), 'status/leader', { enterprise });
        expect(leader).toMatch(/^\d+\.\d+\.\d+\.\d+:8300$/);
        expect(fixture('status-leader.response.json')).toMatch(/^\d+\.\d+\.\d+\.\d+:8300$/);
      });
    });
  }
});
