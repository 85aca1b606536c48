import { Headers, Request, fetch, type Dispatcher, type RequestInit, type RequestRedirect, type Response } from 'undici';
import { InvalidArgumentError } from '../core/errors.js';
import { addedHeaders, attemptStarted } from '../observability/http-attempt.js';
import type { PickContext } from '../balancing/strategy.js';
import type { ResolvedPick, Resolver } from '../resolution/resolver.js';
import { httpPolicy, type DiscoveryHttpOptions, type HttpPolicy } from './options.js';
import { CallRetry, isReplayable, judgeAttempt, reportAttempt } from './retry.js';
import { instanceOriginFor } from './target.js';

/** Options of {@link createDiscoveryFetch}. */
export interface DiscoveryFetchOptions extends DiscoveryHttpOptions {
  /** The undici dispatcher that carries requests (connection pools, TLS, proxy). @default undici's global dispatcher */
  dispatcher?: Dispatcher | undefined;
  /**
   * Aborts a call to a service after this many milliseconds: every attempt and the reading of
   * the response body. The timed-out attempt counts as a failure of its instance and is not
   * retried. Combined with the request's own `signal`. @default none (undici's 300 s header and body timeouts apply)
   */
  timeoutMs?: number | undefined;
}

/** A Request of any fetch implementation: Node's global one, undici's, or another copy's. */
export interface RequestLike {
  readonly url: string;
  readonly method: string;
  readonly headers: Iterable<[string, string]>;
  readonly body: ReadableStream<Uint8Array> | null;
  readonly signal: AbortSignal;
  readonly redirect: RequestRedirect;
}

/** Init fields as undici's `fetch` or Node's global `fetch` type them. */
export type DiscoveryRequestInit = RequestInit | globalThis.RequestInit;

/** A `fetch` whose service URLs (`http://orders/api/v1/items`) go to a live instance of the service. */
export type DiscoveryFetch = (input: string | URL | RequestLike, init?: DiscoveryRequestInit) => Promise<Response>;

interface Prepared {
  readonly url: URL;
  /** The request as init fields, without its signal. */
  readonly init: RequestInit;
  readonly signal: AbortSignal | undefined;
  /** Idempotent, with no body or one that can be sent again. */
  readonly replayable: boolean;
}

/**
 * A fetch-compatible function backed by `resolver`. A URL without a port whose host is a
 * single-label service name (`http://orders/api/v1/items`, `http://auth_service/login`) or one
 * listed in `services` (`'Orders'`, `'orders.api'`: URL hosts are lower case, dotted hosts go to
 * DNS unless listed) is sent to an instance picked by the resolver's strategy; every other URL
 * passes through to undici's `fetch` untouched. Each attempt reports
 * its outcome to the strategy exactly once, when the response headers arrive (latency = time to
 * headers; `ok` unless a connection error, a timeout or `isFailure(status)`); a call the caller
 * aborts counts as a success so that cancellations never eject an instance.
 *
 * An idempotent request whose body can be sent again (none, a string, bytes, a Blob, form data)
 * is retried once on a different instance after a connection error or a 502/503/504, within the
 * retry budget; the failed answer's body is discarded. Streamed request bodies are never
 * retried; response bodies stream to the caller. Failures to resolve the service reject like
 * network errors do, `TypeError('fetch failed')`, with the rollcall error (`SERVICE_UNAVAILABLE`)
 * as `cause`.
 *
 * @example
 * const fetch = createDiscoveryFetch(resolver, { timeoutMs: 5_000 });
 * const items = await (await fetch('http://orders/api/v1/items')).json();
 */
