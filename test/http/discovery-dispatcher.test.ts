import { Agent, fetch as undiciFetch, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { consistentHash } from '../../src/balancing/index.js';
import { createDiscoveryDispatcher, discoveryInterceptor } from '../../src/http/index.js';
import { closeTracked, failing, healthy, orderedStrategy, orders, refusedPort, server, track } from './helpers.js';

afterEach(closeTracked);

function dispatcher(created: Dispatcher): Dispatcher {
  track(() => created.close());
  return created;
}

describe('discovery dispatcher', () => {
  it("makes Node's global fetch discovery-aware through setGlobalDispatcher", async () => {
    const a = await server('a', healthy);
    const { resolver } = await orders([{ id: 'a', port: a.port }]);
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(dispatcher(createDiscoveryDispatcher(resolver)));
    track(() => Promise.resolve(setGlobalDispatcher(previous)));
    const response = await globalThis.fetch('http://orders/api/v1/items?x=1');
    expect(await response.text()).toBe('ok GET /api/v1/items?x=1');
    expect(await (await globalThis.fetch(`http://127.0.0.1:${a.port}/direct`)).text()).toBe('ok GET /direct');
  });

  it('retries a bodiless idempotent request on a different instance after a 503 or a refused connection', async () => {
    const down = await server('2-failing', failing);
    const up = await server('3-healthy', healthy);
    const outcomes: string[] = [];
    const instances = [{ id: '1-refused', port: await refusedPort() }, { id: '2-failing', port: down.port }, { id: '3-healthy', port: up.port }];
    const { resolver } = await orders(instances, { strategy: orderedStrategy(outcomes) });
    const agent = dispatcher(createDiscoveryDispatcher(resolver));
    const refused = await undiciFetch('http://orders/a', { dispatcher: agent });
    expect([refused.status, await refused.text()]).toEqual([503, 'unavailable']);
    expect(outcomes).toEqual(['1-refused failed', '2-failing failed']);

    const viaRequest = await agent.request({ origin: 'http://orders', path: '/b', method: 'DELETE', body: 'why' });
    expect(viaRequest.statusCode).toBe(503);
    await viaRequest.body.text();
  });

  it('moves a 503 to the next instance and hands downstream one clean response', async () => {
    const down = await server('1-failing', failing);
    const up = await server('2-healthy', healthy);
    const outcomes: string[] = [];
    const { resolver } = await orders([{ id: '1-failing', port: down.port }, { id: '2-healthy', port: up.port }], { strategy: orderedStrategy(outcomes) });
    const agent = dispatcher(new Agent().compose(discoveryInterceptor(resolver)));
    const response = await undiciFetch('http://orders/items', { dispatcher: agent });
    expect([response.status, await response.text()]).toEqual([200, 'ok GET /items']);
    const put = await agent.request({ origin: 'http://orders', path: '/items', method: 'PUT', body: 'v=3' });
    expect([put.statusCode, await put.body.text()]).toEqual([200, 'ok PUT /items v=3']);
    expect(outcomes).toEqual(['1-failing failed', '2-healthy ok', '1-failing failed', '2-healthy ok']);
  });

  it('retries Blob bodies given to dispatcher.request(), as fetch does', async () => {
    const down = await server('1-failing', failing);
    const up = await server('2-healthy', healthy);
    const outcomes: string[] = [];
    const { resolver } = await orders([{ id: '1-failing', port: down.port }, { id: '2-healthy', port: up.port }], { strategy: orderedStrategy(outcomes) });
    const agent = dispatcher(createDiscoveryDispatcher(resolver));
    const blob = await agent.request({ origin: 'http://orders', path: '/items', method: 'PUT', body: new Blob(['v=3']) as never });
    expect([blob.statusCode, await blob.body.text()]).toEqual([200, 'ok PUT /items v=3']);
    expect(outcomes).toEqual(['1-failing failed', '2-healthy ok']);
  });

  it('never retries once the answer reached the caller: a connection cut mid-body fails the call', async () => {
    const cut = await server('1-cut', (_request, response) => {
      response.write('head;');
      setImmediate(() => response.socket?.destroy());
    });
    const up = await server('2-healthy', healthy);
    const outcomes: string[] = [];
    const { resolver } = await orders([{ id: '1-cut', port: cut.port }, { id: '2-healthy', port: up.port }], { strategy: orderedStrategy(outcomes) });
    const agent = dispatcher(createDiscoveryDispatcher(resolver));
    const response = await agent.request({ origin: 'http://orders', path: '/x', method: 'GET' });
    expect(response.statusCode).toBe(200);
    await expect(response.body.text()).rejects.toThrow();
    expect(up.received).toEqual([]);
    expect(outcomes).toEqual(['1-cut ok']);
  });

  it('does not retry non-idempotent requests or bodies fetch streams', async () => {
    const down = await server('1-failing', failing);
    const up = await server('2-healthy', healthy);
    const { resolver } = await orders([{ id: '1-failing', port: down.port }, { id: '2-healthy', port: up.port }], { strategy: orderedStrategy() });
    const agent = dispatcher(createDiscoveryDispatcher(resolver));
    expect((await undiciFetch('http://orders/x', { method: 'POST', body: '{}', dispatcher: agent })).status).toBe(503);
    expect((await undiciFetch('http://orders/x', { method: 'PUT', body: 'v', dispatcher: agent })).status).toBe(503);
    expect(up.received).toEqual([]);
  });

  it('streams a response body through fetch', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const streaming = await server('a', (_request, response) => {
      response.write('head;');
      void gate.then(() => response.end('tail'));
    });
    const { resolver } = await orders([{ id: 'a', port: streaming.port }]);
    const response = await undiciFetch('http://orders/s', { dispatcher: dispatcher(createDiscoveryDispatcher(resolver)) });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('head;');
    release();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('tail');
  });

  it('honours an abort signal and a key header', async () => {
    const servers = await Promise.all(['a', 'b', 'c'].map((id) => server(id, (request, response, body) => (request.url === '/hang' ? undefined : healthy(request, response, body)))));
    const { resolver } = await orders(servers.map((s) => ({ id: s.id, port: s.port })), { strategy: consistentHash() });
    const agent = dispatcher(createDiscoveryDispatcher(resolver, { keyHeader: 'x-user-id' }));
    for (let n = 0; n < 5; n++) await (await undiciFetch('http://orders/k', { dispatcher: agent, headers: { 'x-user-id': 'user-9' } })).text();
    expect(servers.map((s) => s.received.length).sort()).toEqual([0, 0, 5]);
    const pending = undiciFetch('http://orders/hang', { dispatcher: agent, signal: AbortSignal.timeout(100) });
    await expect(pending).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('fails like fetch when the service cannot be resolved', async () => {
    const { resolver } = await orders([]);
    const failure: unknown = await undiciFetch('http://orders/x', { dispatcher: dispatcher(createDiscoveryDispatcher(resolver)) }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as Error).cause).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });
});
