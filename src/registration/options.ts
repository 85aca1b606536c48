/**
 * autoRegister's options, and their validation: every option is checked when a Registration is
 * built, so a mistake fails at startup with an {@link InvalidArgumentError} naming the option,
 * never later in a timer. Only an option left out (`undefined`) takes its default: `null` is an
 * error, not a default.
 */
import type { RegistryBackend } from '../backends/backend.js';
import { systemClock, type Clock } from '../core/clock.js';
import { DEFAULT_DRAIN_WAIT_MS } from '../core/defaults.js';
import { InvalidArgumentError } from '../core/errors.js';
import { assertServiceName, assertTtl, createInstance, type InstanceInput, type ServiceInstance } from '../core/instance.js';
import type { LoggerLike } from '../core/logger.js';
import { clockOption, durationOption, integerOption, randomOption } from '../core/options.js';
import type { HealthCheck, HealthMonitorOptions } from './health-checks.js';

/** Options of {@link autoRegister}. Every duration is in milliseconds. */
export interface AutoRegisterOptions extends Omit<InstanceInput, 'id' | 'host' | 'status' | 'registeredAt' | 'updatedAt'> {
  /** The registry to write to. Registration never closes it: its owner does. */
  backend: RegistryBackend;
  /**
   * Instance id, stable for the life of this registration. @default `<service>-<host>-<port>-<8 random hex>`,
   * so two processes on one host and port never overwrite each other.
   */
  id?: string | undefined;
  /** Address callers connect to. @default the first non-internal IPv4 address, else `127.0.0.1` */
  host?: string | undefined;
  /** How long the registry keeps the instance without a heartbeat. @default 15000 */
  ttlMs?: number | undefined;
  /** Time between heartbeats (minus up to 10% jitter); must be below `ttlMs`. @default ttlMs / 3 */
  heartbeatIntervalMs?: number | undefined;
  /**
   * Local checks, run before the first registration and before every heartbeat; their status
   * travels with it. A check may return anything: it passes unless it returns `false` or an
   * explicit status (`'warning'`, `'critical'`, `{ status, output }`), and fails when it throws,
   * rejects or times out. So `{ redis: () => redis.ping(), db: () => pool.query('SELECT 1') }`
   * works as written. @default {} (always passing)
   */
  healthChecks?: Readonly<Record<string, HealthCheck>> | undefined;
  /** A check slower than this counts as critical. @default min(heartbeatIntervalMs / 2, 5000) */
  healthCheckTimeoutMs?: number | undefined;
  /**
   * Failing check rounds in a row before the status turns critical, counted from the first round:
   * an instance whose checks fail at startup registers as `passing` and turns critical after this
   * many rounds (heartbeats). @default 3
   */
  failuresBeforeCritical?: number | undefined;
  /** Good check rounds in a row before a critical status recovers. @default 2 */
  successesBeforePassing?: number | undefined;
  /**
   * Throw {@link rollcall!RegistrationError} instead of running standalone when the first registration
   * fails. (A registry that refuses the instance as invalid always makes `autoRegister()` reject.)
   * @default false
   */
  required?: boolean | undefined;
  /** How long `autoRegister()` waits for the first registration before going standalone. @default 5000 */
  startupTimeoutMs?: number | undefined;
  /** A registry call slower than this fails. @default min(heartbeatIntervalMs, 5000) */
  operationTimeoutMs?: number | undefined;
  /** First retry delay while standalone; grows exponentially with jitter. @default 1000 */
  retryInitialDelayMs?: number | undefined;
  /**
   * Longest retry delay while standalone. Capped at the heartbeat interval by default, so that once
   * the registry is back the instance is registered within one interval, however long the outage.
   * @default max(heartbeatIntervalMs, retryInitialDelayMs)
   */
  retryMaxDelayMs?: number | undefined;
  /**
   * How long `drain()` waits after marking the instance draining, so that resolvers using
   * rollcall's defaults have stopped picking it: one cache TTL (5000) plus the watch margin (1000).
   * @default 6000
   */
  drainWaitMs?: number | undefined;
  /**
   * Receives one line per state transition: a pino-style logger, or a message-first one such as
   * `console` or NestJS's `Logger`. @default silent
   */
  logger?: LoggerLike | undefined;
  /** @default Date.now */
  clock?: Clock | undefined;
  /** Source of heartbeat jitter; values outside [0, 1) are clamped into it. @default Math.random */
  random?: (() => number) | undefined;
}

