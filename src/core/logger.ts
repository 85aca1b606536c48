/**
 * Logging goes through an injected pino-compatible logger. rollcall is silent on the happy path
 * and logs transitions only (degraded, recovered, standalone, re-registered), never per request.
 */

/** The subset of pino's `Logger` rollcall uses; a pino logger satisfies it. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

const noop = (): void => {};

/** The default logger: drops everything. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
