/**
 * One gateway request: an instance picked by the resolver's strategy, the request forwarded to it
 * by @fastify/reply-from, the outcome reported to the strategy, and another instance tried when
 * that is safe (an idempotent method, a body that can be sent again, an error that says the
 * instance did not handle it).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { ServiceUnavailableError, messageOf } from '../core/errors.js';
import { instanceOrigin, type ServiceInstance } from '../core/instance.js';
import { isConnectionError } from '../http/retry.js';
import type { RetryBudget } from '../http/retry-budget.js';
import { addedHeaders, attemptEnded, attemptStarted, retryDecided } from '../observability/http-attempt.js';
import type { ResolvedPick, Resolver } from '../resolution/resolver.js';
import { forwardedRequestHeaders, forwardedResponseHeaders, type ForwardedFrom } from './headers.js';
import type { GatewaySettings } from './options.js';

/** A request for a service, split as the instance will see it. */
export interface ServiceRequest {
  readonly service: string;
  /** Path on the instance, starting with `/`. */
  readonly path: string;
  /** Query string without its `?`. */
  readonly query: string;
  /** The public prefix taken off the path, for `X-Forwarded-Prefix`. */
  readonly prefix: string;
}

/** One try that did not answer the client, as the error bodies list them. */
export interface UpstreamFailure {
  readonly instance: string;
  readonly url: string;
  /** The status the instance answered (one of `retry.statuses`), when it answered. */
  readonly status?: number;
  /** What went wrong, when it did not answer. */
  readonly error?: string;
}

type Attempt =
  | { readonly kind: 'answered'; readonly status: number; readonly stream: Readable; readonly copied: readonly string[] }
  | { readonly kind: 'failed'; readonly error: unknown; readonly copied: readonly string[] }
  /** The client went away: nobody to answer. */
  | { readonly kind: 'gone' }
  /** @fastify/reply-from refused the request before sending it. */
  | { readonly kind: 'refused'; readonly error: unknown };

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'FST_REPLY_FROM_TIMEOUT']);

/** Forwards gateway requests; the returned function answers the client whatever happens, or rejects for the route's error handler. */
export function createForwarder(settings: GatewaySettings, resolver: Resolver): (request: FastifyRequest, reply: FastifyReply, target: ServiceRequest) => Promise<void> {
  const { retry, keyHeader, isFailure } = settings;

  return async function forward(request, reply, target) {
    const { service } = target;
    // A streamed body is read once; a held one (see the gateway's body parser) can be sent again.
    const replayable = retry !== undefined && retry.methods.has(request.method) && !(request.body instanceof Readable);
    const key = keyHeader === undefined ? undefined : firstValue(request.headers[keyHeader]);
    const from: ForwardedFrom = { ip: request.ip, protocol: request.protocol, host: request.host, prefix: target.prefix };
    const tried = new Set<string>();
    let tries = 0;
    const failures: UpstreamFailure[] = [];
    let budget: RetryBudget | undefined;
    const mayRetry = (failedId: string, reason: 'status' | 'connection'): boolean => {
      // Counted per try, not per instance: a strategy may offer a tried instance again.
      if (retry === undefined || budget === undefined || tries >= retry.attempts) return false;
      if (!(resolver.status(service)?.instances.some((instance) => !tried.has(instance.id)) ?? false)) return false;
      const allowed = budget.tryRetry();
      retryDecided(!allowed, 'gateway', service, failedId, reason);
      return allowed;
    };

    for (;;) {
      let picked: ResolvedPick;
      try {
        picked = await resolver.pick(service, { key, exclude: tried.size === 0 ? undefined : tried });
      } catch (error) {
        if (!(error instanceof ServiceUnavailableError)) throw error;
        reply.header('retry-after', '1');
        sendError(reply, 503, { error: 'service_unavailable', service, message: `No live instance of "${service}" could be found.`, tried: error.attempts, ...upstreams(failures) });
        return;
      }
      if (budget === undefined && retry !== undefined) {
        budget = retry.budgetFor(service);
        budget.recordRequest();
      }
      const { instance } = picked;
      if (instance.protocol !== 'http' && instance.protocol !== 'https') {
        // Not the instance's failure: this gateway speaks HTTP/1.1 only.
        picked.done({ ok: true, latencyMs: 0 });
        sendError(reply, 502, { error: 'unsupported_protocol', service, message: `Instance ${instance.id} speaks ${instance.protocol}; the gateway forwards http and https.`, ...upstreams(failures) });
        return;
      }
      const message = attemptStarted({
        client: 'gateway',
        service,
        instance,
        method: request.method,
        url: instanceOrigin(instance) + target.path + (target.query === '' ? '' : `?${target.query}`),
        source: picked.source,
        resendCount: tries,
        incomingHeaders: request.headers,
      });
      tried.add(instance.id);
      tries++;
      const started = performance.now();
      const attempt = await send(request, reply, instance, target, from, settings.timeoutMs, addedHeaders(message));
      const latencyMs = performance.now() - started;
      if (attempt.kind === 'gone' || attempt.kind === 'refused') {
        // A client that leaves (or a request never sent) says nothing about the instance.
        picked.done({ ok: true, latencyMs });
        attemptEnded(message, attempt.kind === 'gone' ? 'cancelled' : 'error', latencyMs, undefined, attempt.kind === 'refused' ? attempt.error : undefined);
        if (attempt.kind === 'refused') throw attempt.error;
        return;
      }
      const url = instanceOrigin(instance);
      if (attempt.kind === 'answered') {
        const ok = !isFailure(attempt.status);
        picked.done({ ok, latencyMs });
        attemptEnded(message, ok ? 'ok' : 'failure', latencyMs, attempt.status);
        if (replayable && retry?.statuses.has(attempt.status) === true && mayRetry(instance.id, 'status')) {
          discard(attempt.stream);
          for (const name of attempt.copied) reply.removeHeader(name);
          failures.push({ instance: instance.id, url, status: attempt.status });
          continue;
        }
        reply.send(attempt.stream);
        return;
      }
      picked.done({ ok: false, latencyMs });
      const timedOut = TIMEOUT_CODES.has(codeOf(attempt.error));
      attemptEnded(message, timedOut ? 'timeout' : 'error', latencyMs, undefined, attempt.error);
      for (const name of attempt.copied) reply.removeHeader(name);
      failures.push({ instance: instance.id, url, error: messageOf(attempt.error) });
      if (replayable && isConnectionError(attempt.error) && mayRetry(instance.id, 'connection')) continue;
      sendError(reply, timedOut ? 504 : 502, {
        error: timedOut ? 'upstream_timeout' : 'bad_gateway',
        service,
        message: timedOut ? `No answer from "${service}" within ${settings.timeoutMs} ms.` : `No instance of "${service}" could be reached.`,
        ...upstreams(failures),
      });
      return;
    }
  };
}

