import { fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createInstance } from '../../src/index.js';
import { weighted } from '../../src/balancing/index.js';
import { createDiscoveryDispatcher, createDiscoveryFetch } from '../../src/http/index.js';
import { closeTracked, failing, healthy, orders, server, track } from './helpers.js';

afterEach(closeTracked);

/** Two real servers, `bad` answering 503 and `good` 200, behind a resolver with `strategy`. */
async function pair(options: Parameters<typeof orders>[1] = {}) {
  const bad = await server('bad', failing);
  const good = await server('good', healthy);
  const fleet = await orders([{ id: 'bad', port: bad.port }, { id: 'good', port: good.port }], options);
  return { bad, good, ...fleet };
}

describe('retries do not skew the rotation of first picks', () => {
  it('createDiscoveryFetch with round-robin: a sequential caller\'s first picks split evenly between a failing and a healthy instance', async () => {
    const { bad, good, resolver } = await pair();
    const fetch = createDiscoveryFetch(resolver);
    for (let n = 0; n < 100; n++) {
      const response = await fetch('http://orders/items');
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    // The failing instance only ever gets first picks (a retry never goes back to it).
    expect(bad.received).toHaveLength(50);
    // The healthy one gets its 50 first picks plus the 50 retries.
    expect(good.received).toHaveLength(100);
  });

  it('the discovery dispatcher keeps the same split', async () => {
    const { bad, good, resolver } = await pair();
    const agent = createDiscoveryDispatcher(resolver);
    track(() => agent.close());
    for (let n = 0; n < 40; n++) await (await undiciFetch('http://orders/items', { dispatcher: agent })).arrayBuffer();
    expect([bad.received.length, good.received.length]).toEqual([20, 40]);
  });

  it('createDiscoveryFetch with weighted: first picks follow the weights', async () => {
    const bad = await server('bad', failing);
    const good = await server('good', healthy);
    const { resolver, backend } = await orders([], { strategy: weighted() });
    const register = (id: string, port: number, weight: number) =>
      backend.register(createInstance({ id, service: 'orders', host: '127.0.0.1', port, weight }, Date.now()), { ttlMs: 600_000 });
    await register('bad', bad.port, 3);
    await register('good', good.port, 1);
    const fetch = createDiscoveryFetch(resolver);
    for (let n = 0; n < 80; n++) await (await fetch('http://orders/items')).arrayBuffer();
    // 20 cycles of sum(weights) = 4: 60 first picks to the failing instance, all retried.
    expect(bad.received).toHaveLength(60);
    expect(good.received).toHaveLength(80);
  });
});
