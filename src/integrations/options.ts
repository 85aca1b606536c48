/**
 * What the integrations take: the options shared by `lifespan()`, the Fastify plugin and the Nest
 * module. What they hand back to apps is in handle.ts.
 */
import type { RegistryBackend } from '../backends/backend.js';
import { AUTO_REGISTER_OPTION_NAMES } from '../registration/options.js';
import type { AutoRegisterOptions } from '../registration/registration.js';
import type { Resolver, ResolverOptions } from '../resolution/resolver.js';

/** Options of a resolver created by rollcall: everything but the backend, which is shared. */
export type ResolverSettings = Omit<ResolverOptions, 'backend'>;

/**
 * What every integration takes: {@link AutoRegisterOptions} without `backend`, `port` and `host`
 * (which come from the running server), plus where the backend and resolver come from.
 * Every duration is in milliseconds.
 */
export interface RollcallOptions extends Omit<AutoRegisterOptions, 'backend' | 'port' | 'host'> {
  /**
   * The registry. A backend passed as a value is yours: rollcall never closes it. A function is
   * called once to create one, which is then rollcall's to close, last, after deregistering.
   */
  backend: RegistryBackend | (() => RegistryBackend);
  /**
   * Port to register. @default the port the server actually bound (so listening on port 0 works).
   * Without a server and without `port`, nothing is registered: a worker only resolves.
   */
  port?: number | undefined;
  /**
   * Address callers connect to. @default the address the server bound, unless it is a wildcard
   * (`0.0.0.0`, `::`); then the first non-internal IPv4 address, else `127.0.0.1`
   */
  host?: string | undefined;
  /**
   * The resolver to expose. A {@link Resolver} passed in is yours (never closed); settings create
   * one on the same backend, closed by rollcall after deregistering. @default {} (a resolver with
   * rollcall's defaults and this lifespan's `logger`)
   */
  resolver?: Resolver | ResolverSettings | undefined;
}

/** Options of {@link lifespan}. */
export interface LifespanOptions extends RollcallOptions {
  /**
   * With a server attached: how long `shutdown()` waits for in-flight requests once the server
   * stopped accepting connections, before cutting the connections still open. @default 10000
   */
  inFlightTimeoutMs?: number | undefined;
  /**
   * Run `shutdown()` on these signals. Off unless asked for: rollcall never installs signal
   * handlers behind your back. `true` means `['SIGTERM', 'SIGINT']`. The handlers are removed on
   * the first signal (a second one ends the process at once) and on `stop()`. @default false
   */
  signals?: boolean | readonly NodeJS.Signals[] | undefined;
}

// The compiler keeps this list complete: every option lifespan() adds to autoRegister's.
const LIFESPAN_ONLY_OPTIONS = { resolver: true, inFlightTimeoutMs: true, signals: true } satisfies Record<
  Exclude<keyof LifespanOptions, keyof AutoRegisterOptions>,
  true
>;

/** Names of every {@link LifespanOptions} option. */
export const LIFESPAN_OPTION_NAMES: readonly string[] = [...AUTO_REGISTER_OPTION_NAMES, ...Object.keys(LIFESPAN_ONLY_OPTIONS)];
