/**
 * Options shared by `createDiscoveryFetch` and the discovery dispatcher, validated and given
 * their defaults in one place.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import { SERVICE_NAME_PATTERN, assertServiceName } from '../core/instance.js';
import { clockOption } from '../core/options.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';

/** When and how a request is tried again on another instance. */
export interface RetryOptions {
  /** Answers that make an idempotent request try another instance. @default [502, 503, 504] */
  statuses?: readonly number[] | undefined;
  /** Caps retries per service; see {@link RetryBudgetOptions}. @default { ratio: 0.2, minPerSecond: 10, windowMs: 10000 } */
  budget?: RetryBudgetOptions | undefined;
}

/** Options of `createDiscoveryFetch` and `discoveryInterceptor`. */
export interface DiscoveryHttpOptions {
  /**
   * Retry of idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) with a replayable body,
   * once, on another instance, after a connection error or one of `statuses`. `false` turns it off.
   * @default {} (retries on, default statuses and budget)
   */
  retry?: false | RetryOptions | undefined;
  /**
   * Request header carrying the affinity key (`PickContext.key`) for consistent hashing and
   * keyed splits, e.g. `'x-user-id'`. Requests without it are picked without a key. @default none
   */
  keyHeader?: string | undefined;
  /**
   * Services to reach by URL host beyond what `isService` recognises, spelled as registered.
   * URL hosts are lower case (WHATWG URL: `http://Orders/` has the host `orders`), so listing
   * `'Orders'` is how a URL reaches a service registered with capitals; listing `'orders.api'` is
   * how a dotted name is resolved rather than left to DNS. A listed name is matched without
   * regard to case and always resolved when the URL has no port. Two names that differ only in
   * case cannot both be listed. @default []
   */
  services?: readonly string[] | undefined;
  /**
   * Whether a URL whose host is not in `services` names a service to resolve (by its host, in
   * lower case). @default {@link defaultIsService}: a single-label host that is a valid service
   * name (`orders`, `auth_service`, `ip-intel`) and no port
   */
  isService?: ((url: URL) => boolean) | undefined;
  /**
   * Whether an answer counts as a failed call for the strategy (latency aware ones and outlier
   * ejection). Connection errors and timeouts always count. @default status >= 500
   */
  isFailure?: ((status: number) => boolean) | undefined;
  /** Time source of the retry budget. @default Date.now */
  clock?: Clock | undefined;
}

/** Normalised {@link DiscoveryHttpOptions}. */
export interface HttpPolicy {
  readonly retryStatuses: ReadonlySet<number> | undefined;
  readonly keyHeader: string | undefined;
  /** The service a URL names, spelled as registered; `undefined` when the URL passes through. */
  serviceOf(url: URL): string | undefined;
  readonly isFailure: (status: number) => boolean;
  /** One budget per service, created on first use. */
  budgetFor(service: string): RetryBudget;
}

/**
 * Whether a URL names a service by default: no port, and a host that is a valid service name
 * without a dot (`orders`, `auth_service`, `ip-intel`, `localhost`). Dotted hosts
 * (`api.example.com`, `10.0.0.5`) go to DNS as usual, even though a service name may contain dots:
 * list dotted services in the `services` option.
 */
export function defaultIsService(url: URL): boolean {
  return url.port === '' && !url.hostname.includes('.') && SERVICE_NAME_PATTERN.test(url.hostname);
}

export function httpPolicy(options: DiscoveryHttpOptions | undefined, field: string): HttpPolicy {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new InvalidArgumentError(field, 'an options object', options);
  const opts = options ?? {};
  const retry = opts.retry ?? {};
  if (retry !== false && (typeof retry !== 'object' || retry === null)) throw new InvalidArgumentError(`${field}.retry`, 'false or { statuses, budget }', retry);
  const statuses = retry === false ? undefined : (retry.statuses ?? [502, 503, 504]);
  if (statuses !== undefined && (!Array.isArray(statuses) || !statuses.every((status) => Number.isInteger(status) && status >= 100 && status <= 599))) {
    throw new InvalidArgumentError(`${field}.retry.statuses`, 'an array of HTTP status codes', statuses);
  }
  for (const name of ['isService', 'isFailure'] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== 'function') throw new InvalidArgumentError(`${field}.${name}`, 'a function', opts[name]);
  }
  if (opts.keyHeader !== undefined && (typeof opts.keyHeader !== 'string' || opts.keyHeader === '')) {
    throw new InvalidArgumentError(`${field}.keyHeader`, 'a header name', opts.keyHeader);
  }
  const listed = listedServices(opts.services, `${field}.services`);
  const isService = opts.isService ?? defaultIsService;
  const clock = clockOption(opts.clock, systemClock, `${field}.clock`);
  const budgetOptions = retry === false ? {} : (retry.budget ?? {});
  // Built once up front so that bad budget options fail here, not on the first request.
  const template = new RetryBudget(budgetOptions, clock);
  const budgets = new Map<string, RetryBudget>();
  return {
    retryStatuses: statuses === undefined ? undefined : new Set(statuses),
    keyHeader: opts.keyHeader?.toLowerCase(),
    serviceOf(url) {
      const named = url.port === '' ? listed.get(url.hostname) : undefined;
      return named ?? (isService(url) ? url.hostname : undefined);
    },
    isFailure: opts.isFailure ?? ((status) => status >= 500),
    budgetFor(service) {
      let budget = budgets.get(service);
      if (budget === undefined) {
        budget = budgets.size === 0 ? template : new RetryBudget(budgetOptions, clock);
        budgets.set(service, budget);
      }
      return budget;
    },
  };
}

/** Listed service names by their lower-case spelling, as URL hosts carry them. */
function listedServices(value: readonly string[] | undefined, field: string): ReadonlyMap<string, string> {
  const listed = new Map<string, string>();
  if (value === undefined) return listed;
  if (!Array.isArray(value)) throw new InvalidArgumentError(field, 'an array of service names', value);
  value.forEach((name: unknown, index) => {
    assertServiceName(name, `${field}[${index}]`);
    const host = name.toLowerCase();
    const other = listed.get(host);
    if (other !== undefined && other !== name) {
      throw new InvalidArgumentError(`${field}[${index}]`, 'names that differ in more than case, since URL hosts are lower case', name, `"${other}" is listed too`);
    }
    listed.set(host, name);
  });
  return listed;
}
