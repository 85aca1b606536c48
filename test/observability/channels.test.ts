/**
 * The diagnostics channels as a tool other than rollcall's exporters sees them: named, with the
 * TracingChannel event order, headers a subscriber may add (and may not abuse), and the gateway's
 * retries and budget refusals.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, HttpAttemptMessage, MemoryBackend, createResolver, type HttpRetryMessage } from '../../src/index.js';
import { createDiscoveryFetch } from '../../src/http/index.js';
import { answering, echo, register, startGateway, startUpstream, type Echo } from '../gateway/helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function listen(name: string, handler: (message: unknown) => void): void {
  subscribe(name, handler);
  cleanups.push(() => unsubscribe(name, handler));
}

describe('rollcall:http:attempt', () => {
  it('publishes start, end, then asyncStart and asyncEnd, and sends the headers a start subscriber set, ignoring unsafe ones', async () => {
    const target = await startUpstream('orders-1', echo('orders-1'));
    const memory = new MemoryBackend();
    cleanups.push(() => memory.close());
    await register(memory, 'orders', target.id, target.port);
    const resolver = createResolver({ backend: memory });
    cleanups.push(() => resolver.close());
    const events: string[] = [];
    for (const event of ['start', 'end', 'asyncStart', 'asyncEnd', 'error']) {
      listen(`tracing:${CHANNELS.httpAttempt}:${event}`, (message) => {
        events.push(event);
        if (event !== 'start') return;
        const attempt = message as HttpAttemptMessage;
        attempt.setHeader('X-Trace', 'abc');
        attempt.setHeader('x-split', 'a\r\nx-injected: yes');
        attempt.setHeader('bad name', 'value');
      });
    }

    const response = await createDiscoveryFetch(resolver)('http://orders/items', { headers: { 'x-trace': 'caller' } });
    const seen = ((await response.json()) as Echo).headers;

    expect(events).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(seen['x-trace']).toBe('abc');
    expect(seen['x-split']).toBeUndefined();
    expect(seen['x-injected']).toBeUndefined();
    expect(Object.keys(seen).some((name) => name.includes(' '))).toBe(false);
  });

  it('is an instance of HttpAttemptMessage with the attempt and its outcome', async () => {
    const target = await startUpstream('orders-1', answering(500, 'orders-1'));
    const memory = new MemoryBackend();
    cleanups.push(() => memory.close());
    await register(memory, 'orders', target.id, target.port);
    const resolver = createResolver({ backend: memory });
    cleanups.push(() => resolver.close());
    const ended: HttpAttemptMessage[] = [];
    listen(`tracing:${CHANNELS.httpAttempt}:asyncEnd`, (message) => ended.push(message as HttpAttemptMessage));

    await createDiscoveryFetch(resolver, { retry: false })('http://orders/items', { method: 'delete' });

    expect(ended).toHaveLength(1);
    expect(ended[0]).toBeInstanceOf(HttpAttemptMessage);
    expect(ended[0]).toMatchObject({ client: 'fetch', service: 'orders', method: 'DELETE', source: 'registry', resendCount: 0, statusCode: 500, outcome: 'failure' });
    expect(ended[0]?.instance.id).toBe('orders-1');
    expect(ended[0]?.durationMs).toBeGreaterThan(0);
  });
});

describe('rollcall:http:retry and rollcall:http:retry-budget-refused', () => {
  it('report the gateway retrying on another instance, and the budget refusing', async () => {
    const memory = new MemoryBackend();
    cleanups.push(() => memory.close());
    for (const id of ['orders-1', 'orders-2', 'orders-3']) await register(memory, 'orders', id, (await startUpstream(id, answering(503, id))).port);
    const retries: HttpRetryMessage[] = [];
    const refusals: HttpRetryMessage[] = [];
    listen(CHANNELS.httpRetry, (message) => retries.push(message as HttpRetryMessage));
    listen(CHANNELS.retryBudgetRefused, (message) => refusals.push(message as HttpRetryMessage));
    const gateway = await startGateway({ backend: memory, retry: { attempts: 3, budget: { ratio: 0, minPerSecond: 0.1, windowMs: 10_000 } } });

    const answer = await fetch(`${gateway.base}/api/v1/orders/items`);

    expect(answer.status).toBe(503);
    expect(retries.map(({ instanceId, ...rest }) => [/^orders-[123]$/.test(instanceId), rest])).toEqual([[true, { client: 'gateway', service: 'orders', reason: 'status' }]]);
    expect(refusals.map(({ instanceId, ...rest }) => [/^orders-[123]$/.test(instanceId), rest])).toEqual([[true, { client: 'gateway', service: 'orders', reason: 'status' }]]);
    expect(refusals[0]?.instanceId).not.toBe(retries[0]?.instanceId);
  });
});
