/**
 * The gateway: `/api/v1/{service}/*` goes to a live instance of `{service}` found through the
 * resolver (round robin, drained and critical instances skipped, stale cache and env fallback
 * when the registry fails), plus `/gateway/services` and `/gateway/health`. Answers 503 with a
 * body saying what was tried when no instance can be found.
 */
import { Agent, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { SERVICE_NAME_PATTERN, ServiceUnavailableError, instanceOrigin, type RegistryBackend, type Resolver, type ServiceInstance } from '../../src/index.js';
import type { RollcallHandle } from '../../src/integrations/lifespan.js';
import { forward } from './proxy.js';

export interface GatewayOptions {
  /** Where services are looked up. */
  readonly resolver: Resolver;
  /** The registry, for the `/gateway/services` listing. */
  readonly backend: RegistryBackend;
  /** The gateway's own lifespan, for `/gateway/health`. */
  readonly lifespan: Pick<RollcallHandle, 'health' | 'service'>;
  /** Upstream answer deadline. @default 30000 */
  readonly upstreamTimeoutMs?: number | undefined;
  /** Instances tried for a request without a body when an instance cannot be reached. @default 3 */
  readonly attempts?: number | undefined;
}

export interface Gateway {
  readonly handle: RequestListener;
  /** Closes the upstream connection pool. */
  close(): void;
}

const API = /^\/api\/v1\/([^/?#]+)(\/[^?#]*)?(\?.*)?$/;

export function createGateway(options: GatewayOptions): Gateway {
  const agent = new Agent({ keepAlive: true });
  const timeoutMs = options.upstreamTimeoutMs ?? 30_000;
  const attempts = options.attempts ?? 3;

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = request.url ?? '/';
    const path = url.split('?')[0];
    if (path === '/gateway/services' && request.method === 'GET') {
      await services(response);
      return;
    }
    if (path === '/gateway/health' && request.method === 'GET') {
      health(response);
      return;
    }
    const match = API.exec(url);
    if (match === null) {
      json(response, 404, { error: 'not_found', message: `No route for ${request.method} ${path}. Routes: /api/v1/{service}/*, /gateway/services, /gateway/health` });
      return;
    }
    const service = match[1] ?? '';
    if (!SERVICE_NAME_PATTERN.test(service)) {
      json(response, 400, { error: 'invalid_service_name', service, message: 'A service name is 1-63 lowercase letters, digits and inner hyphens.' });
      return;
    }
    if (service === options.lifespan.service) {
      json(response, 400, { error: 'loop', service, message: 'The gateway does not route to itself.' });
      return;
    }
    await proxy(request, response, service, `${match[2] ?? '/'}${match[3] ?? ''}`, `/api/v1/${service}`);
  }

  async function proxy(request: IncomingMessage, response: ServerResponse, service: string, path: string, prefix: string): Promise<void> {
    // A streamed body cannot be replayed: only body-less requests move on to another instance.
    const hasBody = request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
    const unreachable: string[] = [];
    const tried = new Set<string>();
    while (tried.size < (hasBody ? 1 : attempts)) {
      let instance: ServiceInstance | undefined;
      try {
        instance = await pick(service, tried);
      } catch (error) {
        if (!(error instanceof ServiceUnavailableError)) throw error;
        response.setHeader('retry-after', '1');
        const body = { error: 'service_unavailable', service, message: `No live instance of "${service}" could be found.`, tried: error.attempts };
        json(response, 503, unreachable.length > 0 ? { ...body, unreachable } : body);
        return;
      }
      if (instance === undefined) break;
      tried.add(instance.id);
      if (instance.protocol !== 'http') {
        json(response, 502, { error: 'unsupported_protocol', service, message: `${instance.id} speaks ${instance.protocol}; this gateway forwards http only.` });
        return;
      }
      const result = await forward(request, response, { instance, path, prefix }, { agent, timeoutMs, hasBody });
      if (result.kind === 'answered') return;
      if (result.kind === 'unreachable') {
        unreachable.push(`${instance.id} at ${instanceOrigin(instance)}: ${result.error.message}`);
        continue;
      }
      if (response.headersSent) {
        response.destroy();
        return;
      }
      const timedOut = (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
      json(response, timedOut ? 504 : 502, { error: timedOut ? 'upstream_timeout' : 'bad_gateway', service, instance: instance.id, message: result.error.message });
      return;
    }
    json(response, 502, { error: 'bad_gateway', service, message: `No instance of "${service}" could be reached.`, unreachable });
  }

  // The strategy's pick, unless this request already failed to reach it: then any other eligible instance.
  async function pick(service: string, tried: ReadonlySet<string>): Promise<ServiceInstance | undefined> {
    const picked = await options.resolver.resolve(service);
    if (!tried.has(picked.id)) return picked;
    return (await options.resolver.resolveAll(service)).find((instance) => !tried.has(instance.id));
  }

  async function services(response: ServerResponse): Promise<void> {
    try {
      const names = await options.backend.services();
      const listed = await Promise.all(
        names.map(async (name) => ({ name, instances: (await options.backend.instances(name)).map(describe), resolver: resolverView(name) })),
      );
      return json(response, 200, { registry: { kind: options.backend.kind, reachable: true }, services: listed });
    } catch (error) {
      // The registry is down: show what the resolver still knows (and still routes to).
      const known = options.resolver.statuses().map((status) => ({ name: status.service, instances: status.instances.map(describe), resolver: resolverView(status.service) }));
      return json(response, 200, { registry: { kind: options.backend.kind, reachable: false, error: (error as Error).message }, services: known });
    }
  }

  function health(response: ServerResponse): void {
    const { statusCode, body } = options.lifespan.health();
    const stats = options.resolver.stats();
    json(response, statusCode, { ...body, resolver: { health: options.resolver.health, breaker: stats.breaker } });
  }

  // What this gateway would route to right now (null until the service was first requested).
  function resolverView(service: string): { source: string; fresh: boolean; watching: boolean; eligible: string[] } | null {
    const status = options.resolver.status(service);
    if (status === undefined) return null;
    return { source: status.source, fresh: status.fresh, watching: status.watching, eligible: status.instances.map((instance) => instance.id) };
  }

  return {
    handle: (request, response) => {
      route(request, response).catch((error: unknown) => {
        if (response.headersSent) response.destroy();
        else json(response, 500, { error: 'internal', message: (error as Error).message });
      });
    },
    close: () => agent.destroy(),
  };
}

function describe(instance: ServiceInstance): Record<string, unknown> {
  return { id: instance.id, url: instanceOrigin(instance), status: instance.status, ...(instance.zone === undefined ? {} : { zone: instance.zone }), ...(instance.version === undefined ? {} : { version: instance.version }) };
}

function json(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(text);
}