// The compiler keeps this list complete: a new option must be added here to be checked for null.
const OPTION_NAMES = {
  backend: true,
  service: true,
  id: true,
  host: true,
  port: true,
  protocol: true,
  tags: true,
  meta: true,
  weight: true,
  zone: true,
  version: true,
  ttlMs: true,
  heartbeatIntervalMs: true,
  healthChecks: true,
  healthCheckTimeoutMs: true,
  failuresBeforeCritical: true,
  successesBeforePassing: true,
  required: true,
  startupTimeoutMs: true,
  operationTimeoutMs: true,
  retryInitialDelayMs: true,
  retryMaxDelayMs: true,
  drainWaitMs: true,
  logger: true,
  clock: true,
  random: true,
} satisfies Record<keyof AutoRegisterOptions, true>;

/** Names of every {@link AutoRegisterOptions} option. */
export const AUTO_REGISTER_OPTION_NAMES: readonly (keyof AutoRegisterOptions)[] = Object.keys(OPTION_NAMES) as (keyof AutoRegisterOptions)[];

/**
 * Throws {@link InvalidArgumentError} for any of `names` set to `null` in `options`: leaving an
 * option out (or `undefined`) selects its default; `null` is more likely a bug than a choice.
 */
export function rejectNullOptions(options: object, names: readonly string[]): void {
  for (const name of names) {
    if ((options as Record<string, unknown>)[name] === null) {
      throw new InvalidArgumentError(name, 'a value, or the option left out for its default (null is not a default)', null);
    }
  }
}

/** Everything a Registration needs besides the instance, validated and with defaults applied. */
export interface RegistrationSettings {
  readonly backend: RegistryBackend;
  readonly ttlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly operationTimeoutMs: number;
  readonly startupTimeoutMs: number;
  readonly drainWaitMs: number;
  readonly required: boolean;
  readonly retryInitialDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly healthChecks: ReadonlyArray<readonly [string, HealthCheck]>;
  readonly health: HealthMonitorOptions;
  readonly clock: Clock;
  readonly random: () => number;
}

/** Validates every option but the instance fields and the logger (checked where they are used). */
export function resolveSettings(options: AutoRegisterOptions): RegistrationSettings {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'an autoRegister options object', options);
  rejectNullOptions(options, AUTO_REGISTER_OPTION_NAMES);
  const ttlMs = options.ttlMs ?? 15_000;
  assertTtl(ttlMs);
  const heartbeatIntervalMs = durationOption(options.heartbeatIntervalMs, Math.floor(ttlMs / 3), 'heartbeatIntervalMs', 100);
  if (heartbeatIntervalMs >= ttlMs) {
    throw new InvalidArgumentError('heartbeatIntervalMs', `less than ttlMs (${ttlMs}) so the instance is renewed before it expires`, heartbeatIntervalMs);
  }
  const retryInitialDelayMs = durationOption(options.retryInitialDelayMs, 1_000, 'retryInitialDelayMs', 1);
  const required = options.required ?? false;
  if (typeof required !== 'boolean') throw new InvalidArgumentError('required', 'a boolean', required);
  return {
    backend: backendOption(options.backend),
    ttlMs,
    heartbeatIntervalMs,
    operationTimeoutMs: durationOption(options.operationTimeoutMs, Math.min(heartbeatIntervalMs, 5_000), 'operationTimeoutMs', 1),
    startupTimeoutMs: durationOption(options.startupTimeoutMs, 5_000, 'startupTimeoutMs', 1),
    drainWaitMs: durationOption(options.drainWaitMs, DEFAULT_DRAIN_WAIT_MS, 'drainWaitMs', 0),
    required,
    retryInitialDelayMs,
    retryMaxDelayMs: durationOption(options.retryMaxDelayMs, Math.max(heartbeatIntervalMs, retryInitialDelayMs), 'retryMaxDelayMs', retryInitialDelayMs),
    healthChecks: healthChecksOption(options.healthChecks),
    health: {
      failuresBeforeCritical: integerOption(options.failuresBeforeCritical, 3, 'failuresBeforeCritical', 1),
      successesBeforePassing: integerOption(options.successesBeforePassing, 2, 'successesBeforePassing', 1),
      timeoutMs: durationOption(options.healthCheckTimeoutMs, Math.min(Math.floor(heartbeatIntervalMs / 2), 5_000), 'healthCheckTimeoutMs', 1),
    },
    clock: clockOption(options.clock, systemClock, 'clock'),
    random: clamped(randomOption(options.random, 'random')),
  };
}

