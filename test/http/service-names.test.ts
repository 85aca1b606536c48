import { fetch as undiciFetch, type Response as UndiciResponse } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, MemoryBackend, createInstance, createResolver } from '../../src/index.js';
import { createDiscoveryDispatcher, createDiscoveryFetch, defaultIsService } from '../../src/http/index.js';
import { closeTracked, healthy, server, track } from './helpers.js';

afterEach(closeTracked);

/** A resolver over one instance per named service, each a real local server answering `ok ...`. */
async function services(...names: string[]) {
  const backend = new MemoryBackend();
  for (const name of names) {
    const instance = await server(name, healthy);
    await backend.register(createInstance({ id: `${name}-1`, service: name, host: '127.0.0.1', port: instance.port }, Date.now()), { ttlMs: 600_000 });
  }
  const resolver = createResolver({ backend, envFallback: false });
  track(async () => {
    await resolver.close();
    await backend.close();
  });
  return resolver;
}

async function text(response: Promise<Response | UndiciResponse>): Promise<string> {
  return (await response).text();
}

describe('discovery-aware HTTP with real-world service names', () => {
  it('reaches services whose names hold underscores: http://auth_service/...', async () => {
    const resolver = await services('auth_service', 'model_service');
    const fetch = createDiscoveryFetch(resolver);
    expect(await text(fetch('http://auth_service/api/v1/login?x=1'))).toBe('ok GET /api/v1/login?x=1');
    expect(await text(fetch('http://model_service/predict', { method: 'POST', body: 'q' }))).toBe('ok POST /predict q');
  });

  it('reaches a mixed-case service through the services option, since URL hosts are lower case', async () => {
    const resolver = await services('Orders');
    const failure: unknown = await createDiscoveryFetch(resolver)('http://Orders/items').catch((error: unknown) => error);
    // Without the option the host `orders` is looked up, and nothing is registered under that spelling.
    expect((failure as Error).cause).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'orders' });
    const fetch = createDiscoveryFetch(resolver, { services: ['Orders'] });
    expect(await text(fetch('http://Orders/items'))).toBe('ok GET /items');
    expect(await text(fetch('http://orders/items'))).toBe('ok GET /items');
    expect(await text(fetch('http://ORDERS/items'))).toBe('ok GET /items');
  });

  it('resolves a dotted service name when listed, and leaves other dotted hosts to DNS', async () => {
    const resolver = await services('orders.api');
    const fetch = createDiscoveryFetch(resolver, { services: ['orders.api'] });
    expect(await text(fetch('http://orders.api/v2/items'))).toBe('ok GET /v2/items');
    // An IP address (no port: 80, where nothing listens) is connected to, not looked up as a service.
    const failure: unknown = await fetch('http://127.0.0.1/').catch((error: unknown) => error);
    expect((failure as Error).cause).not.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(resolver.status('127.0.0.1')).toBeUndefined();
  });

  it('the discovery dispatcher maps names the same way', async () => {
    const resolver = await services('Orders', 'orders.api', 'auth_service');
    const agent = createDiscoveryDispatcher(resolver, { services: ['Orders', 'orders.api'] });
    track(() => agent.close());
    for (const url of ['http://Orders/a', 'http://orders.api/b', 'http://auth_service/c']) {
      expect(await text(undiciFetch(url, { dispatcher: agent }))).toBe(`ok GET ${new URL(url).pathname}`);
    }
  });

  it('defaultIsService takes single-label service names without a port, nothing dotted', () => {
    const verdict = (url: string) => defaultIsService(new URL(url));
    expect(['http://orders/', 'http://auth_service/x', 'http://ip-intel/', 'https://Orders/'].map(verdict)).toEqual([true, true, true, true]);
    expect(['http://orders:8080/', 'https://api.example.com/', 'http://10.0.0.5/', 'http://orders.api/', 'http://[::1]/'].map(verdict)).toEqual([false, false, false, false, false]);
  });

  it('rejects bad services lists with typed errors', async () => {
    const resolver = await services();
    for (const [services, field] of [
      ['orders', 'createDiscoveryFetch options.services'],
      [['bad name'], 'createDiscoveryFetch options.services[0]'],
      [['Orders', 'orders'], 'createDiscoveryFetch options.services[1]'],
      [[5], 'createDiscoveryFetch options.services[0]'],
    ] as const) {
      let thrown: unknown;
      try {
        createDiscoveryFetch(resolver, { services: services as never });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect((thrown as InvalidArgumentError).field).toBe(field);
    }
    expect(() => createDiscoveryDispatcher(resolver, { services: ['Orders', 'orders'] })).toThrow(/"Orders" is listed too/);
  });
});
