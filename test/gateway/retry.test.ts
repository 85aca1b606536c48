import { request } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { MemoryBackend, outlierEjection, roundRobin, type ServiceInstance, type Strategy } from '../../src/index.js';
import { orderedStrategy, recorded } from '../http/helpers.js';
import { answering, call, echoed, refusedPort, register, startGateway, startUpstream } from './helpers.js';

/** `a-dead` refuses connections, `b-live` echoes. */
async function deadAndLive(service = 'orders'): Promise<{ backend: MemoryBackend; live: Awaited<ReturnType<typeof startUpstream>> }> {
  const backend = new MemoryBackend();
  await register(backend, service, 'a-dead', await refusedPort());
  const live = await startUpstream('b-live');
  await register(backend, service, 'b-live', live.port);
  return { backend, live };
}

describe('rollcallGateway retries', () => {
  it('retries an idempotent request on another instance after a connection error, body included, and reports both outcomes', async () => {
    const { backend, live } = await deadAndLive();
    const outcomes: string[] = [];
    const { base } = await startGateway({ backend, resolver: { strategy: orderedStrategy(outcomes) } });

    expect(echoed(await call(`${base}/api/v1/orders/items`))).toMatchObject({ id: 'b-live', method: 'GET' });
    const put = await call(`${base}/api/v1/orders/items/7`, { method: 'PUT', body: '{"qty": 2}', headers: { 'content-type': 'application/json' } });
    expect(echoed(put)).toMatchObject({ id: 'b-live', method: 'PUT', body: '{"qty": 2}' });
    expect(echoed(await call(`${base}/api/v1/orders/items/7`, { method: 'DELETE' }))).toMatchObject({ id: 'b-live' });

    expect(outcomes).toEqual(['a-dead failed', 'b-live ok', 'a-dead failed', 'b-live ok', 'a-dead failed', 'b-live ok']);
    expect(live.received).toEqual(['GET /items', 'PUT /items/7', 'DELETE /items/7']);
  });

  it('never retries POST or PATCH unless they are opted in', async () => {
    const { backend, live } = await deadAndLive();
    const { base } = await startGateway({ backend, resolver: { strategy: orderedStrategy() } });

    const post = await call(`${base}/api/v1/orders/orders`, { method: 'POST', body: '{"sku":"apple"}', headers: { 'content-type': 'application/json' } });
    expect(post.status).toBe(502);
    expect(post.json).toEqual({
      error: 'bad_gateway',
      service: 'orders',
      message: 'No instance of "orders" could be reached.',
      upstreams: [{ instance: 'a-dead', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as string, error: expect.stringContaining('ECONNREFUSED') as string }],
    });
    expect((await call(`${base}/api/v1/orders/orders/1`, { method: 'PATCH', body: '{}' })).status).toBe(502);
    expect(live.received).toEqual([]);

    const { base: optedIn } = await startGateway({
      backend,
      resolver: { strategy: orderedStrategy() },
      retry: { methods: ['GET', 'POST'] },
    });
    expect(echoed(await call(`${optedIn}/api/v1/orders/orders`, { method: 'POST', body: '{"sku":"apple"}' }))).toMatchObject({ id: 'b-live', body: '{"sku":"apple"}' });
    expect((await call(`${optedIn}/api/v1/orders/orders/1`, { method: 'PUT', body: '{}' })).status).toBe(502);
  });

  it('retries 502, 503 and 504 answers on another instance and shows nothing of the discarded answer', async () => {
    const backend = new MemoryBackend();
    for (const status of [502, 503, 504]) {
      const failing = await startUpstream(`a-${status}`, answering(status, `a-${status}`));
      await register(backend, `svc-${status}`, `a-${status}`, failing.port);
      const live = await startUpstream('b-live');
      await register(backend, `svc-${status}`, 'b-live', live.port);
    }
    const outcomes: string[] = [];
    const { base } = await startGateway({ backend, resolver: { strategy: orderedStrategy(outcomes) } });

    for (const status of [502, 503, 504]) {
      const reply = await call(`${base}/api/v1/svc-${status}/x`);
      expect(reply.status).toBe(200);
      expect(echoed(reply).id).toBe('b-live');
      expect(reply.headers['x-failed-by']).toBeUndefined();
    }
    expect(outcomes).toEqual(['a-502 failed', 'b-live ok', 'a-503 failed', 'b-live ok', 'a-504 failed', 'b-live ok']);
  });

  it('passes an error answer through when no other instance is left, and stops after retry.attempts', async () => {
    const backend = new MemoryBackend();
    for (const id of ['a', 'b', 'c']) {
      const failing = await startUpstream(id, answering(503, id));
      await register(backend, 'orders', id, failing.port);
    }
    const outcomes: string[] = [];
    const { base } = await startGateway({ backend, resolver: { strategy: orderedStrategy(outcomes) }, retry: { attempts: 2 } });

    const reply = await call(`${base}/api/v1/orders/x`);

    expect(reply.status).toBe(503);
    expect(reply.body).toBe('503 from b');
    expect(reply.headers['x-failed-by']).toBe('b');
    expect(outcomes).toEqual(['a failed', 'b failed']);
  });

  it('bounds retries by tries, even when the strategy keeps offering the instance that failed', async () => {
    const { backend, live } = await deadAndLive();
    const outcomes: string[] = [];
    const stubborn: Strategy = {
      name: 'stubborn',
      createPicker: (_service, instances) => ({ pick: () => recorded(instances.find((instance) => instance.id === 'a-dead') as ServiceInstance, outcomes) }),
    };
    const { base } = await startGateway({ backend, resolver: { strategy: stubborn }, retry: { attempts: 3 } });

    const reply = await call(`${base}/api/v1/orders/x`);

    expect(reply.status).toBe(502);
    expect(outcomes).toEqual(['a-dead failed', 'a-dead failed', 'a-dead failed']);
    expect(live.received).toEqual([]);
  });

  it('does not retry with retry: false, bodies over maxBodyBytes, chunked bodies, nor timeouts', async () => {
    const { backend, live } = await deadAndLive();
    const strategy = { strategy: orderedStrategy() };
    const { base: noRetry } = await startGateway({ backend, resolver: strategy, retry: false });
    expect((await call(`${noRetry}/api/v1/orders/x`)).status).toBe(502);

    const { base } = await startGateway({ backend, resolver: strategy, retry: { maxBodyBytes: 4 } });
    expect(echoed(await call(`${base}/api/v1/orders/x`, { method: 'PUT', body: 'four' }))).toMatchObject({ id: 'b-live', body: 'four' });
    expect((await call(`${base}/api/v1/orders/x`, { method: 'PUT', body: 'five!' })).status).toBe(502);
    expect((await call(`${base}/api/v1/orders/x`, { method: 'PUT', body: 'four', chunked: true })).status).toBe(502);
    expect(live.received).toEqual(['PUT /x']);
  });

  it('answers 504 when an instance does not answer within timeoutMs, counts it as a failure and does not retry', async () => {
    const backend = new MemoryBackend();
    const hanging = await startUpstream('a-hangs', () => {
      // Never answers.
    });
    await register(backend, 'slow', 'a-hangs', hanging.port);
    const live = await startUpstream('b-live');
    await register(backend, 'slow', 'b-live', live.port);
    const outcomes: string[] = [];
    const { base } = await startGateway({ backend, resolver: { strategy: orderedStrategy(outcomes) }, timeoutMs: 100 });

    const reply = await call(`${base}/api/v1/slow/x`);

    expect(reply.status).toBe(504);
    expect(reply.json).toMatchObject({
      error: 'upstream_timeout',
      service: 'slow',
      message: 'No answer from "slow" within 100 ms.',
      upstreams: [{ instance: 'a-hangs', error: expect.stringMatching(/timeout/i) as string }],
    });
    expect(outcomes).toEqual(['a-hangs failed']);
    expect(live.received).toEqual([]);
  });

  it('reports outcomes so outlier ejection takes a failing instance out of the gateway’s rotation', async () => {
    const backend = new MemoryBackend();
    const broken = await startUpstream('broken', answering(500, 'broken'));
    await register(backend, 'orders', 'broken', broken.port);
    const healthy = await startUpstream('healthy');
    await register(backend, 'orders', 'healthy', healthy.port);
    const { base } = await startGateway({ backend, resolver: { strategy: outlierEjection({ consecutiveFailures: 2 }, roundRobin()) } });

    const served: string[] = [];
    for (let i = 0; i < 10; i++) {
      const reply = await call(`${base}/api/v1/orders/x`);
      served.push(reply.status === 500 ? 'broken' : echoed(reply).id);
    }

    expect(served.filter((id) => id === 'broken')).toHaveLength(2);
    expect(served.slice(-5)).toEqual(['healthy', 'healthy', 'healthy', 'healthy', 'healthy']);
  });

  it('reports a request the client gave up on as no failure of the instance', async () => {
    const backend = new MemoryBackend();
    let answered: (() => void) | undefined;
    const slow = await startUpstream('slow', (_req, res) => {
      answered = () => res.end('late');
    });
    await register(backend, 'orders', 'slow', slow.port);
    const outcomes: string[] = [];
    const { base } = await startGateway({ backend, resolver: { strategy: orderedStrategy(outcomes) } });

    const req = request({ host: '127.0.0.1', port: Number(new URL(base).port), path: '/api/v1/orders/x', agent: false });
    req.on('error', () => undefined);
    req.end();
    await vi.waitFor(() => expect(slow.received).toHaveLength(1));
    req.destroy();
    await vi.waitFor(() => expect(outcomes).toHaveLength(1));
    answered?.();

    expect(outcomes).toEqual(['slow ok']);
  });
});