export function createDiscoveryFetch(resolver: Resolver, options?: DiscoveryFetchOptions): DiscoveryFetch {
  if (typeof resolver?.pick !== 'function') throw new InvalidArgumentError('resolver', 'a Resolver from createResolver()', resolver);
  const policy = httpPolicy(options, 'createDiscoveryFetch options');
  const dispatcher = options?.dispatcher;
  if (dispatcher !== undefined && typeof dispatcher?.dispatch !== 'function') {
    throw new InvalidArgumentError('createDiscoveryFetch options.dispatcher', 'an undici Dispatcher', dispatcher);
  }
  const timeoutMs = options?.timeoutMs;
  if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs < 1)) {
    throw new InvalidArgumentError('createDiscoveryFetch options.timeoutMs', 'a positive integer number of milliseconds', timeoutMs);
  }

  return async function discoveryFetch(input: string | URL | RequestLike, init?: DiscoveryRequestInit): Promise<Response> {
    // Node's global types and undici's differ only in how strictly they type optional fields.
    const given = init as RequestInit | undefined;
    const prepared = prepare(input, given);
    const service = policy.serviceOf(prepared.url);
    if (service === undefined) {
      const passInit = dispatcher === undefined ? given : { ...given, dispatcher };
      if (typeof input === 'string' || input instanceof URL || input instanceof Request) return fetch(input, passInit);
      // A Request of another fetch implementation, which undici's fetch would not recognise.
      return fetch(prepared.url, withSignal({ ...prepared.init, ...(dispatcher === undefined ? {} : { dispatcher }) }, prepared.signal));
    }
    const timeout = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
    const signal = prepared.signal === undefined ? timeout : timeout === undefined ? prepared.signal : AbortSignal.any([prepared.signal, timeout]);
    const attemptInit = withSignal({ ...prepared.init, ...(dispatcher === undefined ? {} : { dispatcher }) }, signal);
    return callService(resolver, policy, service, prepared, attemptInit, signal);
  };
}

function withSignal(init: RequestInit, signal: AbortSignal | undefined): RequestInit {
  if (signal !== undefined) init.signal = signal;
  return init;
}

async function callService(resolver: Resolver, policy: HttpPolicy, service: string, prepared: Prepared, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
  const { url } = prepared;
  const key = policy.keyHeader === undefined ? undefined : (new Headers(init.headers).get(policy.keyHeader) ?? undefined);
  const retry = new CallRetry(resolver, policy, service, 'fetch', prepared.replayable);
  for (let resendCount = 0; ; resendCount++) {
    const picked = await pickOrFail(resolver, service, { key, exclude: retry.exclude });
    const target = instanceOriginFor(picked.instance, url.protocol) + url.pathname + url.search;
    const method = init.method ?? 'GET';
    const attempt = attemptStarted({ client: 'fetch', service, instance: picked.instance, method, url: target, source: picked.source, resendCount });
    const added = addedHeaders(attempt);
    const started = performance.now();
    let response: Response;
    try {
      response = await fetch(target, added === undefined ? init : withHeaders(init, added));
    } catch (error) {
      const verdict = judgeAttempt(policy, { error, aborted: signal?.aborted === true, abortReason: signal?.reason });
      reportAttempt(picked, attempt, verdict, performance.now() - started, undefined, error);
      if (retry.shouldRetry(picked, verdict)) continue;
      throw error;
    }
    const verdict = judgeAttempt(policy, { status: response.status });
    reportAttempt(picked, attempt, verdict, performance.now() - started, response.status);
    if (retry.shouldRetry(picked, verdict)) {
      // Cancelling frees the connection without reading a body nobody will look at.
      await response.body?.cancel().catch(() => undefined);
      continue;
    }
    return response;
  }
}

/** `init` with `added` headers set over its own (a tracer's `traceparent`). */
function withHeaders(init: RequestInit, added: Readonly<Record<string, string>>): RequestInit {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(added)) headers.set(name, value);
  return { ...init, headers };
}

async function pickOrFail(resolver: Resolver, service: string, context: PickContext): Promise<ResolvedPick> {
  try {
    return await resolver.pick(service, context);
  } catch (error) {
    // What fetch does with a host it cannot reach, so callers handle both alike.
    throw new TypeError('fetch failed', { cause: error });
  }
}

/** The request's method, headers, body and options as init fields, the init winning over a Request. */
function prepare(input: string | URL | RequestLike, init: RequestInit | undefined): Prepared {
  if (typeof input === 'string' || input instanceof URL) {
    const { signal, ...rest } = init ?? {};
    return { url: new URL(input), init: rest, signal: signal ?? undefined, replayable: isReplayable(rest.method ?? 'GET', rest.body) };
  }
  const fields: RequestInit = { method: input.method, headers: [...input.headers], redirect: input.redirect };
  if (input.body !== null) {
    fields.body = input.body;
    fields.duplex = 'half';
  }
  const { signal, ...rest } = { ...fields, ...init };
  // A Request's own body is a stream, read once: only a body given in `init` can be replayed.
  const replayable = isReplayable(rest.method ?? 'GET', rest.body) && (input.body === null || init?.body !== undefined);
  return { url: new URL(input.url), init: rest, signal: signal ?? input.signal, replayable };
}
