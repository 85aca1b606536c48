/**
 * The framework-free lifespan: the one place that knows how a service joins and leaves the
 * registry. It owns the shutdown sequence
 *
 *   drain (stop being picked) → wait the drain period → finish in-flight work → deregister →
 *   close what rollcall created
 *
 * and framework adapters only map their phases onto it: `start` once the server listens,
 * `drain` when shutdown begins, `stop` once in-flight requests are done. `shutdown()` runs the
 * whole sequence for plain `node:http` servers and for workers. Never imports a framework.
 */
import type { Server } from 'node:net';
import type { RegistryBackend } from '../backends/backend.js';
import { InvalidArgumentError, messageOf } from '../core/errors.js';
import { assertServiceName } from '../core/instance.js';
import { unrefTimeout } from '../core/clock.js';
import { durationOption } from '../core/options.js';
import { loggerOption, type Logger } from '../core/logger.js';
import { keepingAlive } from '../registration/keep-alive.js';
import { assertAutoRegisterOptions, rejectNullOptions } from '../registration/options.js';
import { autoRegister, type AutoRegisterOptions, type Registration } from '../registration/registration.js';
import { createResolver, type Resolver } from '../resolution/resolver.js';
import { advertisedHost, assertServer, boundAddress, whenListening, type BoundAddress } from './address.js';
import type { HealthAnswer, LifespanState, RollcallHandle } from './handle.js';
import { healthAnswer } from './health-answer.js';
import { LIFESPAN_OPTION_NAMES, type LifespanOptions } from './options.js';
import { DEFAULT_SIGNALS, onFirstSignal, signalList } from './signals.js';

export type { BoundAddress } from './address.js';
export type { HealthAnswer, HealthAnswerStatus, HealthBody, LifespanState, RollcallHandle } from './handle.js';
export type { LifespanOptions, ResolverSettings, RollcallOptions } from './options.js';

const DEFAULT_IN_FLIGHT_TIMEOUT_MS = 10_000;

/**
 * One service's time in the registry. Create it with {@link lifespan}; the framework adapters
 * construct and drive it themselves.
 */
export class Lifespan implements RollcallHandle {
  readonly service: string;
  readonly backend: RegistryBackend;
  readonly resolver: Resolver;
  readonly #registrationOptions: Omit<AutoRegisterOptions, 'backend' | 'port' | 'host'>;
  readonly #port: number | undefined;
  readonly #host: string | undefined;
  readonly #ownsBackend: boolean;
  readonly #ownsResolver: boolean;
  readonly #inFlightTimeoutMs: number;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #ready = deferred<Registration | undefined>();
  readonly #disposers: Array<() => void> = [];
  #state: LifespanState = 'idle';
  #registration: Registration | undefined;
  #server: Server | undefined;
  #starting: Promise<Registration | undefined> | undefined;
  #draining: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #shutdown: Promise<void> | undefined;

  /** Prefer {@link lifespan}, which also installs signal handlers when asked to. `signals` is ignored here. */
  constructor(options: LifespanOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'a rollcall options object', options);
    rejectNullOptions(options, LIFESPAN_OPTION_NAMES);
    // `signals` stays in the rest: autoRegister ignores it, and lifespan() is where it acts.
    const { backend, resolver, port, host, inFlightTimeoutMs, ...registrationOptions } = options;
    assertServiceName(registrationOptions.service, 'service');
    if (typeof backend !== 'function' && (typeof backend !== 'object' || backend === null)) {
      throw new InvalidArgumentError('backend', 'a RegistryBackend, or a function creating one', backend);
    }
    if (resolver !== undefined && !isResolver(resolver) && (typeof resolver !== 'object' || Array.isArray(resolver))) {
      throw new InvalidArgumentError('resolver', 'a Resolver, or resolver settings (an object)', resolver);
    }
    const inFlight = durationOption(inFlightTimeoutMs, DEFAULT_IN_FLIGHT_TIMEOUT_MS, 'inFlightTimeoutMs', 0);
    this.service = registrationOptions.service;
    this.#registrationOptions = registrationOptions;
    this.#port = port;
    this.#host = host;
    this.#inFlightTimeoutMs = inFlight;
    this.#log = loggerOption(options.logger, 'logger', { component: 'lifespan', service: this.service });
    this.#ownsBackend = typeof backend === 'function';
    this.backend = typeof backend === 'function' ? createdBackend(backend) : backend;
    this.#ownsResolver = !isResolver(resolver);
    try {
      // A mistake fails here, at startup, not as a log line once the server listens.
      assertAutoRegisterOptions({ ...registrationOptions, backend: this.backend, port, host });
      this.resolver = isResolver(resolver) ? resolver : createResolver({ logger: options.logger, ...resolver, backend: this.backend });
    } catch (error) {
      if (this.#ownsBackend) void this.backend.close().catch(() => {});
      throw error;
    }
  }

