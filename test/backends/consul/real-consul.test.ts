/**
 * ConsulBackend against Consul as it really behaves (issue #12): refused requests, checks that keep
 * their status across re-registrations, maintenance that must survive them, tags no filter can
 * quote, Connect proxies and gateways, and every generation of the filter language.
 */
import { describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, isRollcallError } from '../../../src/core/errors.js';
import type { ServiceInstance } from '../../../src/core/instance.js';
import { ConsulBackend } from '../../../src/backends/consul/index.js';
import { autoRegister } from '../../../src/registration/registration.js';
import type { ConsulDoubleOptions } from '../../helpers/consul-double/index.js';
import { instance, useConsulHarness } from '../../helpers/consul-double/harness.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const start = useConsulHarness();

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('requests Consul refuses (HTTP 400)', () => {
  it('become INVALID_ARGUMENT naming the field, never a retryable outage', async () => {
    const { double, backend } = await start();
    const consul = backend();
    double.injectFault({
      path: '/v1/agent/service/register',
      status: 400,
      body: "Invalid Service Meta: Couldn't load metadata pair ('note', 'x'): Value is too long (limit: 512 characters)",
      times: 1,
    });
    const error = await rejectionOf(consul.register(instance({ meta: { note: 'x' } }), { ttlMs: 15_000 }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'instance.meta.note' });
    expect(String(error)).toContain('Consul refused register with 400: Invalid Service Meta');
  });

  it('make autoRegister reject with the reason instead of going standalone and retrying for ever', async () => {
    const { double, backend } = await start();
    double.injectFault({ path: '/v1/agent/service/register', status: 400, body: 'Invalid service address', times: 1 });
    const error = await rejectionOf(autoRegister({ backend: backend(), service: 'auth_service', host: '10.0.0.1', port: 8080 }));
    expect(error).toMatchObject({ code: 'REGISTRATION_FAILED' });
    expect((error as Error).cause).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'instance.host' });
    expect(double.requestsTo('/v1/agent/service/register')).toHaveLength(1);
  });

  it('name the Enterprise option the community edition refuses', async () => {
    const { backend } = await start();
    const error = await rejectionOf(backend({ partition: 'eu' }).register(instance(), { ttlMs: 15_000 }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'partition' });
  });

  it('are avoided for Meta values over 512 UTF-8 bytes, rejected before any request', async () => {
    const { double, backend } = await start();
    const error = await rejectionOf(backend().register({ ...instance(), meta: { note: 'é'.repeat(300) } }, { ttlMs: 15_000 }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'instance.meta.note' });
    expect(double.requestsTo('/v1/agent/service/register')).toEqual([]);
  });

  it('include tags with a double quote, which no filter can select: refused before any request', async () => {
    const { double, backend } = await start();
    const error = await rejectionOf(backend().register(instance({ tags: ['env="prod"'] }), { ttlMs: 15_000 }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'instance.tags[0]' });
    expect(double.requestsTo('/v1/agent/service/register')).toEqual([]);
    expect(() => new ConsulBackend({ env: {}, tags: ['a"b'] })).toThrow(/Invalid tags\[0\]/);
  });
});

