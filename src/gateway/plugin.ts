/**
 * The gateway plugin: `<apiPrefix>/<service>/*` forwarded to a live instance of `<service>`
 * (picked by rollcall's resolver, sent by @fastify/reply-from), and a services route listing
 * what the registry holds and what the gateway routes to. Encapsulated: its routes, body
 * parsing and reply-from stay inside it, whatever else the app registers.
 */
import { fastifyReplyFrom } from '@fastify/reply-from';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { fastifyPlugin } from 'fastify-plugin';
import { buffer } from 'node:stream/consumers';
import { Agent } from 'undici';
import type { RegistryBackend } from '../backends/backend.js';
import { assertServiceName } from '../core/instance.js';
import { createResolver } from '../resolution/resolver.js';
import { createForwarder } from './forward.js';
import { servicesLister } from './listing.js';
import { gatewaySettings, isResolver, type RetrySettings, type RollcallGatewayOptions } from './options.js';
import { pathProblem, segmentCount, upstreamTarget } from './path.js';

const plugin: FastifyPluginAsync<RollcallGatewayOptions> = async (fastify, options) => {
  const settings = gatewaySettings(options);
  const given = settings.resolver;
  const resolver = isResolver(given) ? given : createResolver({ logger: fastify.log, ...given, backend: settings.backend as RegistryBackend });
  const dispatcher = settings.dispatcher ?? new Agent();
  fastify.addHook('onClose', async () => {
    if (!isResolver(given)) await resolver.close();
    if (settings.dispatcher === undefined) await dispatcher.destroy();
  });
  // The dispatcher is handed over as an instance, so reply-from neither builds an agent of its
  // own (which would skip TLS certificate checks) nor closes ours.
  await fastify.register(fastifyReplyFrom, { undici: dispatcher, disableRequestLogging: true, destroyAgent: false });

  // Bodies are forwarded as bytes, whatever their type: never parsed, held only to be retried.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (request, payload, done) => {
    if (!holdsBody(request, settings.retry)) {
      done(null, payload);
      return;
    }
    buffer(payload).then(
      (body) => done(null, body),
      (error: unknown) => done(error as Error, undefined),
    );
  });

  const forward = createForwarder(settings, resolver);
  const skipped = segmentCount(fastify.prefix + settings.apiPrefix) + 1;
  const route = (request: FastifyRequest<{ Params: { service: string } }>, reply: FastifyReply): void => {
    const { service } = request.params;
    try {
      assertServiceName(service, 'service');
    } catch (error) {
      sendJson(reply, 400, { error: 'invalid_service_name', service, message: (error as Error).message });
      return;
    }
    if (!settings.allows(service)) {
      sendJson(reply, 404, { error: 'unknown_service', service, message: `This gateway does not route to "${service}".` });
      return;
    }
    const { path, query } = upstreamTarget(request.raw.url ?? '/', skipped);
    const problem = pathProblem(path);
    if (problem !== undefined) {
      sendJson(reply, 400, { error: 'invalid_path', service, message: `Cannot forward ${path}: ${problem}.` });
      return;
    }
    forward(request, reply, { service, path, query, prefix: `${fastify.prefix}${settings.apiPrefix}/${service}` }).catch((error: unknown) => {
      if (reply.raw.headersSent) reply.raw.destroy();
      else reply.send(error);
    });
  };
  fastify.all(`${settings.apiPrefix}/:service`, route);
  fastify.all(`${settings.apiPrefix}/:service/*`, route);

  if (settings.servicesRoute !== undefined) {
    const list = servicesLister(settings.backend, resolver, settings.describe);
    fastify.get(settings.servicesRoute, async (_request, reply) => {
      reply.header('cache-control', 'no-store');
      return list();
    });
  }
};

/** Whether to hold the body in memory (so a retry can send it again) rather than stream it through. */
function holdsBody(request: FastifyRequest, retry: RetrySettings | undefined): boolean {
  if (retry === undefined || !retry.methods.has(request.method) || request.headers['transfer-encoding'] !== undefined) return false;
  const length = Number(request.headers['content-length']);
  return Number.isInteger(length) && length <= retry.maxBodyBytes;
}

function sendJson(reply: FastifyReply, status: number, body: Record<string, unknown>): void {
  reply.code(status).header('cache-control', 'no-store').send(body);
}

/**
 * The gateway as a Fastify plugin. Encapsulated (its routes, body handling and reply-from stay
 * inside it); Fastify's own `prefix` register option prefixes both of its routes.
 *
 * - `<apiPrefix>/<service>/<path>` (every method) goes to `/<path>` on a live instance of
 *   `<service>` picked by the resolver's strategy, with X-Forwarded-For/-Proto/-Host/-Prefix.
 *   Answers 503 `{ error: 'service_unavailable', tried }` when no instance can be found (`tried`:
 *   each resolver tier and why it gave nothing), 400 for a name that is not a service name or a
 *   path that cannot be forwarded, 404 for a service outside `services`, 502 when no instance can
 *   be reached and 504 when one does not answer within `timeoutMs`.
 * - Idempotent requests (by default GET, HEAD, OPTIONS, PUT, DELETE) with no body or a small one
 *   are tried again on another instance after a connection error or a 502/503/504, within
 *   `retry.attempts` and the retry budget. POST and PATCH only if added to `retry.methods`.
 * - Every call's outcome reaches the strategy (`resolver.pick()` then `done()`), so outlier
 *   ejection and latency-aware strategies see what the gateway sees.
 * - `servicesRoute` (GET): per-service health from `describeRegistry`, and the resolver's view.
 *
 * @example
 * const app = Fastify();
 * await app.register(rollcallGateway, { backend: new RedisBackend({ url: process.env.REDIS_URL }) });
 * await app.listen({ port: 8080 });
 */
export const rollcallGateway: FastifyPluginAsync<RollcallGatewayOptions> = fastifyPlugin(plugin, { name: 'rollcall-gateway', fastify: '5.x', encapsulate: true });
