/**
 * The registration side: puts this process in the registry and keeps it there.
 *
 * A small state machine: `starting → registered ⇄ standalone → draining → stopped`. Every
 * transition emits one `stateChange` event and at most one log line. An unreachable registry
 * never stops the service: it runs standalone and keeps retrying with backoff. A registry that
 * refuses the instance as invalid is not an outage: retrying would never help, so it is surfaced.
 */
import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { EventEmitter } from 'node:events';
import { ExponentialBackoff, TimeoutStrategy, timeout, type IBackoff } from 'cockatiel';
import type { RegistryBackend } from '../backends/backend.js';
import { jitterDown, sleep, unrefTimeout, type Clock } from '../core/clock.js';
import type { EventArguments } from '../core/events.js';
import { InvalidArgumentError, RegistrationError, isRollcallError, messageOf, type RollcallError } from '../core/errors.js';
import { withStatus, type HealthStatus, type InstanceStatus, type ServiceInstance } from '../core/instance.js';
import { loggerOption, type Logger } from '../core/logger.js';
import { durationOption } from '../core/options.js';
import { HealthMonitor, type HealthReport } from './health-checks.js';
import { keepingAlive } from './keep-alive.js';
import { optionsInstance, resolveSettings, type AutoRegisterOptions, type RegistrationSettings } from './options.js';

export type { AutoRegisterOptions } from './options.js';

export type RegistrationState = 'starting' | 'registered' | 'standalone' | 'draining' | 'stopped';

export interface StateChangeEvent {
  readonly from: RegistrationState;
  readonly to: RegistrationState;
  readonly reason: string;
}

/** Options of {@link Registration.drain}. */
export interface DrainOptions {
  /** How long to wait once the instance is marked draining. @default the registration's `drainWaitMs` */
  waitMs?: number | undefined;
}

/** Counters of a {@link Registration}, plain integers: see {@link Registration.stats}. */
export interface RegistrationStats {
  /**
   * Heartbeats that reached for the registry, by outcome (draining ones included). `ok`: it renewed
   * the lease (or, while standalone, registered again). `lost`: the registry no longer knew the
   * instance, which was registered again. `failed`: the registry could not be reached or refused.
   */
  readonly heartbeats: { readonly ok: number; readonly lost: number; readonly failed: number };
}

/** Events of a {@link Registration}. */
export interface RegistrationEvents {
  stateChange: (event: StateChangeEvent) => void;
  /** The registry had lost the instance and it was registered again. */
  reregistered: (event: { readonly reason: string }) => void;
  /**
   * The registry refused the instance as invalid (`INVALID_ARGUMENT`, e.g. a field it does not
   * accept) after `autoRegister()` returned: the registration stops calling the registry and stays
   * `standalone`; local checks keep running. Logged once at error level.
   */
  refused: (event: { readonly error: RollcallError }) => void;
  /** The status reported by the local checks changed. */
  healthChange: (event: { readonly from: HealthStatus; readonly to: HealthStatus; readonly report: HealthReport }) => void;
}

interface TransitionLog {
  readonly error?: unknown;
  readonly level?: 'info' | 'warn' | 'error';
  readonly message?: string;
}

/**
 * Runs a registration's first check round and first registration, keeping the process alive
 * until it settles: {@link autoRegister}'s way in to the private start, given by the class's
 * static block (a new `Registration` starts nothing until then).
 */
let startRegistration: (registration: Registration) => Promise<void>;

/**
 * A live registration: `autoRegister(options)`. Constructing one validates every option (throwing
 * `INVALID_ARGUMENT`) and starts nothing: no timer, no registry call, until `autoRegister()` runs it.
 */
