/**
 * ConsulBackend against the double: what it writes to Consul (the documented mapping), how it
 * reads it back, renewals and `lost`, drain through maintenance mode, read options, malformed
 * entries, services registered by other tools, and close().
 */
import { describe, expect, it, vi } from 'vitest';
import { createResolver } from '../../../src/resolution/resolver.js';
import { isRollcallError } from '../../../src/core/errors.js';
import { instance, useConsulHarness } from '../../helpers/consul-double/harness.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const start = useConsulHarness();

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isRollcallError(error) ? error.code : `not a rollcall error: ${String(error)}`;
}

describe('registration', () => {
  it('registers through the agent with a TTL check, DeregisterCriticalServiceAfter and the mapped fields', async () => {
    const { double, backend, call } = await start();
    const registered = instance({ protocol: 'https', tags: ['v2'], meta: { build: '42' }, weight: 7, zone: 'eu-1a', version: '2.4.1' });
    await backend({ deregisterCriticalAfterMs: 90_000 }).register(registered, { ttlMs: 15_000 });

    const service = (await call('GET', '/v1/agent/services')).json<Record<string, unknown>>()[`orders:${registered.id}`];
    expect(service).toMatchObject({
      ID: `orders:${registered.id}`,
      Service: 'orders',
      Tags: ['v2'],
      Address: '10.0.0.1',
      Port: 8080,
      Weights: { Passing: 7, Warning: 7 },
      Meta: {
        build: '42',
        rollcall_protocol: 'https',
        rollcall_zone: 'eu-1a',
        rollcall_version: '2.4.1',
        rollcall_registered_at: String(registered.registeredAt),
        rollcall_updated_at: String(registered.updatedAt),
      },
    });
    const check = double.state.checks.get(`default/default/service:orders:${registered.id}`);
    expect(check).toMatchObject({ type: 'ttl', status: 'passing', reapAfterMs: 90_000 });
    expect(check?.definition?.ttlMs).toBe(15_000);
    // replace-existing-checks would also remove a maintenance check (see the drain tests).
    expect(double.requestsTo('/v1/agent/service/register')[0]?.query.has('replace-existing-checks')).toBe(false);
    // Nothing the backend sends is silently dropped by Consul.
    expect(double.ignoredFields).toEqual([]);
  });

  it('keeps namespaces apart in ids and Meta, and re-registers in place', async () => {
    const { backend, call } = await start();
    const a = backend({ namespace: 'team-a' });
    const b = backend({ namespace: 'team-b' });
    const same = instance({ id: 'same' });
    await a.register(same, { ttlMs: 15_000 });
    await b.register(same, { ttlMs: 15_000 });
    await a.register({ ...same, port: 9090 }, { ttlMs: 15_000 });
    const services = (await call('GET', '/v1/agent/services')).json<Record<string, { Port: number; Meta: Record<string, string> }>>();
    expect(Object.entries(services).map(([id, s]) => [id, s.Port, s.Meta['rollcall_namespace']])).toEqual([
      ['team-a~orders:same', 9090, 'team-a'],
      ['team-b~orders:same', 8080, 'team-b'],
    ]);
  });

  it('rejects user meta that uses the reserved prefix or leaves no room for rollcall keys', async () => {
    const { double, backend } = await start();
    const consul = backend();
    expect(await codeOf(consul.register(instance({ meta: { rollcall_zone: 'x' } }), { ttlMs: 15_000 }))).toBe('INVALID_ARGUMENT');
    const meta = Object.fromEntries(Array.from({ length: 60 }, (_, n) => [`k${n}`, 'v']));
    const error = await consul.register(instance({ meta }), { ttlMs: 15_000 }).catch((e: unknown) => e);
    expect(String(error)).toContain('at most 58 keys');
    expect(double.requestsTo('/v1/agent/service/register')).toEqual([]);
  });
});

