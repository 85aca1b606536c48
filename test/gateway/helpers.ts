/**
 * Wiring for gateway tests: echoing upstream servers, a gateway app on a free port, a raw HTTP
 * client that sends paths exactly as written, and cleanup after each test.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { rollcallGateway, type RollcallGatewayOptions } from '../../src/gateway/index.js';
import { createInstance, type InstanceInput, type RegistryBackend } from '../../src/index.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Runs `cleanup` after the current test, in reverse order of registration. */
export function onCleanup(cleanup: () => Promise<unknown>): void {
  cleanups.push(cleanup);
}

/** What an echoing upstream answers: who served, and what reached it. */
export interface Echo {
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export type UpstreamHandler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

export interface Upstream {
  readonly id: string;
  readonly port: number;
  /** `METHOD url` of every request received. */
  readonly received: string[];
  close(): Promise<void>;
}

/** Answers 200 with an {@link Echo}, plus `connection: x-upstream-private` and that header to be stripped. */
export function echo(id: string): UpstreamHandler {
  return (req, res, body) => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('connection', 'keep-alive, x-upstream-private');
    res.setHeader('x-upstream-private', 'hop-by-hop');
    res.setHeader('x-served-by', id);
    res.end(JSON.stringify({ id, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body } satisfies Echo));
  };
}

/** Answers `status` with a text body and a header of its own. */
export function answering(status: number, id: string): UpstreamHandler {
  return (_req, res) => {
    res.statusCode = status;
    res.setHeader('x-failed-by', id);
    res.end(`${status} from ${id}`);
  };
}

/** An HTTP server on 127.0.0.1 and a free port; closed after the test. */
export async function startUpstream(id: string, handler: UpstreamHandler = echo(id)): Promise<Upstream> {
  const received: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push(`${req.method} ${req.url}`);
      handler(req, res, Buffer.concat(chunks).toString());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  onCleanup(close);
  return { id, port: (server.address() as AddressInfo).port, received, close };
}

/** A port nothing listens on (bound, then released): connections to it are refused. */
export async function refusedPort(): Promise<number> {
  const upstream = await startUpstream('refused');
  await upstream.close();
  return upstream.port;
}

/** Registers an instance of `service` at 127.0.0.1:`port`. */
export async function register(backend: RegistryBackend, service: string, id: string, port: number, extra: Partial<InstanceInput> = {}): Promise<void> {
  await backend.register(createInstance({ id, service, host: '127.0.0.1', port, ...extra }, Date.now()), { ttlMs: 60_000 });
}

export interface Gateway {
  readonly app: FastifyInstance;
  readonly base: string;
}

/** A Fastify app with the gateway plugin, listening on a free port; closed after the test. */
export async function startGateway(options: RollcallGatewayOptions & { prefix?: string }, fastify: FastifyServerOptions = {}): Promise<Gateway> {
  const app = Fastify(fastify);
  await app.register(rollcallGateway, options);
  await app.listen({ port: 0, host: '127.0.0.1' });
  onCleanup(() => app.close());
  return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The body parsed, when it is JSON; else `{}`. */
  readonly json: Record<string, unknown>;
}

export interface CallOptions {
  readonly method?: string;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  /** Send the body chunked (no content-length). */
  readonly chunked?: boolean;
}

/** One HTTP request on a fresh connection, the path sent exactly as written. */
export function call(url: string, options: CallOptions = {}): Promise<Reply> {
  const target = new URL(url);
  const path = url.slice(target.origin.length);
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers };
    if (options.body !== undefined) {
      if (options.chunked === true) headers['transfer-encoding'] = 'chunked';
      else headers['content-length'] = String(Buffer.byteLength(options.body));
    }
    const req = request({ host: target.hostname, port: target.port, path, method: options.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const json = (res.headers['content-type'] ?? '').startsWith('application/json') && body !== '' ? (JSON.parse(body) as Record<string, unknown>) : {};
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The echo an upstream answered with. */
export function echoed(reply: Reply): Echo {
  return reply.json as unknown as Echo;
}
