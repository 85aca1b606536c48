/**
 * The gateway itself: a Fastify app that registers in the registry as `gateway` (the rollcall
 * plugin: health route, drain on close), routes `/api/v1/{service}/*` to live instances (the
 * rollcall gateway plugin), and exposes Prometheus metrics on `/metrics` (rollcall/prometheus).
 * This is the whole of it; the rest of the example is demo scaffolding.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { rollcallGateway } from '../../src/gateway/index.js';
import type { RegistryBackend } from '../../src/index.js';
import { rollcall } from '../../src/integrations/fastify.js';
import { registerRollcallMetrics } from '../../src/prometheus/index.js';

export async function createGateway(connect: () => RegistryBackend, drainWaitMs: number): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(rollcall, { backend: connect, service: 'gateway', drainWaitMs, healthRoute: '/gateway/health', statusRoute: '/gateway/status' });
  await app.register(rollcallGateway, {
    backend: app.rollcall.backend,
    resolver: app.rollcall.resolver,
    servicesRoute: '/gateway/services',
    // Everything in the registry but the gateway itself.
    services: (service) => service !== 'gateway',
  });

  // Read at every scrape: the resolver's answers, the registration, the backend; requests,
  // retries and ejections as they happen.
  const metrics = new Registry();
  const collectors = registerRollcallMetrics(metrics, { lifespan: app.rollcall });
  app.addHook('onClose', (_instance, done) => {
    collectors.unregister();
    done();
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  return app;
}
