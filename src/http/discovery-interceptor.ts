import type { Duplex } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { InvalidArgumentError } from '../core/errors.js';
import type { HttpAttemptMessage } from '../observability/channels.js';
import { addedHeaders, attemptStarted } from '../observability/http-attempt.js';
import type { ResolvedPick, Resolver } from '../resolution/resolver.js';
import { headerValue, withHeaders } from './headers.js';
import { httpPolicy, type DiscoveryHttpOptions, type HttpPolicy } from './options.js';
import { CallRetry, isReplayable, judgeAttempt, reportAttempt, type AttemptEnding, type AttemptVerdict } from './retry.js';
import { SwitchingController } from './switching-controller.js';
import { instanceOriginFor } from './target.js';

type Headers = Record<string, string | string[] | undefined>;

/** Options of {@link createDiscoveryDispatcher}. */
export interface DiscoveryDispatcherOptions extends DiscoveryHttpOptions {
  /**
   * The dispatcher that carries requests to instances (pools, TLS, timeouts: undici's
   * `headersTimeout` and `bodyTimeout`). @default a new undici `Agent`; closing the returned
   * dispatcher closes it
   */
  dispatcher?: Dispatcher | undefined;
}

/**
 * An undici interceptor that sends requests for service URLs (`http://orders/...`) to an
 * instance picked by `resolver`, with the naming, outcome reporting and retry rules of
 * `createDiscoveryFetch`. Compose it onto any dispatcher:
 * `new Agent().compose(discoveryInterceptor(resolver))`. Other origins pass through.
 *
 * At this level `fetch` hands every request body over as a stream, so through `fetch` only
 * requests without a body are retried; `createDiscoveryFetch` also retries string, byte, Blob and
 * form bodies. Bodies given to `dispatcher.request()` as strings, bytes or Blobs are retried too.
 */
export function discoveryInterceptor(resolver: Resolver, options?: DiscoveryHttpOptions): Dispatcher.DispatcherComposeInterceptor {
  if (typeof resolver?.pick !== 'function') throw new InvalidArgumentError('resolver', 'a Resolver from createResolver()', resolver);
  const policy = httpPolicy(options, 'discoveryInterceptor options');
  return (dispatch) =>
    function discoveryDispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      const url = opts.origin === undefined ? undefined : new URL(opts.origin);
      const service = url === undefined ? undefined : policy.serviceOf(url);
      if (url === undefined || service === undefined) return dispatch(opts, handler);
      new ServiceCall(resolver, policy, dispatch, opts, handler, url, service).start();
      return true;
    };
}

/**
 * A dispatcher for `setGlobalDispatcher()` (from the `undici` package), after which every
 * `fetch` in the process, Node's global one included, resolves service URLs through `resolver`.
 *
 * @example
 * import { setGlobalDispatcher } from 'undici';
 * setGlobalDispatcher(createDiscoveryDispatcher(resolver));
 * await fetch('http://orders/api/v1/items');
 */
export function createDiscoveryDispatcher(resolver: Resolver, options?: DiscoveryDispatcherOptions): Dispatcher {
  const base = options?.dispatcher ?? new Agent();
  if (typeof base?.compose !== 'function') throw new InvalidArgumentError('createDiscoveryDispatcher options.dispatcher', 'an undici Dispatcher', base);
  return base.compose(discoveryInterceptor(resolver, options));
}

/**
 * One request to a service: picks an instance, dispatches to it as the handler of the attempt,
 * forwards the answer downstream, or swallows it and tries another instance once. Downstream
 * sees one request: one `onRequestStart` and one stable controller across attempts.
 */
class ServiceCall implements Dispatcher.DispatchHandler {
  readonly #resolver: Resolver;
  readonly #policy: HttpPolicy;
  readonly #dispatch: Dispatcher.Dispatch;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #downstream: Dispatcher.DispatchHandler;
  readonly #url: URL;
  readonly #service: string;
  readonly #key: string | undefined;
  readonly #retry: CallRetry;
  readonly #controller = new SwitchingController();
  #downstreamStarted = false;
  #picked: ResolvedPick | undefined;
  #started = 0;
  #reported = false;
  #discarding = false;
  #attempts = 0;
  #message: HttpAttemptMessage | undefined;