describe('renewal', () => {
  it('answers lost when the agent no longer knows the check, and renewed otherwise', async () => {
    const { double, backend } = await start();
    const consul = backend();
    const registered = instance();
    await consul.register(registered, { ttlMs: 15_000 });
    await expect(consul.renew(registered, 'warning')).resolves.toBe('renewed');
    expect(double.state.checks.get(`default/default/service:orders:${registered.id}`)).toMatchObject({ status: 'warning', output: 'rollcall: warning' });
    // The agent restarted without its data dir.
    double.state.forgetLocalServices();
    await expect(consul.renew(registered, 'passing')).resolves.toBe('lost');
  });

  it('answers lost once the reaper removed a critical instance, and the instance is listed critical before that', async () => {
    const { double, backend } = await start({ reapIntervalMs: 100, deregisterCriticalMinMs: 100 });
    const consul = backend({ deregisterCriticalAfterMs: 1_000 });
    const registered = instance();
    await consul.register(registered, { ttlMs: 1_000 });
    await vi.waitFor(async () => expect((await consul.instances('orders')).map((i) => i.status)).toEqual(['critical']), { timeout: 2_000 });
    await vi.waitFor(() => expect(double.state.reaped).toEqual([`orders:${registered.id}`]), { timeout: 2_500 });
    await expect(consul.instances('orders')).resolves.toEqual([]);
    await expect(consul.renew(registered, 'passing')).resolves.toBe('lost');
  });

  it('treats the pre-1.11 answer "does not have associated TTL" as lost, and other 500s as unavailable', async () => {
    const { double, backend } = await start();
    const consul = backend();
    double.injectFault({ path: '/v1/agent/check/update/', status: 500, body: 'CheckID "service:orders:x" does not have associated TTL', times: 1 });
    await expect(consul.renew({ service: 'orders', id: 'x' }, 'passing')).resolves.toBe('lost');
    double.injectFault({ path: '/v1/agent/check/update/', status: 500, body: 'rpc error: leadership lost', times: 1 });
    const error = await consul.renew({ service: 'orders', id: 'x' }, 'passing').catch((e: unknown) => e);
    expect(isRollcallError(error) && error.code).toBe('REGISTRY_UNAVAILABLE');
    expect(String(error)).toContain('Consul answered 500: rpc error: leadership lost');
  });
});

describe('drain', () => {
  it('drains through maintenance mode: listed as draining, skipped by ?passing and by resolvers, undone by a passing renew', async () => {
    const { double, backend, call } = await start();
    const consul = backend();
    const draining = instance({ id: 'going' });
    const staying = instance({ id: 'staying' });
    await consul.register(draining, { ttlMs: 15_000 });
    await consul.register(staying, { ttlMs: 15_000 });
    await expect(consul.renew(draining, 'draining')).resolves.toBe('renewed');
    await expect(consul.renew(draining, 'draining')).resolves.toBe('renewed');
    expect(double.requestsTo('/v1/agent/service/maintenance/')).toHaveLength(1);

    const maintenance = double.state.checks.get('default/default/_service_maintenance:orders:going');
    expect(maintenance).toMatchObject({ status: 'critical', notes: 'rollcall: draining, shutting down' });
    expect(double.state.checks.get('default/default/service:orders:going')?.status).toBe('passing');
    expect((await consul.instances('orders')).map((i) => [i.id, i.status])).toEqual([
      ['going', 'draining'],
      ['staying', 'passing'],
    ]);
    const passing = (await call('GET', '/v1/health/service/orders?passing')).json<{ Service: { ID: string } }[]>();
    expect(passing.map((entry) => entry.Service.ID)).toEqual(['orders:staying']);
    const resolver = createResolver({ backend: consul, watch: false, envFallback: false });
    for (let n = 0; n < 4; n++) expect((await resolver.resolve('orders')).id).toBe('staying');
    await resolver.close();

    await expect(consul.renew(draining, 'passing')).resolves.toBe('renewed');
    expect(double.state.checks.has('default/default/_service_maintenance:orders:going')).toBe(false);
    expect((await consul.instances('orders')).map((i) => i.status)).toEqual(['passing', 'passing']);
  });

  it('registers an instance that is already draining straight into maintenance mode', async () => {
    const { backend } = await start();
    const consul = backend();
    await consul.register(instance({ status: 'draining' }), { ttlMs: 15_000 });
    expect((await consul.instances('orders')).map((i) => i.status)).toEqual(['draining']);
  });

  it('reports critical rather than draining when a draining instance stops heartbeating', async () => {
    const { backend } = await start();
    const consul = backend();
    const registered = instance();
    await consul.register(registered, { ttlMs: 1_000 });
    await consul.renew(registered, 'draining');
    await vi.waitFor(async () => expect((await consul.instances('orders'))[0]?.status).toBe('critical'), { timeout: 2_500 });
  });
});

