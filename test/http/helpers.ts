import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryBackend, createInstance, createResolver, type Resolver, type ResolverOptions } from '../../src/index.js';
import type { PickedInstance, Strategy } from '../../src/balancing/index.js';
import type { ServiceInstance } from '../../src/index.js';

export interface TestServer {
  readonly id: string;
  readonly port: number;
  /** Requests received: `METHOD path body`. */
  readonly received: string[];
  close(): Promise<void>;
}

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

/** An HTTP server on 127.0.0.1 and a free port that records each request (after reading its body). */
export async function startServer(id: string, handler: Handler): Promise<TestServer> {
  const received: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      received.push(`${request.method} ${request.url} ${body}`.trimEnd());
      handler(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    id,
    port: (server.address() as AddressInfo).port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const healthy: Handler = (request, response, body) => {
  response.setHeader('content-type', 'text/plain');
  response.end(`ok ${request.method} ${request.url} ${body}`.trimEnd());
};

export const failing: Handler = (_request, response) => {
  response.statusCode = 503;
  response.end('unavailable');
};

export function slow(delayMs: number): Handler {
  return (request, response, body) => {
    const timer = setTimeout(() => healthy(request, response, body), delayMs);
    response.on('close', () => clearTimeout(timer));
  };
}

/** A port nothing listens on (bound, then released), for connection-refused attempts. */
export async function refusedPort(): Promise<number> {
  const server = await startServer('refused', healthy);
  await server.close();
  return server.port;
}

/** A pick of `instance` whose outcome is recorded as `<id> ok` or `<id> failed`. */
export function recorded(instance: ServiceInstance, outcomes: string[]): PickedInstance {
  return { instance, done: (outcome) => outcomes.push(`${instance.id} ${outcome.ok ? 'ok' : 'failed'}`) };
}

/** Picks instances in id order, skipping excluded ones; records every outcome. */
export function orderedStrategy(outcomes: string[] = []): Strategy {
  return {
    name: 'ordered',
    createPicker: (_service, instances) => {
      const order = [...instances].sort((a, b) => (a.id < b.id ? -1 : 1));
      return { pick: (context) => recorded(order.find((instance) => !context?.exclude?.has(instance.id)) ?? (order[0] as ServiceInstance), outcomes) };
    },
  };
}

export interface Fleet {
  readonly resolver: Resolver;
  readonly backend: MemoryBackend;
  close(): Promise<void>;
}

/** A resolver over `orders` instances on 127.0.0.1 at the given ports. */
export async function fleet(instances: readonly { id: string; port: number }[], options: Partial<ResolverOptions> = {}): Promise<Fleet> {
  const backend = new MemoryBackend();
  for (const { id, port } of instances) {
    await backend.register(createInstance({ id, service: 'orders', host: '127.0.0.1', port }, Date.now()), { ttlMs: 600_000 });
  }
  const resolver = createResolver({ backend, envFallback: false, ...options });
  return {
    resolver,
    backend,
    close: async () => {
      await resolver.close();
      await backend.close();
    },
  };
}

const cleanup: (() => Promise<void>)[] = [];

/** Closes everything the tracked helpers below opened; register with `afterEach(closeTracked)`. */
export async function closeTracked(): Promise<void> {
  await Promise.all(cleanup.splice(0).map((close) => close()));
}

/** Registers `close` to run in {@link closeTracked}. */
export function track(close: () => Promise<void>): void {
  cleanup.push(close);
}

/** {@link startServer}, closed by {@link closeTracked}. */
export async function server(id: string, handler: Handler): Promise<TestServer> {
  const started = await startServer(id, handler);
  track(() => started.close());
  return started;
}

/** A fleet of `orders` instances ({@link fleet}), closed by {@link closeTracked}. */
export async function orders(instances: { id: string; port: number }[], options: Partial<ResolverOptions> = {}): Promise<Fleet> {
  const created = await fleet(instances, options);
  track(() => created.close());
  return created;
}
