/**
 * The one retry policy of discovery HTTP, shared by `createDiscoveryFetch` and the discovery
 * interceptor: which requests may be sent again, what an attempt's ending means for the
 * instance, and whether the call goes on to another instance. Each client only adapts its own
 * request and response shapes to these rules.
 *
 * A call is retried at most once, on another instance, and only when the request is idempotent
 * with a body that can be sent again, the attempt failed to connect or answered one of the retry
 * statuses, the service has another instance, and the service's retry budget allows it.
 */
import type { HttpAttemptMessage, HttpAttemptOutcome, HttpClientKind } from '../observability/channels.js';
import { attemptEnded, retryDecided } from '../observability/http-attempt.js';
import type { ResolvedPick, Resolver } from '../resolution/resolver.js';
import type { HttpPolicy } from './options.js';
import type { RetryBudget } from './retry-budget.js';

/** Why an attempt may be tried again: its answer was a retry status, or the instance could not be reached. */
export type RetryReason = 'status' | 'connection';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Whether `method` may be sent twice (RFC 9110 §9.2.2). */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method.toUpperCase());
}

/**
 * Whether a request body can be sent again: none, a string, bytes, or a Blob, File, FormData or
 * URLSearchParams (which fetch and undici read afresh for every send). A stream or an iterable is
 * read once.
 */
export function isReplayableBody(body: unknown): boolean {
  if (body === undefined || body === null || typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return true;
  const tag = Object.prototype.toString.call(body);
  return tag === '[object Blob]' || tag === '[object File]' || tag === '[object URLSearchParams]' || tag === '[object FormData]';
}

/** Whether a request may be sent again: an idempotent method and a body that can be sent again. */
export function isReplayable(method: string, body: unknown): boolean {
  return isIdempotent(method) && isReplayableBody(body);
}

const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether `error` (or one of its causes: fetch wraps network errors in `TypeError('fetch failed')`)
 * is a failure to reach or talk to the instance, as opposed to an abort or a timeout of the caller's.
 */
export function isConnectionError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Whether an abort reason or error says the call ran out of time (and so counts against the instance). */
export function isTimeout(reason: unknown): boolean {
  const name = (reason as { name?: unknown } | null)?.name;
  const code = (reason as { code?: unknown } | null)?.code;
  return name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

/** How an attempt ended: the instance answered (response headers), or the attempt failed. */
export type AttemptEnding =
  | { readonly status: number }
  | {
      readonly error: unknown;
      /** Whether the caller aborted the call (its signal), rather than the attempt failing by itself. */
      readonly aborted: boolean;
      /** The caller's abort reason, when `aborted`. */
      readonly abortReason?: unknown;
    };

/** What an attempt's ending means. */
export interface AttemptVerdict {
  /** For the diagnostics channels. */
  readonly outcome: HttpAttemptOutcome;
  /** For the strategy: a caller's cancellation is not the instance's fault; a caller's deadline is. */
  readonly ok: boolean;
  /** Why the call may go on to another instance, if it may. */
  readonly retry: RetryReason | undefined;
}

/** Judges one attempt's ending under `policy`. */
export function judgeAttempt(policy: HttpPolicy, ending: AttemptEnding): AttemptVerdict {
  if ('status' in ending) {
    const ok = !policy.isFailure(ending.status);
    return { outcome: ok ? 'ok' : 'failure', ok, retry: policy.retryStatuses?.has(ending.status) === true ? 'status' : undefined };
  }
  const timedOut = ending.aborted ? isTimeout(ending.abortReason) : isTimeout(ending.error);
  const outcome: HttpAttemptOutcome = timedOut ? 'timeout' : ending.aborted ? 'cancelled' : 'error';
  return { outcome, ok: outcome === 'cancelled', retry: !ending.aborted && isConnectionError(ending.error) ? 'connection' : undefined };
}

/** Reports an attempt's verdict: to the strategy through the pick, and on the diagnostics channel. */
export function reportAttempt(picked: ResolvedPick, message: HttpAttemptMessage | undefined, verdict: AttemptVerdict, latencyMs: number, statusCode?: number, error?: unknown): void {
  picked.done({ ok: verdict.ok, latencyMs });
  attemptEnded(message, verdict.outcome, latencyMs, statusCode, error);
}

/** The retry state of one call to a service: counted against the service's budget from the start. */
export class CallRetry {
  readonly #resolver: Resolver;
  readonly #service: string;
  readonly #client: HttpClientKind;
  readonly #budget: RetryBudget;
  readonly #allowed: boolean;
  #failed: ReadonlySet<string> | undefined;

  /** `replayable`: the request may be sent again (see {@link isReplayable}). */
  constructor(resolver: Resolver, policy: HttpPolicy, service: string, client: HttpClientKind, replayable: boolean) {
    this.#resolver = resolver;
    this.#service = service;
    this.#client = client;
    this.#allowed = policy.retryStatuses !== undefined && replayable;
    this.#budget = policy.budgetFor(service);
    this.#budget.recordRequest();
  }

  /** The instances the next pick avoids: the one that failed, once the call went on. */
  get exclude(): ReadonlySet<string> | undefined {
    return this.#failed;
  }

  /**
   * Whether the call goes on to another instance after the attempt on `picked` ended as `verdict`
   * says. A yes is final: the next pick excludes `picked`'s instance, and no other retry follows.
   * The budget's decision is published on the retry channel.
   */
  shouldRetry(picked: ResolvedPick, verdict: AttemptVerdict): boolean {
    if (verdict.retry === undefined || !this.#allowed || this.#failed !== undefined) return false;
    const id = picked.instance.id;
    const others = this.#resolver.status(this.#service)?.instances.some((instance) => instance.id !== id) ?? false;
    if (!others) return false;
    const allowed = this.#budget.tryRetry();
    retryDecided(!allowed, this.#client, this.#service, id, verdict.retry);
    if (allowed) this.#failed = new Set([id]);
    return allowed;
  }
}
