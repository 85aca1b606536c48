/**
 * The registration side: puts this process in the registry and keeps it there.
 *
 * A small state machine: `starting → registered ⇄ standalone → draining → stopped`. Every
 * transition emits one `stateChange` event and at most one log line. An unreachable registry
 * never stops the service: it runs standalone and keeps retrying with backoff.
 */
import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { EventEmitter } from 'eventemitter3';
import { ExponentialBackoff, TimeoutStrategy, timeout, type IBackoff } from 'cockatiel';
import type { RegistryBackend } from '../backends/backend.js';
import { jitterDown, sleep, systemClock, unrefTimeout, type Clock } from '../core/clock.js';
import { DEFAULT_DRAIN_WAIT_MS } from '../core/defaults.js';
import { InvalidArgumentError, RegistrationError, messageOf } from '../core/errors.js';
import {
  assertServiceName,
  assertTtl,
  createInstance,
  withStatus,
  type HealthStatus,
  type InstanceInput,
  type InstanceStatus,
  type ServiceInstance,
} from '../core/instance.js';
import { loggerOption, type Logger, type LoggerLike } from '../core/logger.js';
import { durationOption, integerOption } from '../core/options.js';
import { HealthMonitor, type HealthCheck, type HealthReport } from './health.js';

export type RegistrationState = 'starting' | 'registered' | 'standalone' | 'draining' | 'stopped';

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
  /** Local checks run before every heartbeat; their status travels with it. @default {} (always passing) */
  healthChecks?: Readonly<Record<string, HealthCheck>> | undefined;
  /** A check slower than this counts as critical. @default min(heartbeatIntervalMs / 2, 5000) */
  healthCheckTimeoutMs?: number | undefined;
  /** Failing check rounds in a row before the status turns critical. @default 3 */
  failuresBeforeCritical?: number | undefined;
  /** Good check rounds in a row before a critical status recovers. @default 2 */
  successesBeforePassing?: number | undefined;
  /** Throw {@link RegistrationError} instead of running standalone when the first registration fails. @default false */
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
  /** Receives one line per state transition. @default silent */
  logger?: LoggerLike | undefined;
  /** @default Date.now */
  clock?: Clock | undefined;
  /** @default Math.random */
  random?: (() => number) | undefined;
}

export interface StateChangeEvent {
  readonly from: RegistrationState;
  readonly to: RegistrationState;
  readonly reason: string;
}

/** Events of a {@link Registration}. */
export interface RegistrationEvents {
  stateChange: (event: StateChangeEvent) => void;
  /** The registry had lost the instance and it was registered again. */
  reregistered: (event: { readonly reason: string }) => void;
  /** The status reported by the local checks changed. */
  healthChange: (event: { readonly from: HealthStatus; readonly to: HealthStatus; readonly report: HealthReport }) => void;
}

interface Settings {
  readonly ttlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly operationTimeoutMs: number;
  readonly startupTimeoutMs: number;
  readonly drainWaitMs: number;
  readonly required: boolean;
  readonly retryInitialDelayMs: number;
  readonly retryMaxDelayMs: number;
}

/**
 * A live registration: `autoRegister(options)`. Constructing one validates every option (throwing
 * `INVALID_ARGUMENT`) and starts nothing: no timer, no registry call, until `autoRegister()` runs it.
 */
export class Registration extends EventEmitter<RegistrationEvents> {
  readonly #backend: RegistryBackend;
  readonly #settings: Settings;
  readonly #health: HealthMonitor;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  #instance: ServiceInstance;
  #state: RegistrationState = 'starting';
  #timer: NodeJS.Timeout | undefined;
  #beat: Promise<void> | undefined;
  #backoff: IBackoff<unknown> | undefined;
  #drain: Promise<void> | undefined;
  #stop: Promise<void> | undefined;
  readonly #drainAbort = new AbortController();

