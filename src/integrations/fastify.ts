/**
 * rollcall/fastify: one `register` call puts a Fastify app in the registry and takes it out
 * gracefully. Fastify's phases map onto the lifespan: `onListen` registers with the address the
 * server really bound, `preClose` drains (resolvers stop picking the instance, then the drain
 * wait), Fastify then closes the server and lets in-flight requests finish, and `onClose`
 * deregisters and closes what the plugin created.
 *
 * @module rollcall/fastify
 */
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import { fastifyPlugin } from 'fastify-plugin';
import { InvalidArgumentError } from '../core/errors.js';
import { boundAddress } from './address.js';
import { rejectNullOptions } from '../registration/options.js';
import { Lifespan, type RollcallHandle, type RollcallOptions } from './lifespan.js';
import { LIFESPAN_OPTION_NAMES } from './options.js';
import { DEFAULT_STATUS_PATH } from './status-route.js';
import { statusReader } from '../observability/status.js';
import { signalList } from './signals.js';

/** Options of the {@link rollcall} Fastify plugin. Every duration is in milliseconds. */
export interface RollcallFastifyOptions extends RollcallOptions {
  /**
   * Serve the registration's health on this path (`true`: `/health`): 200 with the report while
   * passing or warning, 503 when critical, before registering, and from the moment draining
   * starts. @default false (no route)
   */
  healthRoute?: boolean | string | undefined;
  /**
   * Serve the status view (`describeStatus`: the resolver's services with their answers, instances,
   * ejections and latency, the whole registry, the registration) as JSON on this path (`true`:
   * `/rollcall/status`). It lists instance addresses: expose it to operators only. Each request
   * reads the registry (concurrent requests share one read). @default false (no route)
   */
  statusRoute?: boolean | string | undefined;
  /**
   * Call `fastify.close()` (which drains and deregisters) on these signals; `true` means
   * `['SIGTERM', 'SIGINT']`. Never installed unless asked for. @default false
   */
  signals?: boolean | readonly NodeJS.Signals[] | undefined;
  /** Receives rollcall's transition log lines. @default the Fastify instance's logger (`fastify.log`) */
  logger?: RollcallOptions['logger'];
}

declare module 'fastify' {
  interface FastifyInstance {
    /** rollcall: the `resolver`, the `registration` (once listening), `health()` and `ready()`. */
    readonly rollcall: RollcallHandle;
  }
}

// avvio does not catch what a callback plugin throws synchronously: invalid options must reach done().
const plugin: FastifyPluginCallback<RollcallFastifyOptions> = (fastify, options, done) => {
  try {
    setUp(fastify, options);
  } catch (error) {
    done(error as Error);
    return;
  }
  done();
};

function setUp(fastify: FastifyInstance, options: RollcallFastifyOptions): void {
  // Before the defaults below: `logger: null` must not quietly become `fastify.log`.
  rejectNullOptions(options, [...LIFESPAN_OPTION_NAMES, 'healthRoute', 'statusRoute']);
  const { healthRoute = false, statusRoute = false, signals, ...rest } = options;
  const path = routePath(healthRoute, '/health', 'healthRoute');
  const statusPath = routePath(statusRoute, DEFAULT_STATUS_PATH, 'statusRoute');
  const signalsToHandle = signalList(signals);
  const life = new Lifespan({ ...rest, logger: rest.logger ?? fastify.log });
  fastify.decorate('rollcall', life as RollcallHandle);

  if (path !== undefined) {
    // Probes hit this every few seconds: keep them out of info-level request logs.
    fastify.get(path, { logLevel: 'warn' }, (_request, reply) => {
      const { statusCode, body } = life.health();
      return reply.code(statusCode).header('cache-control', 'no-store').send(body);
    });
  }
  if (statusPath !== undefined) {
    const read = statusReader({ resolver: life.resolver, backend: life.backend, registration: () => life.registration });
    fastify.get(statusPath, { logLevel: 'warn' }, async (_request, reply) => {
      reply.header('cache-control', 'no-store');
      return read();
    });
  }
  // Start errors are logged by the lifespan and surface through ready().
  fastify.addHook('onListen', async () => {
    await life.start(boundAddress(fastify.server)).catch(() => {});
  });
  // Runs before Fastify closes the server, so requests in flight keep being served meanwhile.
  fastify.addHook('preClose', () => life.drain());
  // Runs after the server closed, that is once in-flight requests are done.
  fastify.addHook('onClose', () => life.stop());
  if (signalsToHandle.length > 0) life.handleSignals(signalsToHandle, () => fastify.close());
}

function routePath(value: boolean | string, byDefault: string, field: string): string | undefined {
  if (value === false) return undefined;
  if (value === true) return byDefault;
  if (typeof value !== 'string' || !value.startsWith('/')) throw new InvalidArgumentError(field, "a boolean or a path starting with '/'", value);
  return value;
}

/**
 * The Fastify plugin (wrapped with fastify-plugin, so `fastify.rollcall` is visible app-wide).
 *
 * @example
 * await app.register(rollcall, { backend, service: 'orders', healthRoute: true });
 * await app.listen({ port: 0 }); // registered with the bound port; app.close() drains and leaves
 */
export const rollcall = fastifyPlugin(plugin, { name: 'rollcall', fastify: '5.x' });
export default rollcall;

export type { HealthAnswer, HealthBody } from './handle.js';
export type { LifespanState, RollcallHandle, RollcallOptions, ResolverSettings } from './lifespan.js';
