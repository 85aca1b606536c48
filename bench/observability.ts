/**
 * What observability costs: the warm resolve() with every exporter attached against the same
 * resolve() with none, and what one Prometheus scrape of a large resolver costs.
 */
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Gauge, Registry } from 'prom-client';
import { MemoryBackend, createInstance, createResolver, type Resolver } from '../src/index.js';
import { observeRollcallMetrics, traceRollcall } from '../src/otel/index.js';
import { registerRollcallMetrics } from '../src/prometheus/index.js';
import type { Measured } from './figure.js';
import { compare, timeRuns } from './harness.js';

/** A pull reader that never exports: collections happen only when asked. */
class IdleReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

async function warmResolver(backend: MemoryBackend, services: readonly string[]): Promise<Resolver> {
  const resolver = createResolver({ backend, maxServices: Math.max(services.length, 10) });
  for (const service of services) await resolver.resolve(service);
  return resolver;
}

async function filled(services: readonly string[], perService: number): Promise<MemoryBackend> {
  const backend = new MemoryBackend();
  for (const service of services) {
    for (let n = 0; n < perService; n++) {
      await backend.register(createInstance({ id: `${service}-${n}`, service, host: `10.0.0.${n + 1}`, port: 8000 + n }, Date.now()), { ttlMs: 3_600_000 });
    }
  }
  return backend;
}

export async function resolveWithMetrics(): Promise<Measured> {
  const backend = await filled(['orders'], 5);
  const plain = await warmResolver(backend, ['orders']);
  const observed = await warmResolver(backend, ['orders']);
  const prometheus = registerRollcallMetrics(new Registry(), { resolver: observed, instanceLabels: true });
  const meterProvider = new MeterProvider({ readers: [new IdleReader()] });
  const otel = observeRollcallMetrics({ meterProvider, resolver: observed, instanceLabels: true });
  const tracing = traceRollcall({ tracerProvider: new BasicTracerProvider() });
  const result = await compare(() => plain.resolve('orders'), () => observed.resolve('orders'), { batch: 20_000, rounds: 40, warmupRounds: 10 });
  tracing.close();
  otel.close();
  prometheus.unregister();
  await meterProvider.shutdown();
  await Promise.all([plain.close(), observed.close(), backend.close()]);
  return {
    id: 'resolve-metrics-on',
    title: 'Cached resolve() with metrics and tracing on',
    subject: 'cached resolve() of a resolver observed by rollcall/prometheus and rollcall/otel (metrics and traces, instance labels on)',
    floor: 'cached resolve() of a resolver nobody observes',
    unit: 'ns/op',
    run: { subject: result.subject, floor: result.floor, ratio: result.ratio },
    target: { kind: 'max-ratio', value: 1.15 },
    note: 'Exporters read counters the resolver keeps anyway, at scrape time: the resolve path is the same code either way, so the ratio is run-to-run noise around 1',
  };
}

export async function scrapeCost(): Promise<Measured> {
  const services = Array.from({ length: 1_000 }, (_, n) => `svc-${n}`);
  const backend = await filled(services, 5);
  const resolver = await warmResolver(backend, services);
  const registry = new Registry();
  const prometheus = registerRollcallMetrics(registry, { resolver });
  const series = (await registry.metrics()).split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
  const subject = await timeRuns(() => registry.metrics(), 20);
  prometheus.unregister();
  // prom-client's own cost for as many series, set from a ready array at scrape time.
  const bare = new Registry();
  const values = Array.from({ length: series }, (_, n) => ({ labels: { service: `svc-${n % services.length}`, n: String(n) }, value: n }));
  new Gauge({
    name: 'bare',
    help: 'bare',
    labelNames: ['service', 'n'],
    registers: [bare],
    collect() {
      for (const { labels, value } of values) this.set(labels, value);
    },
  });
  const floor = await timeRuns(() => bare.metrics(), 20);
  await Promise.all([resolver.close(), backend.close()]);
  return {
    id: 'scrape-1000-services',
    title: 'One Prometheus scrape of 1,000 cached services',
    subject: 'registry.metrics() with rollcall/prometheus on a resolver caching 1,000 services of 5 instances',
    floor: `a prom-client registry producing as many series (${series}) from a ready array`,
    unit: 'ms',
    run: { subject, floor, ratio: subject.median / floor.median },
    target: { kind: 'info' },
  };
}
