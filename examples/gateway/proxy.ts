/**
 * Forwards one HTTP request to one instance, streaming both ways. Only what a reverse proxy must
 * do: drop hop-by-hop headers, add X-Forwarded-*, and tell a connection failure (nothing was sent
 * upstream; safe to try another instance) apart from a failure after the upstream answered.
 */
import { request as httpRequest, type Agent, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import type { ServiceInstance } from '../../src/index.js';

// RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface ForwardTarget {
  readonly instance: ServiceInstance;
  /** Path and query to request on the instance, e.g. `/items?page=2`. */
  readonly path: string;
  /** The public prefix stripped from the path, for X-Forwarded-Prefix. */
  readonly prefix: string;
}

/** How a forward ended. `unreachable`: no byte reached the instance and nothing was answered yet. */
export type ForwardResult = { readonly kind: 'answered'; readonly status: number } | { readonly kind: 'unreachable'; readonly error: Error } | { readonly kind: 'failed'; readonly error: Error };

export interface ForwardOptions {
  readonly agent: Agent;
  /** Upstream answer (headers) deadline, in milliseconds. */
  readonly timeoutMs: number;
  /** Whether the request has a body to stream (then a connection failure cannot be retried). */
  readonly hasBody: boolean;
}

/** Forwards `request` to `target` and pipes the answer into `response`. Never rejects. */
export function forward(request: IncomingMessage, response: ServerResponse, target: ForwardTarget, options: ForwardOptions): Promise<ForwardResult> {
  const { instance } = target;
  return new Promise((resolve) => {
    const upstream = httpRequest({
      host: instance.host,
      port: instance.port,
      method: request.method ?? 'GET',
      path: target.path,
      headers: forwardedHeaders(request, target),
      agent: options.agent,
      timeout: options.timeoutMs,
    });
    let connected = false;
    upstream.once('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    upstream.once('timeout', () => upstream.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    upstream.once('error', (error) => {
      resolve(connected || options.hasBody ? { kind: 'failed', error } : { kind: 'unreachable', error });
    });
    upstream.once('response', (answer) => {
      response.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
      pipeline(answer, response, () => {});
      resolve({ kind: 'answered', status: answer.statusCode ?? 502 });
    });
    // A caller that hangs up mid-request must not leave the upstream request running.
    response.once('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    if (options.hasBody) pipeline(request, upstream, () => {});
    else upstream.end();
  });
}

function forwardedHeaders(request: IncomingMessage, target: ForwardTarget): OutgoingHttpHeaders {
  const headers = withoutHopByHop(request.headers);
  const client = request.socket.remoteAddress ?? 'unknown';
  const previous = request.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = previous === undefined ? client : `${String(previous)}, ${client}`;
  headers['x-forwarded-proto'] = 'http';
  if (request.headers.host !== undefined) headers['x-forwarded-host'] = request.headers.host;
  headers['x-forwarded-prefix'] = target.prefix;
  headers.host = `${target.instance.host.includes(':') ? `[${target.instance.host}]` : target.instance.host}:${target.instance.port}`;
  return headers;
}

function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name.length > 0),
  );
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) kept[name] = value;
  }
  return kept;
}