describe('deregistration', () => {
  it('removes the instance and succeeds for an unknown one', async () => {
    const { double, backend } = await start();
    const consul = backend();
    const registered = instance();
    await consul.register(registered, { ttlMs: 15_000 });
    await consul.deregister(registered);
    await consul.deregister(registered);
    expect(double.requestsTo('/v1/agent/service/deregister/').map((r) => r.status)).toEqual([200, 404]);
    await expect(consul.instances('orders')).resolves.toEqual([]);
  });
});

describe('reads', () => {
  it('asks Consul for passing instances only when passingOnly is set', async () => {
    const { double, backend } = await start();
    const writer = backend();
    await writer.register(instance({ id: 'ok' }), { ttlMs: 15_000 });
    await writer.register(instance({ id: 'meh', status: 'warning' }), { ttlMs: 15_000 });
    await writer.register(instance({ id: 'bye' }), { ttlMs: 15_000 });
    await writer.renew({ service: 'orders', id: 'bye' }, 'draining');
    expect((await writer.instances('orders')).map((i) => i.id)).toEqual(['bye', 'meh', 'ok']);
    expect((await backend({ passingOnly: true }).instances('orders')).map((i) => i.id)).toEqual(['ok']);
    expect(double.requestsTo('/v1/health/service/orders').at(-1)?.query.has('passing')).toBe(true);
  });

  it('filters by tags, and sends datacenter, filter and Enterprise parameters', async () => {
    const { double, backend } = await start({ enterprise: true });
    const writer = backend({ consulNamespace: 'shop', partition: 'eu' });
    await writer.register(instance({ id: 'a', tags: ['v1'] }), { ttlMs: 15_000 });
    await writer.register(instance({ id: 'b', tags: ['v1', 'canary'] }), { ttlMs: 15_000 });
    const reader = backend({ consulNamespace: 'shop', partition: 'eu', tags: ['canary'], datacenter: 'dc1' });
    expect((await reader.instances('orders')).map((i) => i.id)).toEqual(['b']);
    const query = double.requestsTo('/v1/health/service/orders').at(-1)?.query;
    expect([query?.get('ns'), query?.get('partition'), query?.get('dc'), query?.get('filter')]).toEqual([
      'shop',
      'eu',
      'dc1',
      `"rollcall_namespace" not in Service.Meta and "canary" in Service.Tags and Service.Kind == ""`,
    ]);
    expect(double.requestsTo('/v1/agent/service/register').every((r) => r.query.get('ns') === 'shop' && r.query.get('partition') === 'eu')).toBe(true);
    await expect(backend().instances('orders')).resolves.toEqual([]);
    expect(await codeOf(backend({ datacenter: 'mars' }).instances('orders'))).toBe('REGISTRY_UNAVAILABLE');
  });

  it('fails clearly when Enterprise options meet Consul community edition', async () => {
    const { backend } = await start();
    const error = await backend({ consulNamespace: 'shop' }).instances('orders').catch((e: unknown) => e);
    expect(String(error)).toContain('Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature');
  });

  it('lists services registered by other tools in the namespace-less view, with defaults for what they lack', async () => {
    const { backend, call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'orders-legacy', Name: 'orders', Port: 7000, Tags: ['legacy'], Weights: { Passing: 3, Warning: 1 }, Check: { TTL: '30s', Status: 'passing' } } });
    const [legacy, ...rest] = await backend().instances('orders');
    expect(rest).toEqual([]);
    // No Service.Address: callers use the node's address, as Consul's DNS does.
    expect(legacy).toMatchObject({ id: 'orders-legacy', host: '127.0.0.1', port: 7000, protocol: 'http', tags: ['legacy'], weight: 3, meta: {}, status: 'passing' });
    await expect(backend({ namespace: 'team-a' }).instances('orders')).resolves.toEqual([]);
  });

  it('lists services through the catalog, sorted, per namespace, real-world names included', async () => {
    const { double, backend, call } = await start();
    const inNamespace = backend({ namespace: 'team-a' });
    await inNamespace.register(instance({ service: 'payments' }), { ttlMs: 15_000 });
    await inNamespace.register(instance({ service: 'orders' }), { ttlMs: 15_000 });
    await call('PUT', '/v1/agent/service/register', { body: { Name: 'Legacy_API', Port: 1 } });
    await call('PUT', '/v1/agent/service/register', { body: { Name: 'bad name', Port: 1 } });
    await expect(inNamespace.services()).resolves.toEqual(['orders', 'payments']);
    // The namespace-less view holds what other tools registered, Consul's own service included;
    // only names rollcall cannot address (a space) are left out.
    await expect(backend().services()).resolves.toEqual(['Legacy_API', 'consul']);
    expect(double.requestsTo('/v1/catalog/services').map((r) => r.query.get('filter'))).toEqual([
      '"rollcall_namespace" in ServiceMeta and ServiceMeta.rollcall_namespace == "team-a" and ServiceKind == ""',
      // Once per backend: does this agent apply `filter` on /v1/catalog/services at all?
      'ServiceName == "rollcall" and ServiceName != "rollcall"',
      '"rollcall_namespace" not in ServiceMeta and ServiceKind == ""',
      'ServiceName == "rollcall" and ServiceName != "rollcall"',
    ]);
  });
});

