/**
 * The resolver's options: what each one means and its default (at its definition), and the one
 * function that checks them all when the resolver is built, so bad configuration fails at
 * construction with an error naming the option, never later inside a lookup.
 */
import type { RegistryBackend } from '../backends/backend.js';
import { systemClock, type Clock } from '../core/clock.js';
import { DEFAULT_CACHE_TTL_MS } from '../core/defaults.js';
import { InvalidArgumentError } from '../core/errors.js';
import { loggerOption, type Logger, type LoggerLike } from '../core/logger.js';
import { clockOption, durationOption, integerOption, randomOption } from '../core/options.js';
import { STRATEGY_NAMES, strategyByName, type StrategyName } from '../balancing/strategies.js';
import type { PickContext, Strategy } from '../balancing/strategy.js';
import { envFallbackOption, type EnvFallbackOptions } from './env-fallback.js';

/** How instances in `warning` are treated. */
export type WarningPolicy = 'include' | 'fallback' | 'exclude';

/** Most services one resolver may keep in cache (`maxServices`). */
export const MAX_SERVICES_LIMIT = 1_000_000;

/**
 * Default of `resetGraceMs`: the default lease TTL of `autoRegister()`. A live instance renews
 * within one heartbeat (a third of its TTL) and learns it was lost then, so it is back well
 * within one TTL.
 */
export const DEFAULT_RESET_GRACE_MS = 15_000;

/** Options of `createResolver`. Every duration is an integer number of milliseconds. */
export interface ResolverOptions {
  /** The registry to read. The resolver never closes it: its owner does. */
  backend: RegistryBackend;
  /**
   * Picks one instance per call: a {@link Strategy} value or a strategy name. A stateful strategy
   * belongs to this resolver, which releases its per-service state and closes it. @default 'round-robin'
   */
  strategy?: Strategy | StrategyName | undefined;
  /** How long a registry answer is served from cache before asking again (minus up to 10% jitter). @default 5000 */
  cacheTtlMs?: number | undefined;
  /**
   * How long after the registry last vouched for an answer (its last fetch, its last watch
   * delivery, or the moment a working watch broke) the answer may still be served while the
   * registry fails. @default 300000 (5 minutes)
   */
  maxStaleMs?: number | undefined;
  /**
   * While a service is served from stale cache or environment, how long before the registry is
   * asked again, in the background (minus up to 20% jitter, so processes do not retry in step).
   * Also how long a provisional answer (see `resetGraceMs`) is cached. @default 1000
   */
  degradedRetryMs?: number | undefined;
  /**
   * Services kept in cache; the least recently used beyond this are dropped. At most 1,000,000
   * ({@link MAX_SERVICES_LIMIT}): the cache allocates its index up front, about 40 MB at that size.
   * @default 10000
   */
  maxServices?: number | undefined;
  /**
   * `include`: `warning` instances are picked like `passing` ones. `fallback`: only when no
   * instance is `passing`. `exclude`: never. `critical` and `draining` are never picked.
   * @default 'fallback'
   */
  warning?: WarningPolicy | undefined;
  /** Registry calls slower than this fail (and count towards the breaker). @default 2000 */
  registryTimeoutMs?: number | undefined;
  /** Consecutive registry failures that open the circuit breaker. @default 5 */
  breakerThreshold?: number | undefined;
  /** How long the breaker stays open before letting one call through. @default 5000 */
  breakerHalfOpenAfterMs?: number | undefined;
  /**
   * After the backend reports that the registry lost data (`onReset`), how long an answer that
   * lacks instances this resolver had cached is not taken as the truth: those instances keep
   * being served until they re-register or the window ends. `0` trusts every answer at once.
   * Only backends that detect such losses report them; without a report nothing changes.
   * @default 15000 (one default lease TTL)
   */
  resetGraceMs?: number | undefined;
  /** Subscribe to the backend's watch (when it has one) instead of re-asking every TTL. @default true */
  watch?: boolean | undefined;
  /** The environment tier; `false` turns it off. @default true (ORDERS_URL convention, process.env) */
  envFallback?: boolean | EnvFallbackOptions | undefined;
  /**
   * Receives one warn line per service that degrades, one info line when it recovers and one
   * warn line per registry data loss the backend reports. Pino-style or message-first (`console`).
   * @default silent
   */
  logger?: LoggerLike | undefined;
  /** @default Date.now */
  clock?: Clock | undefined;
  /** Random source in [0, 1) for jitter. @default Math.random */
  random?: (() => number) | undefined;
}

/** {@link ResolverOptions} checked, with every default applied. */
export interface CheckedResolverOptions {
  readonly backend: RegistryBackend;
  readonly strategy: Strategy;
  readonly cacheTtlMs: number;
  readonly maxStaleMs: number;
  readonly degradedRetryMs: number;
  readonly maxServices: number;
  readonly warning: WarningPolicy;
  readonly registryTimeoutMs: number;
  readonly breakerThreshold: number;
  readonly breakerHalfOpenAfterMs: number;
  readonly resetGraceMs: number;
  /** Whether to watch: asked for and the backend can. */
  readonly watch: boolean;
  readonly env: EnvFallbackOptions | undefined;
  readonly log: Logger;
  readonly clock: Clock;
  readonly random: () => number;
}