  constructor(options: AutoRegisterOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'an autoRegister options object', options);
    if (typeof options.backend?.register !== 'function') throw new InvalidArgumentError('backend', 'a RegistryBackend', options.backend);
    this.#backend = options.backend;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#settings = resolveSettings(options);
    // Checked first: the default id is derived from it.
    assertServiceName(options.service, 'options.service');
    const host = options.host ?? defaultHost();
    this.#instance = createInstance(
      { ...options, host, id: options.id ?? defaultInstanceId(options.service, host, options.port), status: 'passing' },
      this.#clock.now(),
      'options',
    );
    this.#health = new HealthMonitor(options.healthChecks ?? {}, {
      failuresBeforeCritical: integerOption(options.failuresBeforeCritical, 3, 'failuresBeforeCritical', 1),
      successesBeforePassing: integerOption(options.successesBeforePassing, 2, 'successesBeforePassing', 1),
      timeoutMs: durationOption(options.healthCheckTimeoutMs, Math.min(Math.floor(this.#settings.heartbeatIntervalMs / 2), 5_000), 'healthCheckTimeoutMs', 1),
    });
    this.#log = loggerOption(options.logger, 'logger', { component: 'registration', service: this.#instance.service, id: this.#instance.id });
  }

  get state(): RegistrationState {
    return this.#state;
  }

  /** The instance as last written (or to be written) to the registry. */
  get instance(): ServiceInstance {
    return this.#instance;
  }

  /** The local checks' status and last results. */
  get health(): HealthReport {
    return this.#health.report();
  }

  /** @internal Runs the first registration; used by {@link autoRegister}. */
  async start(): Promise<void> {
    await this.#checkHealth();
    this.#instance = withStatus(this.#instance, this.#health.status, this.#clock.now());
    try {
      await this.#withTimeout(this.#settings.startupTimeoutMs, () => this.#register());
      this.#transition('registered', 'registered with the registry');
      this.#scheduleHeartbeat();
    } catch (error) {
      if (this.#settings.required) {
        await this.stop();
        throw new RegistrationError(this.#instance.service, `the registry did not accept it within ${this.#settings.startupTimeoutMs} ms: ${messageOf(error)}`, {
          cause: error,
        });
      }
      this.#goStandalone(error);
    }
  }

  /**
   * Marks the instance draining (resolvers stop picking it), tells the registry at once, then
   * waits `waitMs` so that resolvers have noticed. Resolves early if `stop()` is called.
   */
  drain(options: { waitMs?: number | undefined } = {}): Promise<void> {
    if (this.#drain !== undefined) return this.#drain;
    if (this.#state === 'stopped') return Promise.resolve();
    const waitMs = durationOption(options.waitMs, this.#settings.drainWaitMs, 'waitMs', 0);
    this.#transition('draining', 'drain() called');
    this.#drain = (async () => {
      clearTimeout(this.#timer);
      await this.#beat;
      await this.#runBeat();
      this.#scheduleNext();
      await sleep(waitMs, this.#drainAbort.signal).catch(() => {});
    })();
    return this.#drain;
  }

  /** Deregisters and clears every timer. Idempotent. A registry that cannot be reached is logged, not thrown. */
  stop(): Promise<void> {
    this.#stop ??= (async () => {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#drainAbort.abort();
      await this.#beat;
      const wasKnown = this.#state !== 'starting';
      try {
        await this.#withTimeout(this.#settings.operationTimeoutMs, () =>
          this.#backend.deregister({ service: this.#instance.service, id: this.#instance.id }),
        );
      } catch (error) {
        if (wasKnown) {
          this.#log.warn({ err: error }, `could not deregister; the registry drops the instance after ttlMs (${this.#settings.ttlMs} ms)`);
        }
      }
      this.#transition('stopped', 'stop() called');
      this.removeAllListeners();
    })();
    return this.#stop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #scheduleHeartbeat(): void {
    this.#schedule(jitterDown(this.#settings.heartbeatIntervalMs, 0.1, this.#random));
  }

  #schedule(delayMs: number): void {
    if (this.#stop !== undefined) return;
    clearTimeout(this.#timer);
    this.#timer = unrefTimeout(() => {
      this.#timer = undefined;
      void this.#runBeat().then(() => this.#scheduleNext());
    }, delayMs);
  }

  #scheduleNext(): void {
    if (this.#state === 'standalone') this.#schedule(this.#nextBackoff());
    else this.#scheduleHeartbeat();
  }

  #runBeat(): Promise<void> {
    const beat = this.#heartbeat()
      // Only a throwing event listener can get here; the heartbeat itself turns failures into states.
      .catch((error: unknown) => this.#log.error({ err: error }, 'heartbeat failed unexpectedly'))
      .finally(() => {
      if (this.#beat === beat) this.#beat = undefined;
    });
    this.#beat = beat;
    return beat;
  }

  // Never rejects: every failure becomes a state.
  async #heartbeat(): Promise<void> {
    await this.#checkHealth();
    if (this.#stop !== undefined) return;
    const status: InstanceStatus = this.#state === 'draining' ? 'draining' : this.#health.status;
    this.#instance = this.#instance.status === status ? this.#instance : withStatus(this.#instance, status, this.#clock.now());
    const standalone = this.#state === 'standalone' || (this.#state === 'draining' && this.#backoff !== undefined);
    try {
      if (standalone) {
        await this.#withTimeout(this.#settings.operationTimeoutMs, () => this.#register());
      } else {
        const result = await this.#withTimeout(this.#settings.operationTimeoutMs, () =>
          this.#backend.renew({ service: this.#instance.service, id: this.#instance.id }, status),
        );
        if (result === 'lost') {
          await this.#withTimeout(this.#settings.operationTimeoutMs, () => this.#register());
          this.#log.info({}, 'the registry had lost this instance; registered it again');
          this.emit('reregistered', { reason: 'the registry no longer knew the instance' });
        }
      }
      if (this.#backoff !== undefined) {
        this.#backoff = undefined;
        if (this.#state === 'standalone') this.#transition('registered', 'the registry is reachable again');
        else this.#log.info({}, 'the registry is reachable again');
      }
    } catch (error) {
      this.#goStandalone(error);
    }
  }

  #register(): Promise<void> {
    return this.#backend.register(this.#instance, { ttlMs: this.#settings.ttlMs });
  }

  #goStandalone(error: unknown): void {
    if (this.#backoff !== undefined) {
      this.#log.debug({ err: error }, 'registry still unreachable');
      return;
    }
    this.#backoff = new ExponentialBackoff({
      initialDelay: this.#settings.retryInitialDelayMs,
      maxDelay: this.#settings.retryMaxDelayMs,
    }).next();
    const reason = `registry unreachable: ${messageOf(error)}`;
    if (this.#state === 'draining') this.#log.warn({ err: error }, `${reason}; still draining`);
    else this.#transition('standalone', reason, error);
    if (this.#state === 'standalone' && this.#timer === undefined && this.#beat === undefined) this.#schedule(this.#backoff.duration);
  }

  #nextBackoff(): number {
    const current = this.#backoff ?? new ExponentialBackoff().next();
    this.#backoff = current.next(undefined);
    return current.duration;
  }

  async #checkHealth(): Promise<void> {
    const previous = await this.#health.run();
    const current = this.#health.status;
    if (previous === current || this.#state === 'starting') return;
    this.#log.info({ from: previous, to: current }, `local health ${previous} → ${current}`);
    this.emit('healthChange', { from: previous, to: current, report: this.#health.report() });
  }

  #transition(to: RegistrationState, reason: string, error?: unknown): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    const fields = error === undefined ? { from, to } : { from, to, err: error };
    if (to === 'standalone') this.#log.warn(fields, `standalone: ${reason}; retrying in the background`);
    else this.#log.info(fields, `${from} → ${to}: ${reason}`);
    this.emit('stateChange', { from, to, reason });
  }

  #withTimeout<T>(timeoutMs: number, operation: () => Promise<T>): Promise<T> {
    return timeout(timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false }).dangerouslyUnref().execute(operation);
  }
}