  get state(): LifespanState {
    return this.#state;
  }

  get registration(): Registration | undefined {
    return this.#registration;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  ready(): Promise<Registration | undefined> {
    return this.#ready.promise;
  }

  health(): HealthAnswer {
    return healthAnswer(this.service, this.#state, this.#registration);
  }

  /**
   * Registers on the address the server bound (overridden by the `port` and `host` options).
   * Without a port it only marks the lifespan running. Idempotent; after shutdown began it
   * registers nothing and resolves `undefined`. Rejects (and logs) when registering fails with
   * `required: true`.
   */
  start(bound?: BoundAddress): Promise<Registration | undefined> {
    if (bound !== undefined && (typeof bound !== 'object' || bound === null)) {
      return Promise.reject(new InvalidArgumentError('address', 'the address the server bound, { port, address? }', bound));
    }
    if (this.#starting !== undefined) return this.#starting;
    if (this.#state !== 'idle') return Promise.resolve(undefined);
    this.#enter('starting');
    this.#starting = this.#register(bound).then(
      (registration) => {
        if (this.#state === 'starting') this.#enter('running');
        this.#ready.resolve(registration);
        return registration;
      },
      (error: unknown) => {
        this.#log.error({ err: error }, `not registered: ${messageOf(error)}`);
        if (this.#state === 'starting') this.#enter('running');
        this.#ready.reject(error);
        throw error;
      },
    );
    return this.#starting;
  }

  /**
   * Drives this lifespan from a `node:http` (or any `net`) server: registers once it listens,
   * and makes `shutdown()` close it between the drain wait and deregistering. A server closed
   * directly (`server.close()`) is deregistered once closed, without the drain: callers picked
   * it until then, so prefer `shutdown()`.
   */
  attach(server: Server): this {
    assertServer(server);
    if (this.#server !== undefined) throw new InvalidArgumentError('server', 'one server per lifespan; attach() was already called', server);
    if (this.#state !== 'idle') throw new InvalidArgumentError('server', `a server attached before start() or shutdown (state is ${this.#state})`, server);
    this.#server = server;
    const cancel = whenListening(server, () => {
      const bound = boundAddress(server);
      if (bound === undefined && this.#port === undefined) this.#log.warn({}, 'the server listens on a pipe, not a TCP port: pass `port` to register');
      this.start(bound).catch(() => {});
    });
    const onClose = (): void => {
      if (this.#shutdown !== undefined) return;
      this.#log.warn({}, 'server closed without shutdown(): deregistering without a drain');
      void this.stop();
    };
    server.once('close', onClose);
    this.#disposers.push(() => {
      cancel();
      server.off('close', onClose);
    });
    return this;
  }

  /**
   * Marks the instance draining (resolvers stop picking it, the health route answers 503) and
   * waits `drainWaitMs` so that they have noticed. Aborts {@link signal}. Idempotent. Keeps the
   * process alive until it resolves, like {@link stop} and {@link shutdown}.
   */
  drain(): Promise<void> {
    this.#draining ??= keepingAlive(this.#drain());
    return this.#draining;
  }

  /**
   * Deregisters, then closes the resolver and backend if rollcall created them, and removes
   * every listener it installed. Ends a pending drain wait early. Idempotent; never rejects
   * (failures are logged: the registry drops the instance after its TTL anyway).
   */
  stop(): Promise<void> {
    this.#stopping ??= keepingAlive(this.#stop());
    return this.#stopping;
  }

  /**
   * The whole graceful sequence: {@link drain} → close the attached server, waiting for
   * in-flight requests (up to `inFlightTimeoutMs`), together with `finish()` (a worker's current
   * job, say) → {@link stop}. Idempotent: later calls return the first call's promise. Keeps the
   * process alive until it resolves, so `await shutdown()` completes even with nothing else alive.
   */
  shutdown(finish?: () => unknown): Promise<void> {
    if (finish !== undefined && typeof finish !== 'function') {
      return Promise.reject(new InvalidArgumentError('finish', 'a function finishing the current work', finish));
    }
    this.#shutdown ??= keepingAlive(
      (async () => {
        try {
          await this.drain();
          await Promise.all([this.#closeServer(), finish?.()]);
        } finally {
          await this.stop();
        }
      })(),
    );
    return this.#shutdown;
  }

  /**
   * Runs `onSignal` (default: `shutdown()`) on the first of `signals`. Only when called: rollcall
   * installs no handler by itself. Returns a disposer; `stop()` also removes the handlers.
   */
  handleSignals(signals: readonly NodeJS.Signals[] = DEFAULT_SIGNALS, onSignal: () => unknown = () => this.shutdown()): () => void {
    if (typeof onSignal !== 'function') throw new InvalidArgumentError('onSignal', 'a function starting the shutdown', onSignal);
    const dispose = onFirstSignal(signalList(signals), (signal) => {
      this.#log.info({ signal }, `${signal} received: shutting down`);
      Promise.resolve()
        .then(onSignal)
        .catch((error: unknown) => {
          this.#log.error({ err: error }, `shutdown after ${signal} failed: ${messageOf(error)}`);
          process.exitCode = 1;
        });
    });
    this.#disposers.push(dispose);
    return dispose;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #register(bound: BoundAddress | undefined): Promise<Registration | undefined> {
    const port = this.#port ?? bound?.port;
    if (port === undefined) return undefined;
    const host = this.#host ?? advertisedHost(bound?.address);
    this.#registration = await autoRegister({ ...this.#registrationOptions, backend: this.backend, port, host });
    return this.#registration;
  }

  async #drain(): Promise<void> {
    if (this.#stopping !== undefined) return;
    this.#enter('draining');
    this.#abort.abort();
    if (this.#starting === undefined) this.#ready.resolve(undefined);
    const registration = await this.#settled();
    await registration?.drain();
  }

  async #stop(): Promise<void> {
    this.#enter('stopping');
    this.#abort.abort();
    for (const dispose of this.#disposers.splice(0)) dispose();
    const registration = await this.#settled();
    await registration?.stop();
    if (this.#ownsResolver) await this.resolver.close();
    if (this.#ownsBackend) {
      await this.backend.close().catch((error: unknown) => this.#log.warn({ err: error }, `closing the ${this.backend.kind} backend failed: ${messageOf(error)}`));
    }
    this.#enter('stopped');
    this.#ready.resolve(undefined);
  }

  // The registration once start() settled; failures were reported by start() already.
  async #settled(): Promise<Registration | undefined> {
    return this.#starting?.catch(() => undefined);
  }

  #closeServer(): Promise<void> {
    const server = this.#server;
    if (server === undefined || !server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      const cut = unrefTimeout(() => {
        this.#log.warn({}, `requests still in flight after inFlightTimeoutMs (${this.#inFlightTimeoutMs} ms): closing their connections`);
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      }, this.#inFlightTimeoutMs);
      server.close(() => {
        clearTimeout(cut);
        resolve();
      });
    });
  }

  #enter(to: LifespanState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#log.debug({ from, to }, `lifespan ${from} → ${to}`);
  }
}

/**
 * Creates a {@link Lifespan}, and installs signal handlers if `signals` asks for them.
 *
 * @example
 * const life = lifespan({ backend, service: 'orders', signals: true }).attach(server);
 * server.listen(0); // registered with the bound port once listening; SIGTERM drains and leaves
 */
export function lifespan(options: LifespanOptions): Lifespan {
  const signals = signalList(options?.signals);
  const life = new Lifespan(options);
  if (signals.length > 0) life.handleSignals(signals);
  return life;
}

const BACKEND_METHODS = ['register', 'renew', 'deregister', 'instances', 'close'] as const;

// What the factory made is rollcall's to close: it must at least be closable.
function createdBackend(factory: () => RegistryBackend): RegistryBackend {
  const created: unknown = factory();
  const candidate = created as Partial<Record<string, unknown>> | null;
  if (typeof candidate !== 'object' || candidate === null || BACKEND_METHODS.some((method) => typeof candidate[method] !== 'function')) {
    throw new InvalidArgumentError('backend', 'a function returning a RegistryBackend', created);
  }
  return created as RegistryBackend;
}

function isResolver(value: unknown): value is Resolver {
  return typeof value === 'object' && value !== null && typeof (value as Resolver).resolve === 'function' && typeof (value as Resolver).close === 'function';
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => {};
  let reject: (error: unknown) => void = () => {};
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody has to wait for it: an unobserved failure is already logged by start().
  promise.catch(() => {});
  return { promise, resolve, reject };
}
