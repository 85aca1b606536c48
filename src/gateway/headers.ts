/**
 * Headers a reverse proxy changes: X-Forwarded-* added on the way in, hop-by-hop headers (RFC 9110
 * §7.6.1: meaningful for one connection only) dropped both ways. @fastify/reply-from already drops
 * `connection` and the headers it names from requests; the rest is done here.
 */
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/** What the gateway saw of the incoming request, for X-Forwarded-*. */
export interface ForwardedFrom {
  /** The client address (Fastify's `request.ip`, which honours `trustProxy`). */
  readonly ip: string;
  /** `http` or `https`, as Fastify's `request.protocol` says. */
  readonly protocol: string;
  /** The Host the client asked for (Fastify's `request.host`). */
  readonly host: string;
  /** The public path prefix taken off before forwarding, e.g. `/api/v1/orders`. */
  readonly prefix: string;
}

/**
 * Request headers for the instance: hop-by-hop ones dropped, `X-Forwarded-For` appended to,
 * `X-Forwarded-Proto`, `-Host` and `-Prefix` set to what this gateway saw.
 */
export function forwardedRequestHeaders(headers: IncomingHttpHeaders, from: ForwardedFrom): IncomingHttpHeaders {
  const result: IncomingHttpHeaders = withoutHopByHop(headers);
  const chain = headers['x-forwarded-for'];
  result['x-forwarded-for'] = chain === undefined || chain === '' ? from.ip : `${String(chain)}, ${from.ip}`;
  result['x-forwarded-proto'] = from.protocol;
  result['x-forwarded-host'] = from.host;
  result['x-forwarded-prefix'] = from.prefix;
  return result;
}

/** Response headers for the client: hop-by-hop ones dropped, and any the upstream's `Connection` names. */
export function forwardedResponseHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return withoutHopByHop(headers);
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  const drop = new Set([...HOP_BY_HOP, ...named]);
  const result: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!drop.has(name.toLowerCase()) && value !== undefined) result[name] = value;
  }
  return result;
}
