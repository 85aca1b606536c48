/**
 * Options of the gateway plugin, checked and given their defaults in one place, so a mistake
 * fails at `app.register()`, never on the first request.
 */
import type { Dispatcher } from 'undici';
import type { RegistryBackend } from '../backends/backend.js';
import { InvalidArgumentError } from '../core/errors.js';
import { assertServiceName } from '../core/instance.js';
import { durationOption, integerOption, objectOption } from '../core/options.js';
import { RetryBudget, type RetryBudgetOptions } from '../http/retry-budget.js';
import { describeSettings, type DescribeRegistryOptions } from '../inspection/describe.js';
import type { ResolverSettings } from '../integrations/options.js';
import type { Resolver } from '../resolution/resolver.js';

/** When a request is sent again, to another instance. */
export interface GatewayRetryOptions {
  /**
   * Tries per request, the first included, 2 to 10. Each retry asks the strategy for an instance
   * not tried yet; a strategy that offers only a tried one (all others ejected) gets it again. @default 2
   */
  attempts?: number | undefined;
  /**
   * Methods that may be sent twice. POST and PATCH are not idempotent: add them only for
   * upstreams that deduplicate (an idempotency key). @default ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']
   */
  methods?: readonly string[] | undefined;
  /** Upstream answers that are retried (the answer is discarded). @default [502, 503, 504] */
  statuses?: readonly number[] | undefined;
  /**
   * A request body is held in memory, so it can be sent again, when the method may be retried and
   * its `content-length` is at most this many bytes. Larger and chunked bodies stream through
   * and are not retried. @default 1048576 (1 MiB, Fastify's `bodyLimit`)
   */
  maxBodyBytes?: number | undefined;
  /** Caps retries per service (see `RetryBudget` in `rollcall/http`). @default { ratio: 0.2, minPerSecond: 10, windowMs: 10000 } */
  budget?: RetryBudgetOptions | undefined;
}

/** Options of the `rollcallGateway` Fastify plugin. Every duration is in milliseconds. */
export interface RollcallGatewayOptions {
  /**
   * The registry: where the gateway's resolver looks services up, and what the services route
   * lists (through `describeRegistry`). Yours: the gateway never closes it. Required unless
   * `resolver` is a `Resolver`.
   */
  backend?: RegistryBackend | undefined;
  /**
   * A `Resolver` (yours, never closed), or settings for one the gateway creates on `backend` and
   * closes with the app. Given a `Resolver` without `backend`, the services route shows only the
   * resolver's view (`registry: null`). @default {} (rollcall's defaults, logging to `app.log`)
   */
  resolver?: Resolver | ResolverSettings | undefined;
  /**
   * Requests to `<apiPrefix>/<service>/<path>` go to `/<path>` on an instance of `<service>`.
   * Not to be confused with Fastify's own `prefix` register option, which prefixes both routes.
   * @default '/api/v1'
   */
  apiPrefix?: string | undefined;
  /** Path of the route listing services, their health and the resolver's view; `false` for none. @default '/services' */
  servicesRoute?: string | false | undefined;
  /**
   * Services reachable through the gateway (names, or a predicate); any other answers 404, as if
   * it did not exist. @default every service in the registry
   */
  services?: readonly string[] | ((service: string) => boolean) | undefined;
  /**
   * Deadline for an instance's answer to start (response headers), and for each gap between two
   * chunks of its body. A miss answers 504 and counts as a failure of the instance; it is not
   * retried (the instance may be working on it). @default 30000
   */
  timeoutMs?: number | undefined;
  /** Retries on another instance; `false` turns them off. @default {} (see {@link GatewayRetryOptions}) */
  retry?: false | GatewayRetryOptions | undefined;
  /** Request header carrying the affinity key for consistent hashing and keyed splits, e.g. `'x-user-id'`. @default none */
  keyHeader?: string | undefined;
  /**
   * Whether an upstream answer counts as a failed call for the strategy (outlier ejection, latency
   * aware strategies). Connection errors and timeouts always count. @default status >= 500
   */
  isFailure?: ((status: number) => boolean) | undefined;
  /**
   * The undici dispatcher carrying requests to instances (yours, never closed). @default an undici
   * `Agent` with keep-alive and TLS certificate checks, closed with the app
   */
  dispatcher?: Dispatcher | undefined;
  /** How the services route reads the registry. @default describeRegistry's defaults */
  describe?: DescribeRegistryOptions | undefined;
}

/** {@link RollcallGatewayOptions} checked, with defaults applied. */
export interface GatewaySettings {
  readonly backend: RegistryBackend | undefined;
  readonly resolver: Resolver | ResolverSettings;
  readonly apiPrefix: string;
  readonly servicesRoute: string | undefined;
  readonly allows: (service: string) => boolean;
  readonly timeoutMs: number;
  readonly retry: RetrySettings | undefined;
  readonly keyHeader: string | undefined;
  readonly isFailure: (status: number) => boolean;
  readonly dispatcher: Dispatcher | undefined;
  readonly describe: DescribeRegistryOptions;
}

export interface RetrySettings {
  readonly attempts: number;
  readonly methods: ReadonlySet<string>;
  readonly statuses: ReadonlySet<number>;
  readonly maxBodyBytes: number;
  /** One budget per service, created on first use. */
  budgetFor(service: string): RetryBudget;
}

