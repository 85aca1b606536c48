/**
 * The dashboard's web server, on `node:http`: one page (HTML, a stylesheet, a script; no build
 * step, nothing fetched from elsewhere, so it works offline), the current view as JSON, and
 * server-sent events that push the view whenever the registry changes. Read-only unless given a
 * `deregister` function: then `POST /api/deregister` too, from the page only (a custom header and
 * a JSON body, which a page elsewhere cannot send without a preflight this server never grants).
 * Bound to loopback by default, and then it also refuses requests naming another host (DNS
 * rebinding: a web page elsewhere cannot reach the registry through it).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { messageOf } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';
import { EXIT, exitCodeOf } from '../cli/exit-codes.js';
import type { DashboardView, LiveRegistry } from './live-registry.js';
import { PAGE_HTML, PAGE_SCRIPT, PAGE_STYLE } from './page.js';

export interface DashboardServerOptions {
  readonly live: LiveRegistry;
  /** Address to listen on. @default '127.0.0.1' */
  readonly host?: string | undefined;
  /** Port to listen on; 0 for any free one. */
  readonly port: number;
  /** Interval of the comment line that keeps idle event streams open through proxies. @default 15000 */
  readonly keepAliveMs?: number | undefined;
  /**
   * Removes one instance and returns what it was; rejects as `rollcall deregister` fails. When
   * absent (the default) the dashboard is read-only.
   */
  readonly deregister?: ((service: unknown, id: unknown) => Promise<ServiceInstance>) | undefined;
}

/** What the page receives: the registry, and whether it may offer to deregister. */
export interface PageView extends DashboardView {
  readonly canDeregister: boolean;
}

/** The header a deregistration request must carry: only a script of the page itself sends it. */
export const ACTION_HEADER = 'x-rollcall-action';
const MAX_ACTION_BODY_BYTES = 4_096;

export interface DashboardServer {
  /** `http://host:port/`. */
  readonly url: string;
  /** Ends every event stream and stops listening. Idempotent. */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

const ASSETS: Readonly<Record<string, { readonly type: string; readonly body: string }>> = {
  '/': { type: 'text/html; charset=utf-8', body: PAGE_HTML },
  '/dashboard.js': { type: 'text/javascript; charset=utf-8', body: PAGE_SCRIPT },
  '/dashboard.css': { type: 'text/css; charset=utf-8', body: PAGE_STYLE },
};

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const { live } = options;
  const host = options.host ?? '127.0.0.1';
  const streams = new Set<ServerResponse>();
  let allowedHosts: ReadonlySet<string> | undefined;

  const server: Server = createServer((request, response) => {
    if (allowedHosts !== undefined && !allowedHosts.has((request.headers.host ?? '').toLowerCase())) {
      return send(response, 403, 'text/plain; charset=utf-8', 'this dashboard answers requests for this machine only\n');
    }
    const path = new URL(request.url ?? '/', 'http://dashboard').pathname;
    if (path === '/api/deregister' && options.deregister !== undefined) return void deregister(request, response, options.deregister);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return send(response, 405, 'text/plain; charset=utf-8', 'the dashboard is read-only (rollcall dashboard --allow-deregister offers deregistration)\n');
    }
    if (path === '/events') return openStream(request, response);
    if (path === '/api/view') return send(response, 200, 'application/json; charset=utf-8', JSON.stringify(pageView()));
    const asset = ASSETS[path];
    if (asset === undefined) return send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
    return send(response, 200, asset.type, asset.body, request.method === 'HEAD');
  });

  function openStream(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    // EventSource reconnects on its own; one second keeps a restarted dashboard's page current.
    response.write('retry: 1000\n\n');
    streams.add(response);
    pushView(response);
    request.once('close', () => streams.delete(response));
  }

  function pageView(): PageView {
    return { ...live.view(), canDeregister: options.deregister !== undefined };
  }

  function viewEvent(): string {
    return `event: view\ndata: ${JSON.stringify(pageView())}\n\n`;
  }

  function pushView(response: ServerResponse): void {
    response.write(viewEvent());
  }

  const stopUpdates = live.onUpdate(() => {
    if (streams.size === 0) return;
    const event = viewEvent();
    for (const response of streams) response.write(event);
  });
  const keepAlive = setInterval(() => {
    for (const response of streams) response.write(': keep-alive\n\n');
  }, options.keepAliveMs ?? 15_000);
  keepAlive.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  if (LOOPBACK.has(host)) allowedHosts = new Set(['127.0.0.1', 'localhost', '[::1]'].map((name) => `${name}:${port}`));
  const shownHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}/`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        stopUpdates();
        clearInterval(keepAlive);
        for (const response of streams) response.end();
        streams.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** `POST /api/deregister` with `{ service, id }`: 200 with the instance removed, else the reason. */
async function deregister(request: IncomingMessage, response: ServerResponse, remove: (service: unknown, id: unknown) => Promise<ServiceInstance>): Promise<void> {
  const json = (status: number, body: unknown): void => send(response, status, 'application/json; charset=utf-8', JSON.stringify(body));
  if (request.method !== 'POST') {
    response.setHeader('allow', 'POST');
    return json(405, { error: 'POST { "service", "id" } to deregister' });
  }
  const origin = request.headers.origin;
  const sameOrigin = origin === undefined || origin === `http://${request.headers.host ?? ''}`;
  if (request.headers[ACTION_HEADER] !== 'deregister' || !sameOrigin || !(request.headers['content-type'] ?? '').startsWith('application/json')) {
    return json(403, { error: 'only the dashboard page may deregister' });
  }
  let body: unknown;
  try {
    body = JSON.parse(await readBody(request));
  } catch (error) {
    body = messageOf(error);
  }
  if (typeof body !== 'object' || body === null) {
    return json(400, { error: `expected a JSON object { "service", "id" } of at most ${MAX_ACTION_BODY_BYTES} bytes` });
  }
  try {
    const { service, id } = body as { service?: unknown; id?: unknown };
    const instance = await remove(service, id);
    return json(200, { deregistered: { service: instance.service, id: instance.id }, instance });
  } catch (error) {
    return json(HTTP_STATUS[exitCodeOf(error)] ?? 500, { error: messageOf(error) });
  }
}

/** The HTTP status of a deregistration that failed with each exit code of the command line. */
const HTTP_STATUS: Readonly<Partial<Record<number, number>>> = {
  [EXIT.usage]: 400,
  [EXIT.notFound]: 404,
  [EXIT.refused]: 409,
  [EXIT.unreachable]: 503,
};

/** The request's body, read to its end (so an answer can follow); rejects when too large. */
function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_ACTION_BODY_BYTES) chunks.push(chunk);
    });
    request.once('end', () => (size > MAX_ACTION_BODY_BYTES ? reject(new Error('too large')) : resolve(Buffer.concat(chunks).toString('utf8'))));
    request.once('error', reject);
  });
}

function send(response: ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  response.end(headOnly ? undefined : body);
}
