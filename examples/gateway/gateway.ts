/**
 * The gateway itself: a Fastify app that registers in the registry as `gateway` (the rollcall
 * plugin: health route, drain on close) and routes `/api/v1/{service}/*` to live instances (the
 * rollcall gateway plugin). This is the whole of it; the rest of the example is demo scaffolding.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { rollcallGateway } from '../../src/gateway/index.js';
import type { RegistryBackend } from '../../src/index.js';
import { rollcall } from '../../src/integrations/fastify.js';

export async function createGateway(connect: () => RegistryBackend, drainWaitMs: number): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(rollcall, { backend: connect, service: 'gateway', drainWaitMs, healthRoute: '/gateway/health' });
  await app.register(rollcallGateway, {
    backend: app.rollcall.backend,
    resolver: app.rollcall.resolver,
    servicesRoute: '/gateway/services',
    // Everything in the registry but the gateway itself.
    services: (service) => service !== 'gateway',
  });
  return app;
}