export const DEFAULT_RETRY_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'];
const DEFAULT_RETRY_STATUSES: readonly number[] = [502, 503, 504];
const METHOD = /^[A-Z]{1,20}$/;
// Static path segments only: parameters and wildcards would change what `:service` means.
const PATH = /^(\/[A-Za-z0-9._~!$&'()+,;=@-]+)+$/;

export function isResolver(value: unknown): value is Resolver {
  return typeof value === 'object' && value !== null && typeof (value as Resolver).pick === 'function' && typeof (value as Resolver).statuses === 'function';
}

export function gatewaySettings(options: RollcallGatewayOptions): GatewaySettings {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'a rollcallGateway options object', options);
  const { backend, resolver = {} } = options;
  if (backend !== undefined && (typeof backend?.instances !== 'function' || typeof backend.services !== 'function')) {
    throw new InvalidArgumentError('backend', 'a RegistryBackend', backend);
  }
  if (!isResolver(resolver)) {
    if (typeof resolver !== 'object' || resolver === null) throw new InvalidArgumentError('resolver', 'a Resolver or resolver settings', resolver);
    if (backend === undefined) throw new InvalidArgumentError('backend', 'a RegistryBackend (required unless `resolver` is a Resolver)', backend);
  }
  const apiPrefix = options.apiPrefix ?? '/api/v1';
  if (typeof apiPrefix !== 'string' || !PATH.test(apiPrefix)) {
    throw new InvalidArgumentError('apiPrefix', "a path of static segments such as '/api/v1', without a trailing slash", apiPrefix);
  }
  const servicesRoute = options.servicesRoute ?? '/services';
  if (servicesRoute !== false && (typeof servicesRoute !== 'string' || !PATH.test(servicesRoute))) {
    throw new InvalidArgumentError('servicesRoute', "false or a path of static segments such as '/services'", servicesRoute);
  }
  if (servicesRoute !== false && (servicesRoute === apiPrefix || servicesRoute.startsWith(`${apiPrefix}/`))) {
    throw new InvalidArgumentError('servicesRoute', `a path outside apiPrefix (${apiPrefix})`, servicesRoute);
  }
  if (options.isFailure !== undefined && typeof options.isFailure !== 'function') throw new InvalidArgumentError('isFailure', 'a function', options.isFailure);
  if (options.keyHeader !== undefined && (typeof options.keyHeader !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(options.keyHeader))) {
    throw new InvalidArgumentError('keyHeader', 'a header name', options.keyHeader);
  }
  const { dispatcher } = options;
  if (dispatcher !== undefined && typeof dispatcher?.request !== 'function') throw new InvalidArgumentError('dispatcher', 'an undici Dispatcher', dispatcher);
  return {
    backend,
    resolver,
    apiPrefix,
    servicesRoute: servicesRoute === false ? undefined : servicesRoute,
    allows: allowList(options.services),
    timeoutMs: durationOption(options.timeoutMs, 30_000, 'timeoutMs', 1),
    retry: retrySettings(options.retry),
    keyHeader: options.keyHeader?.toLowerCase(),
    isFailure: options.isFailure ?? ((status) => status >= 500),
    dispatcher,
    describe: describeSettings(options.describe, 'describe'),
  };
}

function allowList(services: RollcallGatewayOptions['services']): (service: string) => boolean {
  if (services === undefined) return () => true;
  if (typeof services === 'function') return services;
  if (!Array.isArray(services)) throw new InvalidArgumentError('services', 'an array of service names or a predicate', services);
  services.forEach((name, index) => assertServiceName(name, `services[${index}]`));
  const allowed = new Set(services);
  return (service) => allowed.has(service);
}

function retrySettings(retry: RollcallGatewayOptions['retry']): RetrySettings | undefined {
  if (retry === false) return undefined;
  const opts = objectOption(retry, 'retry');
  const methods = opts.methods ?? DEFAULT_RETRY_METHODS;
  if (!Array.isArray(methods) || !methods.every((method) => typeof method === 'string' && METHOD.test(method))) {
    throw new InvalidArgumentError('retry.methods', "an array of upper-case HTTP methods such as ['GET', 'PUT']", methods);
  }
  const statuses = opts.statuses ?? DEFAULT_RETRY_STATUSES;
  if (!Array.isArray(statuses) || !statuses.every((status) => Number.isInteger(status) && status >= 100 && status <= 599)) {
    throw new InvalidArgumentError('retry.statuses', 'an array of HTTP status codes', statuses);
  }
  const budgetOptions = opts.budget ?? {};
  // Built once here so that bad budget options fail at registration.
  const template = new RetryBudget(budgetOptions);
  const budgets = new Map<string, RetryBudget>();
  return {
    attempts: integerOption(opts.attempts, 2, 'retry.attempts', 2, 10),
    methods: new Set(methods),
    statuses: new Set(statuses),
    maxBodyBytes: integerOption(opts.maxBodyBytes, 1_048_576, 'retry.maxBodyBytes', 0, 1_073_741_824),
    budgetFor(service) {
      let budget = budgets.get(service);
      if (budget === undefined) {
        budget = budgets.size === 0 ? template : new RetryBudget(budgetOptions);
        budgets.set(service, budget);
      }
      return budget;
    },
  };
}
