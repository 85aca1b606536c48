import { afterEach, describe, expect, it } from 'vitest';
import { consistentHash, outlierEjection, p2c } from '../../src/balancing/index.js';
import { createDiscoveryFetch } from '../../src/http/index.js';
import { closeTracked, failing, healthy, orderedStrategy, orders, refusedPort, server, slow } from './helpers.js';

afterEach(closeTracked);

describe('createDiscoveryFetch', () => {
  it('sends a service URL to an instance, with path, query, method, headers and body', async () => {
    const a = await server('a', healthy);
    const { resolver } = await orders([{ id: 'a', port: a.port }]);
    const fetch = createDiscoveryFetch(resolver);
    const response = await fetch('http://orders/api/v1/items?page=2', { method: 'PATCH', body: 'x=1', headers: { 'x-trace': 't1' } });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok PATCH /api/v1/items?page=2 x=1');
    expect(a.received).toEqual(['PATCH /api/v1/items?page=2 x=1']);
  });

  it('accepts a Request, keeping its method, headers and body', async () => {
    const a = await server('a', (request, response, body) => response.end(`${request.method} ${String(request.headers['x-trace'])} ${body}`));
    const { resolver } = await orders([{ id: 'a', port: a.port }]);
    const request = new Request('http://orders/items', { method: 'POST', headers: { 'x-trace': 't2' }, body: 'payload' });
    expect(await (await createDiscoveryFetch(resolver)(request)).text()).toBe('POST t2 payload');
  });

  it('passes other URLs through untouched', async () => {
    const a = await server('a', healthy);
    const { resolver } = await orders([]);
    const fetch = createDiscoveryFetch(resolver);
    expect(await (await fetch(`http://127.0.0.1:${a.port}/direct`)).text()).toBe('ok GET /direct');
    const request = new Request(`http://127.0.0.1:${a.port}/global`, { method: 'POST', body: 'b' });
    expect(await (await fetch(request)).text()).toBe('ok POST /global b');
    expect(resolver.status('orders')).toBeUndefined();
  });

  it('retries an idempotent request once on a different instance after a 503, reporting both attempts', async () => {
    const down = await server('1-failing', failing);
    const up = await server('2-healthy', healthy);
    const outcomes: string[] = [];
    const { resolver } = await orders([{ id: '1-failing', port: down.port }, { id: '2-healthy', port: up.port }], { strategy: orderedStrategy(outcomes) });
    const response = await createDiscoveryFetch(resolver)('http://orders/items', { method: 'PUT', body: 'v=2' });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok PUT /items v=2');
    expect([down.received, up.received]).toEqual([['PUT /items v=2'], ['PUT /items v=2']]);
    expect(outcomes).toEqual(['1-failing failed', '2-healthy ok']);
  });

  it('retries after a connection error', async () => {
    const up = await server('2-healthy', healthy);
    const outcomes: string[] = [];
    const { resolver } = await orders([{ id: '1-refused', port: await refusedPort() }, { id: '2-healthy', port: up.port }], { strategy: orderedStrategy(outcomes) });
    expect((await createDiscoveryFetch(resolver)('http://orders/items')).status).toBe(200);
    expect(outcomes).toEqual(['1-refused failed', '2-healthy ok']);
  });

  it('does not retry non-idempotent requests, streamed bodies, or when there is no other instance', async () => {
    const down = await server('1-failing', failing);
    const up = await server('2-healthy', healthy);
    const { resolver } = await orders([{ id: '1-failing', port: down.port }, { id: '2-healthy', port: up.port }], { strategy: orderedStrategy() });
    const fetch = createDiscoveryFetch(resolver);
    expect((await fetch('http://orders/orders', { method: 'POST', body: '{}' })).status).toBe(503);
    const stream = new ReadableStream({ start: (controller) => (controller.enqueue(new TextEncoder().encode('chunk')), controller.close()) });
    expect((await fetch('http://orders/orders', { method: 'PUT', body: stream, duplex: 'half' })).status).toBe(503);
    expect(up.received).toEqual([]);

    const alone = await server('solo', failing);
    const single = await orders([{ id: 'solo', port: alone.port }], { strategy: orderedStrategy() });
    expect((await createDiscoveryFetch(single.resolver)('http://orders/x')).status).toBe(503);
    expect(alone.received).toHaveLength(1);
  });

  it('caps retries with the retry budget while an instance keeps failing', async () => {
    const down = await server('1-failing', failing);
    const up = await server('2-healthy', healthy);
    const { resolver } = await orders([{ id: '1-failing', port: down.port }, { id: '2-healthy', port: up.port }], { strategy: orderedStrategy() });
    const fetch = createDiscoveryFetch(resolver, { retry: { budget: { ratio: 0.2, minPerSecond: 0 } } });
    const statuses: number[] = [];
    for (let n = 0; n < 50; n++) {
      const response = await fetch('http://orders/x');
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    // 20% of 50 requests: 10 retries reach the healthy instance, the other 40 callers get the 503.
    expect(down.received).toHaveLength(50);
    expect(up.received).toHaveLength(10);
    expect(statuses.filter((status) => status === 503)).toHaveLength(40);
  });

  it('streams request and response bodies', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const streaming = await server('a', (_request, response, body) => {
      response.write(`first:${body.length};`);
      void gate.then(() => response.end('second'));
    });
    const { resolver } = await orders([{ id: 'a', port: streaming.port }]);
    const payload = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let n = 0; n < 64; n++) controller.enqueue(new Uint8Array(1024).fill(97));
        controller.close();
      },
    });
    const response = await createDiscoveryFetch(resolver)('http://orders/upload', { method: 'POST', body: payload, duplex: 'half' });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    // The first chunk arrives while the server still holds the rest back.
    expect(new TextDecoder().decode(first.value)).toBe('first:65536;');
    release();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    expect(rest).toBe('second');
  });

  it('honours timeoutMs and counts a timeout against the instance', async () => {
    // The server answers after a minute: failing within the test's time is failing on timeoutMs.
    const sluggish = await server('a', slow(60_000));
    const strategy = outlierEjection({ consecutiveFailures: 1 }, orderedStrategy());
    const { resolver } = await orders([{ id: 'a', port: sluggish.port }], { strategy });
    await expect(createDiscoveryFetch(resolver, { timeoutMs: 100 })('http://orders/x')).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(strategy.ejection('orders')?.ejected).toEqual(['a']);
  });

  it('honours an abort signal without counting the cancellation against the instance', async () => {
    const sluggish = await server('a', slow(2_000));
    const strategy = outlierEjection({ consecutiveFailures: 1 }, orderedStrategy());
    const { resolver } = await orders([{ id: 'a', port: sluggish.port }], { strategy });
    const controller = new AbortController();
    const pending = createDiscoveryFetch(resolver)('http://orders/x', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(strategy.ejection('orders')?.ejected).toEqual([]);
  });

  it('feeds latency to p2c, which then keeps calls off a slow instance', async () => {
    const fast = await server('fast', healthy);
    const sluggish = await server('slow', slow(150));
    const strategy = p2c();
    const { resolver } = await orders([{ id: 'fast', port: fast.port }, { id: 'slow', port: sluggish.port }], { strategy });
    const fetch = createDiscoveryFetch(resolver);
    for (let n = 0; n < 20; n++) await (await fetch('http://orders/x')).text();
    expect(sluggish.received.length).toBeLessThanOrEqual(2);
    expect(fast.received.length).toBeGreaterThanOrEqual(18);
  });

  it('hashes the affinity key header to keep a user on one instance', async () => {
    const servers = await Promise.all(['a', 'b', 'c'].map((id) => server(id, healthy)));
    const { resolver } = await orders(servers.map((s) => ({ id: s.id, port: s.port })), { strategy: consistentHash() });
    const fetch = createDiscoveryFetch(resolver, { keyHeader: 'X-User-Id' });
    for (let n = 0; n < 6; n++) await (await fetch('http://orders/x', { headers: { 'x-user-id': 'user-7' } })).text();
    expect(servers.map((s) => s.received.length).sort()).toEqual([0, 0, 6]);
  });

  it('rejects like fetch, with the rollcall error as cause, when the service has no instance', async () => {
    const { resolver } = await orders([]);
    const failure: unknown = await createDiscoveryFetch(resolver)('http://orders/x').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as Error).cause).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'orders' });
  });

  it('validates its options', async () => {
    const { resolver } = await orders([]);
    expect(() => createDiscoveryFetch({} as never)).toThrow(/Invalid resolver/);
    expect(() => createDiscoveryFetch(resolver, { timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => createDiscoveryFetch(resolver, { retry: { statuses: [99] } })).toThrow(/retry.statuses/);
    expect(() => createDiscoveryFetch(resolver, { retry: { budget: { ratio: 2 } } })).toThrow(/retry.budget.ratio/);
  });
});