describe('malformed entries', () => {
  it('skips entries that are not valid instances, counts every skip and logs each once', async () => {
    const { backend, call } = await start();
    const logger = recordingLogger();
    const consul = backend({ logger });
    await consul.register(instance({ id: 'good' }), { ttlMs: 15_000 });
    // Valid for Consul, not for rollcall: port 0, and a timestamp that is not one.
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'no-port', Name: 'orders' } });
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'bad-time', Name: 'orders', Port: 1, Meta: { rollcall_registered_at: 'yesterday' } } });
    expect((await consul.instances('orders')).map((i) => i.id)).toEqual(['good']);
    expect((await consul.instances('orders')).map((i) => i.id)).toEqual(['good']);
    expect(consul.stats().malformedRecords).toBe(4);
    const warnings = logger.at('warn').map((line) => line.msg ?? '');
    expect(warnings).toHaveLength(2);
    expect(warnings.some((text) => text.includes('"no-port"') && text.includes('port'))).toBe(true);
    expect(warnings.some((text) => text.includes('"bad-time"') && text.includes('rollcall_registered_at'))).toBe(true);
  });

  it('survives entries with missing fields and wrong types, and rejects a body that is not a list', async () => {
    const { double, backend } = await start();
    const consul = backend();
    await consul.register(instance({ id: 'good' }), { ttlMs: 15_000 });
    const [real] = (await (await fetch(`${double.url}/v1/health/service/orders`)).json()) as unknown[];
    const broken = [{ Service: { ID: 5 } }, { Node: {}, Service: { ID: 'x', Service: 'orders', Port: '80' }, Checks: [] }, 'nonsense', real];
    double.injectFault({ path: '/v1/health/service/orders', status: 200, body: JSON.stringify(broken), headers: { 'X-Consul-Index': '9' }, times: 1 });
    expect((await consul.instances('orders')).map((i) => i.id)).toEqual(['good']);
    expect(consul.stats().malformedRecords).toBe(3);
    double.injectFault({ path: '/v1/health/service/orders', status: 200, body: '{"not":"a list"}', times: 1 });
    expect(await codeOf(consul.instances('orders'))).toBe('REGISTRY_UNAVAILABLE');
  });
});

describe('lifecycle', () => {
  it('closes idempotently after in-flight calls settle, and rejects later calls with CLOSED', async () => {
    const { double, backend } = await start();
    const consul = backend();
    double.injectFault({ path: '/v1/health/service/orders', delayMs: 150, times: 1 });
    const inflight = consul.instances('orders');
    await vi.waitFor(() => expect(double.requestsTo('/v1/health/service/orders')).toHaveLength(1));
    await Promise.all([consul.close(), consul.close()]);
    await expect(inflight).resolves.toEqual([]);
    expect(await codeOf(consul.instances('orders'))).toBe('CLOSED');
    expect(await codeOf(consul.register(instance(), { ttlMs: 15_000 }))).toBe('CLOSED');
    expect(() => consul.watch('orders', { onChange: () => {} })).toThrow(/closed/);
  });
});
