/**
 * rollcall/express: Express (4 and 5) has no lifecycle of its own beyond the `http.Server` that
 * `app.listen()` returns, so this attaches the lifespan to that server and adds a health route
 * as plain middleware. Nothing here loads Express: the same code serves both majors.
 *
 * @module rollcall/express
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { InvalidArgumentError } from '../core/errors.js';
import { assertServer } from './address.js';
import type { DescribeRegistryOptions } from '../inspection/describe.js';
import { statusReader } from '../observability/status.js';
import { lifespan, type Lifespan, type LifespanOptions, type RollcallHandle } from './lifespan.js';
import { DEFAULT_STATUS_PATH, sendStatus } from './status-route.js';

/**
 * Registers the service once `server` listens (on the port it really bound) and returns its
 * {@link Lifespan}. Shut down with `await rollcall.shutdown()`: drain → wait → close the server
 * and let in-flight requests finish → deregister → close what rollcall created.
 *
 * @example
 * const rollcall = attach(app.listen(0), { backend, service: 'orders' });
 */
export function attach(server: Server, options: LifespanOptions): Lifespan {
  // Checked before the lifespan exists, so that a backend factory is never called for nothing.
  assertServer(server);
  return lifespan(options).attach(server);
}

/** Options of {@link healthRouter}. */
export interface HealthRouterOptions {
  /** Path answered (`GET` and `HEAD`, any query string). @default '/health' */
  path?: string | undefined;
}

/** Connect-style middleware, as Express 4 and 5 both take it. */
export type Middleware = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * Middleware answering the health route from the registration's last local checks: 200 while
 * passing or warning, 503 when critical, before registering, and from the moment draining
 * starts. Other requests pass through. Mount it before your 404 handler.
 *
 * @example
 * app.use(healthRouter(rollcall));
 */
export function healthRouter(handle: Pick<RollcallHandle, 'health'>, options: HealthRouterOptions = {}): Middleware {
  if (typeof handle?.health !== 'function') throw new InvalidArgumentError('handle', 'a rollcall lifespan (from attach() or lifespan())', handle);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'health route options { path? }', options);
  const path = options.path === undefined ? '/health' : options.path;
  if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidArgumentError('path', "a path starting with '/'", path);
  return (request, response, next) => {
    const method = request.method ?? 'GET';
    if ((method !== 'GET' && method !== 'HEAD') || pathOf(request.url) !== path) {
      next();
      return;
    }
    const { statusCode, body } = handle.health();
    const json = JSON.stringify(body);
    response.writeHead(statusCode, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
      'cache-control': 'no-store',
    });
    response.end(method === 'HEAD' ? undefined : json);
  };
}

/** Options of {@link statusRouter}. */
export interface StatusRouterOptions {
  /** Path answered (`GET` and `HEAD`, any query string). @default '/rollcall/status' */
  path?: string | undefined;
  /** How the registry is read. @default describeRegistry's defaults */
  describe?: DescribeRegistryOptions | undefined;
}

/**
 * Middleware answering the status view (`describeStatus`) as JSON: the resolver's services with
 * their answers, instances, ejections and latency, the whole registry, and the registration. It
 * lists instance addresses: mount it where only operators reach it. Other requests pass through.
 *
 * @example
 * app.use(statusRouter(rollcall));
 */
export function statusRouter(handle: Pick<RollcallHandle, 'resolver' | 'backend' | 'registration'>, options: StatusRouterOptions = {}): Middleware {
  if (typeof handle?.resolver?.statuses !== 'function') throw new InvalidArgumentError('handle', 'a rollcall lifespan (from attach() or lifespan())', handle);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'status route options { path?, describe? }', options);
  const path = options.path === undefined ? DEFAULT_STATUS_PATH : options.path;
  if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidArgumentError('path', "a path starting with '/'", path);
  const read = statusReader({ resolver: handle.resolver, backend: handle.backend, registration: () => handle.registration, describe: options.describe });
  return (request, response, next) => {
    const method = request.method ?? 'GET';
    if ((method !== 'GET' && method !== 'HEAD') || pathOf(request.url) !== path) {
      next();
      return;
    }
    sendStatus(read, response, method === 'HEAD').catch(next);
  };
}

function pathOf(url: string | undefined): string {
  const end = url?.indexOf('?') ?? -1;
  return end === -1 ? (url ?? '/') : (url ?? '/').slice(0, end);
}

export { lifespan, type Lifespan, type LifespanOptions } from './lifespan.js';
export type { HealthAnswer, HealthBody } from './handle.js';
