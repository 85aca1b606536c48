/**
 * Traces with the OpenTelemetry SDK (in-memory exporter, AsyncLocalStorage context manager, W3C
 * propagation): one trace from a client through the gateway to the service, each try its own
 * span; a discovery fetch continuing its caller's span; registry calls as spans; nothing sent
 * without an SDK.
 */
import Fastify from 'fastify';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Tracer } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { rollcallGateway } from '../../src/gateway/index.js';
import { createDiscoveryDispatcher, createDiscoveryFetch } from '../../src/http/index.js';
import { MemoryBackend, createInstance, createResolver, roundRobin, type RegistryBackend } from '../../src/index.js';
import { traceRollcall, type RollcallTracing } from '../../src/otel/index.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { globalContextAndPropagation, tracing } from './otel.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface ServiceInstanceServer {
  readonly id: string;
  readonly port: number;
  /** Headers of every request received. */
  readonly received: IncomingHttpHeaders[];
}

/**
 * An instance of a service that answers `status` and, like an instrumented server, starts a
 * SERVER span continuing the context its request carried.
 */
async function instanceServer(tracer: Tracer, id: string, status: number): Promise<ServiceInstanceServer> {
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    received.push(request.headers);
    const span = tracer.startSpan(`${id} handles ${request.method ?? ''}`, { kind: SpanKind.SERVER }, propagation.extract(ROOT_CONTEXT, request.headers));
    response.writeHead(status, { 'content-type': 'text/plain' }).end(`${status} from ${id}`);
    span.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { id, port: (server.address() as AddressInfo).port, received };
}

async function registered(backend: RegistryBackend, service: string, servers: readonly ServiceInstanceServer[]): Promise<void> {
  for (const { id, port } of servers) await backend.register(createInstance({ id, service, host: '127.0.0.1', port }, Date.now()), { ttlMs: 600_000 });
}

function traced(options: Parameters<typeof traceRollcall>[0]): RollcallTracing {
  const tracer = traceRollcall(options);
  cleanups.push(() => tracer.close());
  return tracer;
}

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