describe('re-registration', () => {
  it('reports the current status at once, though Consul keeps the old check status', async () => {
    const { double, backend } = await start();
    const consul = backend();
    const registered = instance();
    await consul.register(registered, { ttlMs: 15_000 });
    await consul.renew(registered, 'critical');
    await consul.register({ ...registered, status: 'passing' }, { ttlMs: 15_000 });
    expect(double.state.checks.get(`default/default/service:orders:${registered.id}`)?.status).toBe('passing');
    expect((await consul.instances('orders')).map((i) => i.status)).toEqual(['passing']);
  });

  it("keeps an operator's `consul maint` and its own drain", async () => {
    const { double, backend, call } = await start();
    const consul = backend();
    const operated = instance({ id: 'operated' });
    const draining = instance({ id: 'draining' });
    await consul.register(operated, { ttlMs: 15_000 });
    await consul.register(draining, { ttlMs: 15_000 });
    await call('PUT', '/v1/agent/service/maintenance/orders:operated?enable=true&reason=disk%20swap');
    await consul.renew(draining, 'draining');
    await consul.register(operated, { ttlMs: 15_000 });
    await consul.register({ ...draining, status: 'draining' }, { ttlMs: 15_000 });
    expect(double.state.checks.get('default/default/_service_maintenance:orders:operated')?.notes).toBe('disk swap');
    expect((await consul.instances('orders')).map((i) => [i.id, i.status])).toEqual([
      ['draining', 'draining'],
      ['operated', 'draining'],
    ]);
  });

  it('puts its own drain back after the agent lost the instance', async () => {
    const { double, backend } = await start();
    const consul = backend();
    const registered = instance();
    await consul.register(registered, { ttlMs: 15_000 });
    await consul.renew(registered, 'draining');
    double.state.forgetLocalServices();
    await expect(consul.renew(registered, 'draining')).resolves.toBe('lost');
    await consul.register({ ...registered, status: 'draining' }, { ttlMs: 15_000 });
    expect((await consul.instances('orders')).map((i) => i.status)).toEqual(['draining']);
  });
});

describe('Connect proxies and gateways', () => {
  async function mesh(options: ConsulDoubleOptions = {}): Promise<Awaited<ReturnType<typeof start>>> {
    const started = await start(options);
    await started.backend().register(instance({ service: 'web', id: 'app' }), { ttlMs: 15_000 });
    await started.call('PUT', '/v1/agent/service/register', { body: { ID: 'web-legacy', Name: 'web', Port: 8080, Connect: { SidecarService: {} } } });
    await started.call('PUT', '/v1/agent/service/register', { body: { ID: 'web-gw', Name: 'web', Kind: 'terminating-gateway', Port: 8443 } });
    return started;
  }

  it('are left out of instances and services by default', async () => {
    const { backend } = await mesh();
    const consul = backend();
    expect((await consul.instances('web')).map((i) => i.id).sort()).toEqual(['app', 'web-legacy']);
    await expect(consul.instances('web-sidecar-proxy')).resolves.toEqual([]);
    await expect(consul.services()).resolves.toEqual(['consul', 'web']);
  });

  it('are listed when their kinds are asked for', async () => {
    const { backend } = await mesh();
    const consul = backend({ serviceKinds: ['typical', 'connect-proxy', 'terminating-gateway'] });
    expect((await consul.instances('web')).map((i) => i.id).sort()).toEqual(['app', 'web-gw', 'web-legacy']);
    expect((await consul.instances('web-sidecar-proxy')).map((i) => [i.id, i.port])).toEqual([['web-legacy-sidecar-proxy', 21_000]]);
    await expect(consul.services()).resolves.toEqual(['consul', 'web', 'web-sidecar-proxy']);
    expect(() => new ConsulBackend({ env: {}, serviceKinds: ['sidecar' as never] })).toThrow(/Invalid serviceKinds/);
  });

  it('are left out client-side too, where the agent ignores the filter', async () => {
    const { backend } = await mesh({ bexpr: 'none' });
    expect((await backend().instances('web')).map((i) => i.id).sort()).toEqual(['app', 'web-legacy']);
    await expect(backend().services()).resolves.toEqual(['consul', 'web']);
  });
});