export class Registration extends EventEmitter<EventArguments<RegistrationEvents>> {
  static {
    startRegistration = (registration) => keepingAlive(registration.#start());
  }

  readonly #backend: RegistryBackend;
  readonly #settings: RegistrationSettings;
  readonly #health: HealthMonitor;
  readonly #log: Logger;
  readonly #clock: Clock;
  #instance: ServiceInstance;
  #state: RegistrationState = 'starting';
  #timer: NodeJS.Timeout | undefined;
  #beat: Promise<void> | undefined;
  #backoff: IBackoff<unknown> | undefined;
  #refused: RollcallError | undefined;
  #drain: Promise<void> | undefined;
  #stop: Promise<void> | undefined;
  readonly #drainAbort = new AbortController();
  readonly #heartbeats = { ok: 0, lost: 0, failed: 0 };

  constructor(options: AutoRegisterOptions) {
    super();
    this.#settings = resolveSettings(options);
    this.#backend = this.#settings.backend;
    this.#clock = this.#settings.clock;
    this.#instance = initialInstance(options, this.#clock.now());
    this.#health = new HealthMonitor(this.#settings.healthChecks, this.#settings.health);
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

  /** Heartbeats by outcome since the registration started; a snapshot. */
  stats(): RegistrationStats {
    return { heartbeats: { ...this.#heartbeats } };
  }

  /**
   * Marks the instance draining (resolvers stop picking it), tells the registry at once, then
   * waits `waitMs` so that resolvers have noticed. Resolves early if `stop()` is called, and at
   * once after `stop()`. Keeps the process alive until it resolves, so `await drain()` completes
   * even when nothing else holds the event loop. Rejects with `INVALID_ARGUMENT` for bad options.
   */
  drain(options: DrainOptions = {}): Promise<void> {
    let waitMs: number;
    try {
      waitMs = this.#drainWait(options);
    } catch (error) {
      // An async API rejects: callers awaiting drain() get the error where they catch the rest.
      const invalid = error as InvalidArgumentError;
      return Promise.reject(invalid);
    }
    if (this.#drain !== undefined) return this.#drain;
    if (this.#stop !== undefined) return Promise.resolve();
    this.#transition('draining', 'drain() called');
    this.#drain = keepingAlive(
      (async () => {
        clearTimeout(this.#timer);
        await this.#beat;
        await this.#runBeat();
        this.#scheduleNext();
        await sleep(waitMs, this.#drainAbort.signal).catch(() => {});
      })(),
    );
    return this.#drain;
  }

  /**
   * Deregisters and clears every timer. Idempotent. A registry that cannot be reached is logged,
   * not thrown. Keeps the process alive until it resolves.
   */
  stop(): Promise<void> {
    this.#stop ??= keepingAlive(
      (async () => {
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
      })(),
    );
    return this.#stop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #start(): Promise<void> {
    await this.#checkHealth();
    this.#instance = withStatus(this.#instance, this.#health.status, this.#clock.now());
    try {
      await this.#withTimeout(this.#settings.startupTimeoutMs, () => this.#register());
      this.#transition('registered', 'registered with the registry');
      this.#scheduleHeartbeat();
    } catch (error) {
      const refused = isRefusal(error);
      if (this.#settings.required || refused) {
        await this.stop();
        const why = refused
          ? `the ${this.#backend.kind} registry refused the instance: ${messageOf(error)}`
          : `the registry did not accept it within ${this.#settings.startupTimeoutMs} ms: ${messageOf(error)}`;
        throw new RegistrationError(this.#instance.service, why, { cause: error });
      }
      this.#goStandalone(error);
    }
  }

  #drainWait(options: DrainOptions): number {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'drain options { waitMs? }', options);
    if (options.waitMs === null) throw new InvalidArgumentError('waitMs', 'a number of milliseconds, or left out for drainWaitMs', null);
    return durationOption(options.waitMs, this.#settings.drainWaitMs, 'waitMs', 0);
  }

  #scheduleHeartbeat(): void {
    this.#schedule(jitterDown(this.#settings.heartbeatIntervalMs, 0.1, this.#settings.random));
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
    if (this.#state === 'standalone' && this.#refused === undefined) this.#schedule(this.#nextBackoff());
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
    // Refused: the checks keep the health report current, the registry is left alone.
    if (this.#refused !== undefined) return;
    const standalone = this.#state === 'standalone' || (this.#state === 'draining' && this.#backoff !== undefined);
    try {
      let lost = false;
      if (standalone) {
        await this.#withTimeout(this.#settings.operationTimeoutMs, () => this.#register());
      } else {
        const result = await this.#withTimeout(this.#settings.operationTimeoutMs, () =>
          this.#backend.renew({ service: this.#instance.service, id: this.#instance.id }, status),
        );
        if (result === 'lost') {
          lost = true;
          await this.#withTimeout(this.#settings.operationTimeoutMs, () => this.#register());
          this.#log.info({}, 'the registry had lost this instance; registered it again');
          this.emit('reregistered', { reason: 'the registry no longer knew the instance' });
        }
      }
      this.#heartbeats[lost ? 'lost' : 'ok']++;
      if (this.#backoff !== undefined) {
        this.#backoff = undefined;
        if (this.#state === 'standalone') this.#transition('registered', 'the registry is reachable again');
        else this.#log.info({}, 'the registry is reachable again');
      }
    } catch (error) {
      this.#heartbeats.failed++;
      if (isRefusal(error)) this.#refuse(error);
      else this.#goStandalone(error);
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
    else this.#transition('standalone', reason, { error, level: 'warn', message: `standalone: ${reason}; retrying in the background` });
    if (this.#state === 'standalone' && this.#timer === undefined && this.#beat === undefined) this.#schedule(this.#backoff.duration);
  }

  #refuse(error: RollcallError): void {
    this.#refused = error;
    this.#backoff = undefined;
    const reason = `the ${this.#backend.kind} registry refused the instance: ${error.message}`;
    const message = `${reason}; not retrying: fix the registration options and restart`;
    if (this.#state === 'registered') this.#transition('standalone', reason, { error, level: 'error', message: `standalone: ${message}` });
    else this.#log.error({ err: error }, message);
    this.emit('refused', { error });
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

  #transition(to: RegistrationState, reason: string, log: TransitionLog = {}): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    const fields = log.error === undefined ? { from, to } : { from, to, err: log.error };
    this.#log[log.level ?? 'info'](fields, log.message ?? `${from} → ${to}: ${reason}`);
    this.emit('stateChange', { from, to, reason });
  }

  #withTimeout<T>(timeoutMs: number, operation: () => Promise<T>): Promise<T> {
    return timeout(timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false }).dangerouslyUnref().execute(operation);
  }
}

/**
 * Registers this process and keeps it registered. Resolves once the first registration succeeded,
 * or after `startupTimeoutMs` in `standalone` state. Rejects with `INVALID_ARGUMENT` for invalid
 * options, and with {@link RegistrationError} (`REGISTRATION_FAILED`) when the registry refused the
 * instance as invalid, or (with `required: true`) when it could not be registered in time.
 */
export async function autoRegister(options: AutoRegisterOptions): Promise<Registration> {
  const registration = new Registration(options);
  await startRegistration(registration);
  return registration;
}

/** A registry call rejected as invalid input: retrying the same instance can never succeed. */
function isRefusal(error: unknown): error is RollcallError {
  return isRollcallError(error) && error.code === 'INVALID_ARGUMENT';
}

function initialInstance(options: AutoRegisterOptions, now: number): ServiceInstance {
  const instance = optionsInstance(options, now, options.host ?? defaultHost());
  if (options.id !== undefined) return instance;
  return Object.freeze({ ...instance, id: defaultInstanceId(instance.service, instance.host, instance.port) });
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
