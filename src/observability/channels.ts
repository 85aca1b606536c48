/**
 * rollcall's events on `node:diagnostics_channel`: the one surface that the metrics exporters,
 * the tracer and any other tool read. Publishing costs nothing while a channel has no
 * subscriber (every publisher checks `hasSubscribers` before building a message), so the events
 * are always compiled in and never on the warm `resolve()` path.
 *
 * A leaf module (node built-ins and types only), so every room may publish here.
 */
import { channel, tracingChannel, type Channel, type TracingChannel } from 'node:diagnostics_channel';
import type { ServiceInstance } from '../core/instance.js';
import type { ResolveSource } from '../resolution/resolver.js';

/** Names of rollcall's diagnostics channels. Subscribe with `diagnostics_channel.subscribe(name, fn)`. */
export const CHANNELS = {
  /**
   * Tracing channel (`tracing:rollcall:registry:call:start`, `:end`, `:asyncStart`, `:asyncEnd`,
   * `:error`): one registry call that went to the network, with a {@link RegistryCallMessage}.
   */
  registryCall: 'rollcall:registry:call',
  /**
   * Tracing channel (`tracing:rollcall:http:attempt:*`): one try of a discovery-HTTP request on
   * one instance, with an {@link HttpAttemptMessage}; `start` subscribers may add request headers.
   */
  httpAttempt: 'rollcall:http:attempt',
  /** A request is sent again, to another instance: {@link HttpRetryMessage}. */
  httpRetry: 'rollcall:http:retry',
  /** A retry was wanted but the retry budget refused it: {@link HttpRetryMessage}. */
  retryBudgetRefused: 'rollcall:http:retry-budget-refused',
  /** Outlier ejection took an instance out, let it try again, or readmitted it: {@link EjectionMessage}. */
  ejection: 'rollcall:balancing:ejection',
} as const;

/** Where a registry call went. */
export interface RegistryTarget {
  /** `kind` of the backend: `redis`, `consul`, ... */
  readonly backend: string;
  /** Host name or address of the registry, when one is known (a Cluster's node is not). */
  readonly address: string | undefined;
  readonly port: number | undefined;
}

/** How a registry call or an HTTP attempt ended. */
export type RegistryCallOutcome = 'ok' | 'error';

/**
 * One registry call (the context object of the `rollcall:registry:call` tracing channel). Set by
 * rollcall before `asyncEnd`: `outcome`, `durationMs`, and `error` (also published on `error`).
 */
export interface RegistryCallMessage {
  readonly target: RegistryTarget;
  /** `register`, `renew`, `deregister`, `instances`, `services`, `watch`, or a registry's own step (`agent self`). */
  readonly operation: string;
  /** The service the call is about, when it is about one. */
  readonly service: string | undefined;
  /** HTTP registries: the method and path (never the query, which may carry names of others). */
  readonly request?: { readonly method: string; readonly path: string } | undefined;
  /** HTTP registries: the status the registry answered. */
  statusCode?: number | undefined;
  outcome?: RegistryCallOutcome | undefined;
  /** Wall time of the call in milliseconds. */
  durationMs?: number | undefined;
  error?: unknown;
  result?: unknown;
}

/**
 * How an HTTP attempt ended. `ok`: an answer the caller's `isFailure` accepts. `failure`: an
 * answer counted as failed (by default a 5xx). `error`: no answer (connection refused, reset).
 * `timeout`: no answer in time. `cancelled`: the caller gave up (not the instance's fault).
 */
export type HttpAttemptOutcome = 'ok' | 'failure' | 'error' | 'timeout' | 'cancelled';

/** Which part of rollcall sent an HTTP attempt. */
export type HttpClientKind = 'fetch' | 'dispatcher' | 'gateway';

/** A header a `start` subscriber adds to an HTTP attempt. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]{1,256}$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]{0,8192}$/;

/**
 * One try of a discovery-HTTP request on one instance (the context object of the
 * `rollcall:http:attempt` tracing channel). The attempt ends when the instance's answer headers
 * arrive, or it fails: rollcall sets `outcome`, `statusCode`, `durationMs` and `error` then.
 */
export class HttpAttemptMessage {
  readonly client: HttpClientKind;
  readonly service: string;
  readonly instance: ServiceInstance;
  /** Upper-case HTTP method. */
  readonly method: string;
  /** The URL sent to the instance. */
  readonly url: string;
  /** Which resolver tier supplied the instance. */
  readonly source: ResolveSource;
  /** 0 for the first try, 1 for the first retry... (`http.request.resend_count`). */
  readonly resendCount: number;
  /** Gateway only: the headers of the request it forwards, for tracers to read an incoming context from. */
  readonly incomingHeaders: Readonly<Record<string, string | string[] | undefined>> | undefined;
  statusCode: number | undefined;
  outcome: HttpAttemptOutcome | undefined;
  durationMs: number | undefined;
  error: unknown;
  // No prototype: a header named `__proto__` is a valid token, kept like any other.
  readonly #added: Record<string, string> = Object.create(null) as Record<string, string>;

  constructor(fields: {
    client: HttpClientKind;
    service: string;
    instance: ServiceInstance;
    method: string;
    url: string;
    source: ResolveSource;
    resendCount: number;
    incomingHeaders?: Readonly<Record<string, string | string[] | undefined>> | undefined;
  }) {
    this.client = fields.client;
    this.service = fields.service;
    this.instance = fields.instance;
    this.method = fields.method;
    this.url = fields.url;
    this.source = fields.source;
    this.resendCount = fields.resendCount;
    this.incomingHeaders = fields.incomingHeaders;
    this.statusCode = undefined;
    this.outcome = undefined;
    this.durationMs = undefined;
    this.error = undefined;
  }

  /**
   * Adds a request header to this attempt (for `start` subscribers: a tracer's `traceparent`).
   * It replaces a header of the same name. Names are lower-cased; an invalid name or a value
   * with control characters is ignored, so a subscriber cannot split the request.
   */
  setHeader(name: string, value: string): void {
    const lower = typeof name === 'string' ? name.toLowerCase() : '';
    if (!HEADER_NAME.test(lower) || typeof value !== 'string' || !HEADER_VALUE.test(value)) return;
    this.#added[lower] = value;
  }

  /** The headers subscribers added, lower-case names. */
  get addedHeaders(): Readonly<Record<string, string>> {
    return this.#added;
  }
}

/** A retry, or a retry the budget refused. */
export interface HttpRetryMessage {
  readonly client: HttpClientKind;
  readonly service: string;
  /** The instance whose answer or failure prompted it. */
  readonly instanceId: string;
  /** `status`: the instance answered one of the retried statuses; `connection`: it could not be reached. */
  readonly reason: 'status' | 'connection';
}

/** An outlier-ejection change (the same fields as the strategy's `onChange` event). */
export interface EjectionMessage {
  readonly service: string;
  readonly instanceId: string;
  readonly type: 'ejected' | 'half-open' | 'readmitted';
  readonly reason: string | undefined;
  readonly durationMs: number;
  readonly ejections: number;
}

export const registryCallChannel: TracingChannel<unknown, RegistryCallMessage & object> = tracingChannel(CHANNELS.registryCall);
export const httpAttemptChannel: TracingChannel<unknown, HttpAttemptMessage> = tracingChannel(CHANNELS.httpAttempt);
export const httpRetryChannel: Channel = channel(CHANNELS.httpRetry);
export const retryBudgetRefusedChannel: Channel = channel(CHANNELS.retryBudgetRefused);
export const ejectionChannel: Channel = channel(CHANNELS.ejection);