describe('filter generations', () => {
  const generations: ConsulDoubleOptions[] = [
    { bexpr: '0.1.2', catalogServicesFilter: false },
    { bexpr: '0.1.10', catalogServicesFilter: false },
    { bexpr: '0.1.10' },
    { bexpr: '0.1.12' },
    { bexpr: 'none' },
  ];
  for (const options of generations) {
    it(`sees the same thing on go-bexpr ${options.bexpr}${options.catalogServicesFilter === false ? ' without the catalog filter' : ''}`, async () => {
      const { double, backend, call } = await start(options);
      const shop = backend({ namespace: 'shop' });
      const plain = backend();
      await shop.register(instance({ id: 'in-shop' }), { ttlMs: 15_000 });
      await shop.register(instance({ service: 'payments', id: 'pay' }), { ttlMs: 15_000 });
      await plain.register(instance({ id: 'plain', tags: ['canary'] }), { ttlMs: 15_000 });
      // Registered by another tool: no rollcall Meta at all.
      await call('PUT', '/v1/agent/service/register', { body: { ID: 'legacy', Name: 'orders', Port: 7000, Check: { TTL: '30s', Status: 'passing' } } });
      await call('PUT', '/v1/agent/service/register', { body: { ID: 'shop-only', Name: 'billing', Port: 7001, Meta: { rollcall_namespace: 'shop' } } });

      expect((await shop.instances('orders')).map((i) => i.id)).toEqual(['in-shop']);
      expect((await plain.instances('orders')).map((i) => i.id)).toEqual(['legacy', 'plain']);
      expect((await backend({ tags: ['canary'] }).instances('orders')).map((i) => i.id)).toEqual(['plain']);
      await expect(shop.services()).resolves.toEqual(['billing', 'orders', 'payments']);
      await expect(plain.services()).resolves.toEqual(['consul', 'orders']);

      const seen: string[][] = [];
      shop.watch('orders', { onChange: (list) => seen.push(list.map((i) => i.id)) });
      await vi.waitFor(() => expect(seen).toEqual([['in-shop']]));
      await plain.register(instance({ id: 'plain-2' }), { ttlMs: 15_000 });
      await shop.register(instance({ id: 'in-shop-2' }), { ttlMs: 15_000 });
      await vi.waitFor(() => expect(seen.at(-1)).toEqual(['in-shop', 'in-shop-2']));
      expect(seen.flat()).not.toContain('plain-2');
      // Nothing was refused: every read answered was answered 200 (the watch's long poll is still open).
      const answered = double.requests.filter((r) => (r.path.startsWith('/v1/health') || r.path.startsWith('/v1/catalog')) && r.status !== undefined);
      expect(answered.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.path}?${r.query.toString()}`)).toEqual([]);
    });
  }

  it('falls back to client-side filtering when the agent refuses the filter, warning once', async () => {
    const { double, backend, call } = await start();
    const logger = recordingLogger();
    const consul = backend({ namespace: 'shop', logger });
    await consul.register(instance({ id: 'mine' }), { ttlMs: 15_000 });
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'theirs', Name: 'orders', Port: 1 } });
    double.injectFault({
      path: '/v1/health/service/orders',
      status: 500,
      body: 'Failed to create boolean expression evaluator: Invalid match operator "Is Empty" for selector ["Service" "Meta" "x"]',
      times: 1,
    });
    const ids = async (): Promise<string[]> => (await consul.instances('orders')).map((i: ServiceInstance) => i.id);
    expect(await ids()).toEqual(['mine']);
    expect(await ids()).toEqual(['mine']);
    const filters = double.requestsTo('/v1/health/service/orders').map((r) => r.query.has('filter'));
    expect(filters).toEqual([true, false, false]);
    expect(logger.at('warn').filter((line) => line.msg?.includes('filtering instances client-side'))).toHaveLength(1);
  });

  it('still reports an outage as REGISTRY_UNAVAILABLE, not as a refused filter', async () => {
    const { double, backend } = await start();
    double.injectFault({ path: '/v1/health/service/orders', status: 500, body: 'rpc error: No cluster leader', times: 1 });
    const error = await rejectionOf(backend().instances('orders'));
    expect(isRollcallError(error) && error.code).toBe('REGISTRY_UNAVAILABLE');
  });
});