/** One try on `instance` through `reply.from()`; settles when the instance answers (headers), fails, or the client leaves. */
function send(
  request: FastifyRequest,
  reply: FastifyReply,
  instance: ServiceInstance,
  target: ServiceRequest,
  from: ForwardedFrom,
  timeoutMs: number,
  added: Readonly<Record<string, string>> | undefined,
): Promise<Attempt> {
  return new Promise((resolve) => {
    const copied: string[] = [];
    let settled = false;
    const settle = (attempt: Attempt): boolean => {
      if (settled) return false;
      settled = true;
      reply.raw.off('close', onClose);
      resolve(attempt);
      return true;
    };
    const onClose = (): void => void settle({ kind: 'gone' });
    if (reply.raw.destroyed || request.raw.socket?.destroyed === true) {
      settle({ kind: 'gone' });
      return;
    }
    reply.raw.once('close', onClose);
    const body: unknown = request.body;
    try {
      reply.from(instanceOrigin(instance) + target.path, {
        queryString: () => target.query,
        timeout: timeoutMs,
        // Retries are ours, to another instance: never reply-from's, to the same URL.
        retryDelay: () => null,
        rewriteRequestHeaders: (_request, headers) => ({ ...forwardedRequestHeaders(headers, from), ...added }),
        rewriteHeaders: (headers) => {
          const kept = forwardedResponseHeaders(headers);
          copied.push(...Object.keys(kept));
          return kept;
        },
        onResponse: (_request, _reply, response) => {
          // Also reached after onError when the status code was invalid: then the body is dropped.
          if (!settle({ kind: 'answered', status: response.statusCode, stream: response.stream, copied })) discard(response.stream);
        },
        onError: (_reply, { error }) => void settle({ kind: 'failed', error: (error as { cause?: unknown }).cause ?? error, copied }),
        // A held body goes as it came, bytes and content type (reply-from would re-encode JSON).
        ...(Buffer.isBuffer(body) ? { body, contentType: request.headers['content-type'] ?? 'application/octet-stream' } : {}),
      });
    } catch (error) {
      settle({ kind: 'refused', error });
    }
  });
}

/** Drops an answer nobody will read; its connection closes (undici aborts the request). */
function discard(stream: Readable): void {
  stream.on('error', () => undefined);
  stream.destroy();
}

function sendError(reply: FastifyReply, status: number, body: Record<string, unknown>): void {
  reply.code(status).header('cache-control', 'no-store').send(body);
}

function upstreams(failures: readonly UpstreamFailure[]): { upstreams?: readonly UpstreamFailure[] } {
  return failures.length === 0 ? {} : { upstreams: failures };
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
