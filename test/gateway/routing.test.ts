import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/index.js';
import { call, echoed, register, startGateway, startUpstream } from './helpers.js';

describe('rollcallGateway routing', () => {
  it('forwards method, path, query and body byte for byte to a live instance, with X-Forwarded-* and without hop-by-hop headers', async () => {
    const backend = new MemoryBackend();
    const upstream = await startUpstream('auth-1');
    await register(backend, 'auth_service', 'auth-1', upstream.port);
    const { base } = await startGateway({ backend });

    const reply = await call(`${base}/api/v1/auth_service/users/a%2Fb/7?expand=roles&q=100%&x=%zz`, {
      method: 'PUT',
      body: '{ "name" :  "ada" }',
      headers: {
        'content-type': 'application/json',
        connection: 'keep-alive, x-client-private',
        'x-client-private': 'secret',
        'keep-alive': 'timeout=5',
        'x-request-id': 'r-1',
        'x-forwarded-for': '203.0.113.9',
      },
    });

    expect(reply.status).toBe(200);
    const seen = echoed(reply);
    expect(seen).toMatchObject({ id: 'auth-1', method: 'PUT', url: '/users/a%2Fb/7?expand=roles&q=100%&x=%zz', body: '{ "name" :  "ada" }' });
    expect(seen.headers).toMatchObject({
      'content-type': 'application/json',
      'x-request-id': 'r-1',
      'x-forwarded-for': '203.0.113.9, 127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': new URL(base).host,
      'x-forwarded-prefix': '/api/v1/auth_service',
      host: `127.0.0.1:${upstream.port}`,
    });
    expect(seen.headers['x-client-private']).toBeUndefined();
    expect(seen.headers['keep-alive']).toBeUndefined();
    expect(reply.headers['x-served-by']).toBe('auth-1');
    expect(reply.headers['x-upstream-private']).toBeUndefined();
  });

  it('routes every real-world name shape, and the bare service path to /', async () => {
    const backend = new MemoryBackend();
    for (const service of ['auth_service', 'ip-intel', 'Orders', 'orders.api']) {
      const upstream = await startUpstream(`${service}-1`);
      await register(backend, service, `${service}-1`, upstream.port);
    }
    const { base } = await startGateway({ backend });

    for (const service of ['auth_service', 'ip-intel', 'Orders', 'orders.api']) {
      expect(echoed(await call(`${base}/api/v1/${service}/ping`))).toMatchObject({ id: `${service}-1`, url: '/ping' });
    }
    expect(echoed(await call(`${base}/api/v1/Orders`))).toMatchObject({ url: '/' });
    expect(echoed(await call(`${base}/api/v1/Orders?page=2`))).toMatchObject({ url: '/?page=2' });
    expect(echoed(await call(`${base}/api/v1/Orders/`))).toMatchObject({ url: '/' });
    expect((await call(`${base}/api/v1/orders/ping`)).status).toBe(503);
  });

  it('forwards bodies of any content type, streamed or held, without parsing them', async () => {
    const backend = new MemoryBackend();
    const upstream = await startUpstream('files-1');
    await register(backend, 'files', 'files-1', upstream.port);
    const { base } = await startGateway({ backend });

    const posted = await call(`${base}/api/v1/files/upload`, { method: 'POST', body: '{"a":  1}', headers: { 'content-type': 'application/json' } });
    expect(echoed(posted)).toMatchObject({ method: 'POST', body: '{"a":  1}' });
    const custom = await call(`${base}/api/v1/files/x`, { method: 'PATCH', body: 'raw bytes', headers: { 'content-type': 'application/x-custom' } });
    expect(echoed(custom)).toMatchObject({ method: 'PATCH', body: 'raw bytes', headers: { 'content-type': 'application/x-custom' } });
    const untyped = await call(`${base}/api/v1/files/x`, { method: 'DELETE', body: 'why not' });
    expect(echoed(untyped)).toMatchObject({ method: 'DELETE', body: 'why not' });
    const chunked = await call(`${base}/api/v1/files/x`, { method: 'PUT', body: 'in chunks', chunked: true, headers: { 'content-type': 'text/plain' } });
    expect(echoed(chunked)).toMatchObject({ method: 'PUT', body: 'in chunks' });
    const head = await call(`${base}/api/v1/files/x`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(upstream.received).toContain('HEAD /x');
  });

  it('answers 503 with the tiers tried when a service has no live instance', async () => {
    const backend = new MemoryBackend();
    await register(backend, 'payments', 'p-1', 9, { status: 'critical' });
    const { base } = await startGateway({ backend, resolver: { envFallback: { env: {} } } });

    const reply = await call(`${base}/api/v1/payments/charges`);

    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('1');
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.json).toEqual({
      error: 'service_unavailable',
      service: 'payments',
      message: 'No live instance of "payments" could be found.',
      tried: [
        { tier: 'registry', reason: 'the registry listed 1 instance(s), none passing or warning' },
        { tier: 'stale', reason: 'not used: the registry answered' },
        { tier: 'env', reason: 'PAYMENTS_URL is not set' },
      ],
    });
  });

  it('answers 400 for a name that is not a service name, 404 for services it does not route, 400 for paths it cannot forward', async () => {
    const backend = new MemoryBackend();
    const upstream = await startUpstream('orders-1');
    await register(backend, 'orders', 'orders-1', upstream.port);
    await register(backend, 'admin', 'admin-1', upstream.port);
    const { base } = await startGateway({ backend, services: ['orders'] });

    const badName = await call(`${base}/api/v1/bad%20name/x`);
    expect(badName.status).toBe(400);
    expect(badName.json).toMatchObject({ error: 'invalid_service_name', service: 'bad name', message: expect.stringContaining('character U+0020 at position 4') as string });
    expect((await call(`${base}/api/v1/_hidden/x`)).json).toMatchObject({ error: 'invalid_service_name', message: expect.stringContaining('starts with "_"') as string });

    const hidden = await call(`${base}/api/v1/admin/users`);
    expect(hidden.status).toBe(404);
    expect(hidden.json).toEqual({ error: 'unknown_service', service: 'admin', message: 'This gateway does not route to "admin".' });

    for (const path of ['/a/../../etc/passwd', '/a/%2e%2e/b', '/a/..']) {
      const refused = await call(`${base}/api/v1/orders${path}`);
      expect(refused.status, path).toBe(400);
      expect(refused.json).toMatchObject({ error: 'invalid_path', service: 'orders', message: expect.stringContaining('contains ".."') as string });
    }
    // Fastify's router refuses malformed percent-encoding itself, before the gateway sees it.
    expect((await call(`${base}/api/v1/orders/%E0%A4%A`)).status).toBe(400);
    expect(upstream.received).toEqual([]);
    expect((await call(`${base}/api/v2/orders/x`)).status).toBe(404);
  });

  it('takes its prefix from apiPrefix, and from Fastify’s own register prefix', async () => {
    const backend = new MemoryBackend();
    const upstream = await startUpstream('orders-1');
    await register(backend, 'orders', 'orders-1', upstream.port);
    const { base } = await startGateway({ backend, apiPrefix: '/gateway/v2', servicesRoute: '/gateway/services', prefix: '/edge' });

    const reply = await call(`${base}/edge/gateway/v2/orders/items?x=1`);
    expect(echoed(reply)).toMatchObject({ url: '/items?x=1', headers: { 'x-forwarded-prefix': '/edge/gateway/v2/orders' } });
    expect((await call(`${base}/edge/gateway/services`)).status).toBe(200);
    expect((await call(`${base}/api/v1/orders/items`)).status).toBe(404);
  });

  it('answers 502 for an instance that does not speak HTTP', async () => {
    const backend = new MemoryBackend();
    await register(backend, 'grpc-svc', 'g-1', 50051, { protocol: 'grpc' });
    const { base } = await startGateway({ backend });

    const reply = await call(`${base}/api/v1/grpc-svc/x`);

    expect(reply.status).toBe(502);
    expect(reply.json).toMatchObject({ error: 'unsupported_protocol', service: 'grpc-svc', message: 'Instance g-1 speaks grpc; the gateway forwards http and https.' });
  });
});