  constructor(
    resolver: Resolver,
    policy: HttpPolicy,
    dispatch: Dispatcher.Dispatch,
    opts: Dispatcher.DispatchOptions,
    downstream: Dispatcher.DispatchHandler,
    url: URL,
    service: string,
  ) {
    this.#resolver = resolver;
    this.#policy = policy;
    this.#dispatch = dispatch;
    this.#opts = opts;
    this.#downstream = downstream;
    this.#url = url;
    this.#service = service;
    this.#key = policy.keyHeader === undefined ? undefined : headerValue(opts.headers, policy.keyHeader);
    this.#retry = new CallRetry(resolver, policy, service, 'dispatcher', isReplayable(opts.method, opts.body));
  }

  start(): void {
    this.#attempt();
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#controller.target = controller;
    if (this.#downstreamStarted) return;
    this.#downstreamStarted = true;
    this.#downstream.onRequestStart?.(this.#controller, context);
  }

  onRequestUpgrade(_controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, socket: Duplex): void {
    // Switching protocols: the instance answered, and nothing is retried past it.
    this.#report({ outcome: 'ok', ok: true, retry: undefined }, statusCode);
    this.#downstream.onRequestUpgrade?.(this.#controller, statusCode, headers, socket);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, statusMessage?: string): void {
    if (statusCode >= 200 && this.#ended({ status: statusCode }, statusCode)) {
      this.#discarding = true;
      return;
    }
    this.#downstream.onResponseStart?.(this.#controller, statusCode, headers, statusMessage);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#discarding) this.#downstream.onResponseData?.(this.#controller, chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Headers): void {
    if (this.#discarding) this.#attempt();
    else this.#downstream.onResponseEnd?.(this.#controller, trailers);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    const aborted = this.#controller.aborted;
    const retry = this.#ended({ error, aborted, abortReason: this.#controller.reason }, undefined, error);
    // A discarded answer that breaks off while draining changes nothing: the retry was decided.
    if (!aborted && (this.#discarding || retry)) {
      this.#attempt();
      return;
    }
    this.#fail(error);
  }

  #attempt(): void {
    this.#resolver.pick(this.#service, { key: this.#key, exclude: this.#retry.exclude }).then(
      (picked) => {
        this.#picked = picked;
        this.#reported = false;
        this.#discarding = false;
        if (this.#controller.aborted) {
          picked.done({ ok: true, latencyMs: 0 });
          this.#fail(this.#controller.reason ?? new Error('aborted'));
          return;
        }
        const origin = instanceOriginFor(picked.instance, this.#url.protocol);
        this.#message = attemptStarted({
          client: 'dispatcher',
          service: this.#service,
          instance: picked.instance,
          method: this.#opts.method,
          url: origin + this.#opts.path,
          source: picked.source,
          resendCount: this.#attempts++,
        });
        const added = addedHeaders(this.#message);
        this.#started = performance.now();
        try {
          this.#dispatch({ ...this.#opts, origin, ...(added === undefined ? {} : { headers: withHeaders(this.#opts.headers, added) }) }, this);
        } catch (error) {
          this.onResponseError(undefined, error as Error);
        }
      },
      (error: unknown) => this.#fail(error as Error),
    );
  }

  /**
   * Judges and reports the attempt's ending, once (a discarded answer that then breaks off is not
   * judged again); whether the call goes on to another instance.
   */
  #ended(ending: AttemptEnding, statusCode?: number, error?: unknown): boolean {
    if (this.#reported || this.#picked === undefined) return false;
    const verdict = judgeAttempt(this.#policy, ending);
    this.#report(verdict, statusCode, error);
    return this.#retry.shouldRetry(this.#picked, verdict);
  }

  #report(verdict: AttemptVerdict, statusCode?: number, error?: unknown): void {
    if (this.#reported || this.#picked === undefined) return;
    this.#reported = true;
    reportAttempt(this.#picked, this.#message, verdict, performance.now() - this.#started, statusCode, error);
  }

  #fail(error: Error): void {
    this.#downstream.onResponseError?.(this.#controller, error);
  }
}