// Stand in for what is not known yet while the other fields are validated.
const PROVISIONAL_ID = 'provisional';
const PROVISIONAL_HOST = '127.0.0.1';
const PROVISIONAL_PORT = 1;

/**
 * The instance `options` describe, validated with field names under `options.`. `host` stands in
 * for the `host` option when it is left out; an id left out is validated as a provisional one (the
 * default id is derived from the other fields).
 */
export function optionsInstance(options: AutoRegisterOptions, now: number, host: string): ServiceInstance {
  // Checked first, with the option's own name: the default id is derived from it.
  assertServiceName(options.service, 'options.service');
  const { service, port, protocol, tags, meta, weight, zone, version } = options;
  return createInstance(
    { service, port, protocol, tags, meta, weight, zone, version, host: options.host ?? host, id: options.id ?? PROVISIONAL_ID, status: 'passing' },
    now,
    'options',
  );
}

/**
 * Checks every option as {@link autoRegister} will, without registering anything: for callers
 * that learn the port (and the host) only once their server listens, so that a mistake fails at
 * startup rather than as a log line later. `port` and `host` are checked when given. The logger
 * is checked where it is used.
 */
export function assertAutoRegisterOptions(options: Omit<AutoRegisterOptions, 'port' | 'host'> & { port?: number | undefined; host?: string | undefined }): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'an autoRegister options object', options);
  rejectNullOptions(options, AUTO_REGISTER_OPTION_NAMES);
  const complete: AutoRegisterOptions = { ...options, port: options.port ?? PROVISIONAL_PORT };
  optionsInstance(complete, resolveSettings(complete).clock.now(), PROVISIONAL_HOST);
}

const BACKEND_METHODS = ['register', 'renew', 'deregister'] as const;

function backendOption(value: unknown): RegistryBackend {
  const candidate = value as Partial<Record<string, unknown>> | null | undefined;
  if (typeof candidate !== 'object' || candidate === null || BACKEND_METHODS.some((method) => typeof candidate[method] !== 'function')) {
    throw new InvalidArgumentError('backend', 'a RegistryBackend (with register, renew and deregister methods)', value);
  }
  return value as RegistryBackend;
}

function healthChecksOption(value: unknown): ReadonlyArray<readonly [string, HealthCheck]> {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError('healthChecks', 'an object of named check functions, e.g. { db: () => pool.query("SELECT 1") }', value);
  }
  const checks = Object.entries(value);
  for (const [name, check] of checks) {
    if (typeof check !== 'function') throw new InvalidArgumentError(`healthChecks.${name}`, 'a check function', check);
  }
  return checks as Array<[string, HealthCheck]>;
}

// Jitter must stay within its stated bounds whatever the source returns (or throws).
function clamped(random: () => number): () => number {
  return () => {
    let value: unknown;
    try {
      value = random();
    } catch {
      return 0;
    }
    return typeof value === 'number' && value > 0 ? Math.min(value, 0.999_999) : 0;
  };
}
