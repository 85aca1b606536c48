/**
 * The dashboard's web server, on `node:http`: one page (HTML, a stylesheet, a script; no build
 * step, nothing fetched from elsewhere, so it works offline), the current view as JSON, and
 * server-sent events that push the view whenever the registry changes. Read-only: it answers
 * GET and HEAD only. Bound to loopback by default, and then it also refuses requests naming
 * another host (DNS rebinding: a web page elsewhere cannot read the registry through it).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LiveRegistry } from './live-registry.js';
import { PAGE_HTML, PAGE_SCRIPT, PAGE_STYLE } from './page.js';

export interface DashboardServerOptions {
  readonly live: LiveRegistry;
  /** Address to listen on. @default '127.0.0.1' */
  readonly host?: string | undefined;
  /** Port to listen on; 0 for any free one. */
  readonly port: number;
  /** Interval of the comment line that keeps idle event streams open through proxies. @default 15000 */
  readonly keepAliveMs?: number | undefined;
}

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
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return send(response, 405, 'text/plain; charset=utf-8', 'the dashboard is read-only\n');
    }
    const path = new URL(request.url ?? '/', 'http://dashboard').pathname;
    if (path === '/events') return openStream(request, response);
    if (path === '/api/view') return send(response, 200, 'application/json; charset=utf-8', JSON.stringify(live.view()));
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

  function pushView(response: ServerResponse): void {
    response.write(`event: view\ndata: ${JSON.stringify(live.view())}\n\n`);
  }

  const stopUpdates = live.onUpdate(() => {
    for (const response of streams) pushView(response);
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

function send(response: ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  response.end(headOnly ? undefined : body);
}