const WARNING_POLICIES: readonly WarningPolicy[] = ['include', 'fallback', 'exclude'];

/** Checks `options` and applies defaults; throws {@link InvalidArgumentError} naming the first bad option. */
export function checkResolverOptions(options: ResolverOptions): CheckedResolverOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'a resolver options object', options);
  // `null` is a value, not an absent option: accepting it as "default" would hide a mistake.
  for (const [key, value] of Object.entries(options)) {
    if (value === null) throw new InvalidArgumentError(key, 'a value or undefined for the default', null);
  }
  const backend = backendOption(options.backend);
  const random = randomOption(options.random, 'random');
  const watch = options.watch ?? true;
  if (typeof watch !== 'boolean') throw new InvalidArgumentError('watch', 'true or false', watch);
  return {
    backend,
    strategy: strategyOption(options.strategy, random),
    cacheTtlMs: durationOption(options.cacheTtlMs, DEFAULT_CACHE_TTL_MS, 'cacheTtlMs', 1),
    maxStaleMs: durationOption(options.maxStaleMs, 300_000, 'maxStaleMs', 0),
    degradedRetryMs: durationOption(options.degradedRetryMs, 1_000, 'degradedRetryMs', 1),
    maxServices: integerOption(options.maxServices, 10_000, 'maxServices', 1, MAX_SERVICES_LIMIT),
    warning: warningOption(options.warning),
    registryTimeoutMs: durationOption(options.registryTimeoutMs, 2_000, 'registryTimeoutMs', 1),
    breakerThreshold: integerOption(options.breakerThreshold, 5, 'breakerThreshold', 1),
    breakerHalfOpenAfterMs: durationOption(options.breakerHalfOpenAfterMs, 5_000, 'breakerHalfOpenAfterMs', 1),
    resetGraceMs: durationOption(options.resetGraceMs, DEFAULT_RESET_GRACE_MS, 'resetGraceMs', 0),
    watch: watch && typeof backend.watch === 'function',
    env: envFallbackOption(options.envFallback, 'envFallback'),
    log: loggerOption(options.logger, 'logger', { component: 'resolver', backend: backend.kind }),
    clock: checkedClock(options.clock),
    random,
  };
}

function backendOption(backend: unknown): RegistryBackend {
  if (typeof backend !== 'object' || backend === null || typeof (backend as RegistryBackend).instances !== 'function') {
    throw new InvalidArgumentError('backend', 'a RegistryBackend', backend);
  }
  for (const method of ['watch', 'onReset'] as const) {
    const value = (backend as Record<string, unknown>)[method];
    if (value !== undefined && typeof value !== 'function') {
      throw new InvalidArgumentError(`backend.${method}`, 'a function, or undefined for a backend without it', value);
    }
  }
  return backend as RegistryBackend;
}

function strategyOption(value: Strategy | StrategyName | undefined, random: () => number): Strategy {
  const expected = `a Strategy or one of ${STRATEGY_NAMES.join(', ')}`;
  if (typeof value === 'string') {
    // Only our own names: `__proto__` or `toString` must not reach a lookup table.
    if (!(STRATEGY_NAMES as readonly string[]).includes(value)) throw new InvalidArgumentError('strategy', expected, value);
    return strategyByName(value, { random });
  }
  const strategy = value ?? strategyByName('round-robin', { random });
  if (typeof (strategy as Partial<Strategy>).createPicker !== 'function') throw new InvalidArgumentError('strategy', expected, value);
  return strategy;
}

function checkedClock(value: Clock | undefined): Clock {
  const clock = clockOption(value, systemClock, 'clock');
  const now = clock.now();
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new InvalidArgumentError('clock', 'a Clock whose now() returns epoch milliseconds', now);
  return clock;
}

function warningOption(value: WarningPolicy | undefined): WarningPolicy {
  const warning = value ?? 'fallback';
  if (!WARNING_POLICIES.includes(warning)) throw new InvalidArgumentError('warning', "'include', 'fallback' or 'exclude'", value);
  return warning;
}

/** Throws {@link InvalidArgumentError} unless `options` is a valid options object of one resolve call. */
export function assertPickContext(options: unknown): asserts options is PickContext {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'an options object { key?, exclude? }', options);
  const { key, exclude } = options as Record<string, unknown>;
  if (key !== undefined && typeof key !== 'string') throw new InvalidArgumentError('options.key', 'a string', key);
  if (exclude !== undefined && (typeof exclude !== 'object' || exclude === null || !('has' in exclude) || typeof exclude.has !== 'function')) {
    throw new InvalidArgumentError('options.exclude', 'a Set of instance ids, e.g. new Set(["orders-1"])', exclude);
  }
}