describe('with an OpenTelemetry SDK', () => {
  let restoreGlobals: () => void;
  beforeEach(() => {
    restoreGlobals = globalContextAndPropagation();
  });
  afterEach(() => restoreGlobals());

  it('shows one trace from the client through the gateway to the service, each try a span of its own', async () => {
    const { provider, exporter } = tracing();
    const tracer = provider.getTracer('test');
    traced({ tracerProvider: provider });
    const memory = new MemoryBackend();
    cleanups.push(() => memory.close());
    const failing = await instanceServer(tracer, 'orders-1', 503);
    const healthy = await instanceServer(tracer, 'orders-2', 200);
    await registered(memory, 'orders', [failing, healthy]);
    const gateway = Fastify();
    cleanups.push(() => gateway.close());
    await gateway.register(rollcallGateway, { backend: memory, resolver: { strategy: roundRobin({ random: () => 0 }) } });
    await gateway.listen({ port: 0, host: '127.0.0.1' });

    // The client's own span, sent along as traceparent.
    const client = tracer.startSpan('client GET /api/v1/orders/items', { kind: SpanKind.CLIENT });
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(ROOT_CONTEXT, client), headers);
    const response = await fetch(`http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}/api/v1/orders/items`, { headers });
    client.end();
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('200 from orders-2');

    const spans = exporter.getFinishedSpans();
    const { traceId, spanId: clientId } = client.spanContext();
    expect(spans.every((span) => span.spanContext().traceId === traceId)).toBe(true);
    const attempts = spans.filter((span) => span.instrumentationScope.name === 'rollcall');
    expect(attempts).toHaveLength(2);
    const [first, retry] = attempts as [ReadableSpan, ReadableSpan];
    expect(attempts.map((span) => [span.name, span.kind, parentOf(span)])).toEqual([
      ['GET', SpanKind.CLIENT, clientId],
      ['GET', SpanKind.CLIENT, clientId],
    ]);
    expect(first.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': failing.port,
      'url.full': `http://127.0.0.1:${failing.port}/items`,
      'http.response.status_code': 503,
      'error.type': '503',
      'rollcall.service': 'orders',
      'rollcall.answer_source': 'registry',
      'rollcall.instance.id': 'orders-1',
      'rollcall.http.client': 'gateway',
      'rollcall.outcome': 'failure',
    });
    expect(first.attributes['http.request.resend_count']).toBeUndefined();
    expect(first.status.code).toBe(SpanStatusCode.ERROR);
    expect(retry.attributes).toMatchObject({ 'server.port': healthy.port, 'http.response.status_code': 200, 'http.request.resend_count': 1, 'rollcall.outcome': 'ok' });
    expect(retry.status.code).toBe(SpanStatusCode.UNSET);

    // Each instance continued the context of the try that reached it.
    const handled = spans.filter((span) => span.kind === SpanKind.SERVER);
    expect(handled.map((span) => [span.name, parentOf(span)])).toEqual([
      ['orders-1 handles GET', first.spanContext().spanId],
      ['orders-2 handles GET', retry.spanContext().spanId],
    ]);
    expect(failing.received[0]?.['traceparent']).toBe(`00-${traceId}-${first.spanContext().spanId}-01`);
  });

  it("continues the caller's active span in a discovery fetch, and traces the registry call it needed", async () => {
    const redis: RedisServer = await startRedis();
    cleanups.push(() => redis.stop());
    const { provider, exporter } = tracing();
    const tracer = provider.getTracer('test');
    traced({ tracerProvider: provider });
    const backend = new RedisBackend({ url: redis.url });
    cleanups.push(() => backend.close());
    const orders = await instanceServer(tracer, 'orders-1', 200);
    await registered(backend, 'orders', [orders]);
    const resolver = createResolver({ backend, watch: false });
    cleanups.push(() => resolver.close());
    const fetch = createDiscoveryFetch(resolver);
    exporter.reset();

    const job = tracer.startSpan('nightly job');
    const status = await context.with(trace.setSpan(context.active(), job), async () => (await fetch('http://orders/items')).status);
    job.end();
    expect(status).toBe(200);

    const spans = exporter.getFinishedSpans().filter((span) => span.instrumentationScope.name === 'rollcall');
    const registryCall = spans.find((span) => span.name === 'registry instances');
    const attempt = spans.find((span) => span.name === 'GET');
    expect(parentOf(registryCall as ReadableSpan)).toBe(job.spanContext().spanId);
    expect(registryCall?.kind).toBe(SpanKind.CLIENT);
    expect(registryCall?.attributes).toMatchObject({
      'server.address': redis.host,
      'server.port': redis.port,
      'db.system.name': 'redis',
      'db.operation.name': 'instances',
      'rollcall.registry.backend': 'redis',
      'rollcall.service': 'orders',
    });
    expect(parentOf(attempt as ReadableSpan)).toBe(job.spanContext().spanId);
    expect(attempt?.attributes).toMatchObject({ 'rollcall.http.client': 'fetch', 'rollcall.answer_source': 'registry', 'server.port': orders.port });
    expect(orders.received[0]?.['traceparent']).toBe(`00-${job.spanContext().traceId}-${attempt?.spanContext().spanId}-01`);
  });

  it('propagates through the discovery dispatcher, keeping the request headers', async () => {
    const { provider, exporter } = tracing();
    const tracer = provider.getTracer('test');
    traced({ tracerProvider: provider });
    const memory = new MemoryBackend();
    cleanups.push(() => memory.close());
    const orders = await instanceServer(tracer, 'orders-1', 200);
    await registered(memory, 'orders', [orders]);
    const resolver = createResolver({ backend: memory });
    cleanups.push(() => resolver.close());
    const dispatcher = createDiscoveryDispatcher(resolver);
    cleanups.push(() => dispatcher.close());

    const job = tracer.startSpan('job');
    const answer = await context.with(trace.setSpan(context.active(), job), () =>
      request('http://orders/items', { dispatcher, headers: { 'x-request-id': 'r-1', traceparent: '00-11111111111111111111111111111111-2222222222222222-01' } }),
    );
    await answer.body.text();
    job.end();

    const attempt = exporter.getFinishedSpans().find((span) => span.name === 'GET');
    expect(attempt?.attributes['rollcall.http.client']).toBe('dispatcher');
    expect(parentOf(attempt as ReadableSpan)).toBe(job.spanContext().spanId);
    expect(orders.received[0]?.['x-request-id']).toBe('r-1');
    expect(orders.received[0]?.['traceparent']).toBe(`00-${job.spanContext().traceId}-${attempt?.spanContext().spanId}-01`);
  });

  it('with requireParentSpan, traces registry calls inside a trace only', async () => {
    const redis: RedisServer = await startRedis();
    cleanups.push(() => redis.stop());
    const { provider, exporter } = tracing();
    traced({ tracerProvider: provider, requireParentSpan: true });
    const backend = new RedisBackend({ url: redis.url });
    cleanups.push(() => backend.close());
    const instance = createInstance({ id: 'o1', service: 'orders', host: '127.0.0.1', port: 8001 }, Date.now());
    await backend.register(instance, { ttlMs: 30_000 });

    const job = provider.getTracer('test').startSpan('job');
    await context.with(trace.setSpan(context.active(), job), () => backend.instances('orders'));
    job.end();

    const registry = exporter.getFinishedSpans().filter((span) => span.instrumentationScope.name === 'rollcall');
    expect(registry.map((span) => [span.name, parentOf(span)])).toEqual([['registry instances', job.spanContext().spanId]]);
  });

  it('marks a registry call that failed, and stops tracing once closed', async () => {
    const { provider, exporter } = tracing();
    const rollcallTracing = traced({ tracerProvider: provider });
    const redis: RedisServer = await startRedis();
    cleanups.push(() => redis.stop());
    const owner = new RedisBackend({ url: redis.url });
    const intruder = new RedisBackend({ url: redis.url });
    cleanups.push(() => owner.close(), () => intruder.close());
    const instance = createInstance({ id: 'o1', service: 'orders', host: '127.0.0.1', port: 8001 }, Date.now());
    await owner.register(instance, { ttlMs: 30_000 });
    await expect(intruder.deregister(instance)).rejects.toMatchObject({ code: 'REGISTRY_AUTH' });

    const refused = exporter.getFinishedSpans().find((span) => span.name === 'registry deregister');
    expect(refused?.status.code).toBe(SpanStatusCode.ERROR);
    expect(refused?.attributes['error.type']).toBe('REGISTRY_AUTH');

    rollcallTracing.close();
    exporter.reset();
    await owner.renew(instance, 'passing');
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

describe('without an OpenTelemetry SDK', () => {
  it('creates no recording spans and sends no traceparent, and requests work as before', async () => {
    traced({});
    const memory = new MemoryBackend();
    cleanups.push(() => memory.close());
    const orders = await instanceServer(trace.getTracer('noop'), 'orders-1', 200);
    await registered(memory, 'orders', [orders]);
    const resolver = createResolver({ backend: memory });
    cleanups.push(() => resolver.close());

    expect((await createDiscoveryFetch(resolver)('http://orders/items')).status).toBe(200);
    expect(orders.received[0]?.['traceparent']).toBeUndefined();
  });
});