/**
 * Registers this process and keeps it registered. Returns once the first registration succeeded,
 * or after `startupTimeoutMs` in `standalone` state (throws only with `required: true`).
 */
export async function autoRegister(options: AutoRegisterOptions): Promise<Registration> {
  const registration = new Registration(options);
  await registration.start();
  return registration;
}

function resolveSettings(options: AutoRegisterOptions): Settings {
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
    ttlMs,
    heartbeatIntervalMs,
    operationTimeoutMs: durationOption(options.operationTimeoutMs, Math.min(heartbeatIntervalMs, 5_000), 'operationTimeoutMs', 1),
    startupTimeoutMs: durationOption(options.startupTimeoutMs, 5_000, 'startupTimeoutMs', 1),
    drainWaitMs: durationOption(options.drainWaitMs, DEFAULT_DRAIN_WAIT_MS, 'drainWaitMs', 0),
    required,
    retryInitialDelayMs,
    retryMaxDelayMs: durationOption(options.retryMaxDelayMs, Math.max(heartbeatIntervalMs, retryInitialDelayMs), 'retryMaxDelayMs', retryInitialDelayMs),
  };
}

/** The first non-internal IPv4 address, else loopback. */
export function defaultHost(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return '127.0.0.1';
}

/** `<service>-<host>-<port>-<random>`: readable, and unique even for two processes on one host and port. */
export function defaultInstanceId(service: string, host: string, port: number): string {
  const suffix = randomBytes(4).toString('hex');
  const readableHost = (host === '127.0.0.1' || host === '::1' ? hostname() : host).replace(/[^A-Za-z0-9.-]/g, '-');
  const head = `${service}-${readableHost}`.slice(0, 128 - suffix.length - 8);
  return `${head}-${port}-${suffix}`.replace(/^[^A-Za-z0-9]+/, '');
}
