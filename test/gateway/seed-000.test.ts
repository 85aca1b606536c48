/**
 * The seed-000 shape: an API gateway in front of 41 services with the names a real gateway
 * system has (snake_case, a few kebab-case, Mixed and dotted), each with one or two real HTTP
 * instances that register themselves through autoRegister, and one gateway registered with
 * `app.register(rollcallGateway, { backend })`. Run on the memory registry and on real Redis.
 */
import { describe, expect, it, vi } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { MemoryBackend, autoRegister, type RegistryBackend } from '../../src/index.js';
import { startRedis } from '../helpers/redis-server.js';
import { call, echoed, onCleanup, startGateway, startUpstream, type Upstream } from './helpers.js';

const SERVICES = [
  'auth_service', 'user_service', 'model_service', 'osint_service', 'notification_service',
  'billing_service', 'payment_service', 'search_service', 'analytics_service', 'report_service',
  'file_service', 'storage_service', 'email_service', 'sms_service', 'audit_service',
  'config_service', 'scheduler_service', 'geo_service', 'threat_intel_service', 'ingest_service',
  'export_service', 'media_service', 'crawler_service', 'nlp_service', 'translation_service',
  'graph_service', 'alert_service', 'session_service', 'webhook_service', 'tenant_service',
  'ip-intel', 'dns-resolver', 'rate-limiter', 'feature-flags',
  'Orders', 'UserProfile', 'GeoIP',
  'orders.api', 'inventory.v2', 'search.indexer', 'auth.tokens',
];

/** These run two instances, as does every fourth service; the others one. */
const TWO_INSTANCES = new Set(['auth_service', 'user_service', 'notification_service', 'Orders', 'orders.api']);

interface Instance {
  readonly upstream: Upstream;
  /** Turns the instance's health check critical (or back). */
  broken: boolean;
}

/** Starts `count` echoing instances of `service`, each registered through autoRegister on `backend`. */
async function startInstances(backend: RegistryBackend, service: string, count: number): Promise<Instance[]> {
  const instances: Instance[] = [];
  for (let n = 1; n <= count; n++) {
    const id = `${service}-${n}`;
    const instance: Instance = { upstream: await startUpstream(id), broken: false };
    const registration = await autoRegister({
      backend,
      service,
      id,
      host: '127.0.0.1',
      port: instance.upstream.port,
      ttlMs: 5_000,
      heartbeatIntervalMs: 200,
      failuresBeforeCritical: 1,
      drainWaitMs: 0,
      healthChecks: { app: () => (instance.broken ? 'critical' : 'passing') },
    });
    onCleanup(() => registration.stop());
    instances.push(instance);
  }
  return instances;
}

const registries: Array<[string, () => Promise<{ upstreams: RegistryBackend; gateway: RegistryBackend }>]> = [
  ['memory', () => {
    const upstreams = new MemoryBackend();
    return Promise.resolve({ upstreams, gateway: new MemoryBackend({ registry: upstreams.registry }) });
  }],
  ['redis', async () => {
    const redis = await startRedis();
    onCleanup(() => redis.stop());
    const upstreams = new RedisBackend({ url: redis.url });
    const gateway = new RedisBackend({ url: redis.url });
    onCleanup(() => upstreams.close());
    onCleanup(() => gateway.close());
    return { upstreams, gateway };
  }],
];

describe.each(registries)('seed-000: one gateway in front of 41 services (%s registry)', (_name, registriesFor) => {
  it('reaches every service, lists all 41 with health, answers 503 for a critical service and retries a killed instance’s GETs on its sibling', async () => {
    expect(SERVICES).toHaveLength(41);
    const { upstreams, gateway } = await registriesFor();
    const fleet = new Map<string, Instance[]>();
    for (const [index, service] of SERVICES.entries()) fleet.set(service, await startInstances(upstreams, service, TWO_INSTANCES.has(service) || index % 4 === 0 ? 2 : 1));
    const { base } = await startGateway({ backend: gateway, resolver: { envFallback: false } });

    // Every service is reachable through /api/v1/{service}/*.
    for (const service of SERVICES) {
      const reply = await call(`${base}/api/v1/${service}/status?probe=1`);
      expect(reply.status, service).toBe(200);
      expect(echoed(reply)).toMatchObject({ id: expect.stringMatching(new RegExp(`^${service.replace('.', '\\.')}-[12]$`)) as string, url: '/status?probe=1' });
    }

    // /services lists all 41, with health.
    const listing = (await call(`${base}/services`)).json as {
      registry: { services: Array<{ service: string; health: string; instances: unknown[] }>; healthCounts: Record<string, number> };
      resolver: { services: Array<{ service: string }> };
    };
    expect(listing.registry.services.map((s) => s.service)).toEqual([...SERVICES].sort((a, b) => (a < b ? -1 : 1)));
    expect(listing.registry.healthCounts).toMatchObject({ passing: 41, critical: 0, unknown: 0 });
    expect(listing.registry.services.find((s) => s.service === 'auth_service')?.instances).toHaveLength(2);
    expect(listing.resolver.services).toHaveLength(41);

    // Every instance of notification_service goes critical: 503 with the tiers tried.
    const notification = fleet.get('notification_service') as Instance[];
    expect(notification).toHaveLength(2);
    for (const instance of notification) instance.broken = true;
    await vi.waitFor(async () => expect((await call(`${base}/api/v1/notification_service/send`)).status).toBe(503), { timeout: 10_000, interval: 25 });
    const unavailable = await call(`${base}/api/v1/notification_service/send`);
    expect(unavailable.json).toMatchObject({
      error: 'service_unavailable',
      service: 'notification_service',
      tried: expect.arrayContaining([
        { tier: expect.any(String) as string, reason: 'the registry listed 2 instance(s), none passing or warning' },
        { tier: 'env', reason: 'disabled (envFallback: false)' },
      ]) as unknown,
    });
    const critical = (await call(`${base}/services`)).json as typeof listing;
    expect(critical.registry.services.find((s) => s.service === 'notification_service')).toMatchObject({ health: 'critical' });
    expect(critical.registry.healthCounts).toMatchObject({ passing: 40, critical: 1 });

    // An instance of user_service is killed (still registered): every GET lands on its sibling.
    const [killed, sibling] = fleet.get('user_service') as Instance[];
    await killed?.upstream.close();
    const before = sibling?.upstream.received.length ?? 0;
    const served: string[] = [];
    for (let i = 0; i < 6; i++) {
      const reply = await call(`${base}/api/v1/user_service/users/${i}`);
      expect(reply.status).toBe(200);
      served.push(echoed(reply).id);
    }
    expect(served).toEqual(Array.from({ length: 6 }, () => 'user_service-2'));
    expect(sibling?.upstream.received).toHaveLength(before + 6);
  });
});
