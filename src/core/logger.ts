/**
 * Logging goes through an injected logger. rollcall is silent on the happy path and logs
 * transitions only (degraded, recovered, standalone, re-registered), never per request.
 *
 * Two shapes are accepted, told apart by `child`: pino-style loggers (pino, bunyan: `(fields,
 * message)` plus `child`) are used as they are; message-first loggers without `child` (`console`,
 * NestJS's `Logger`) are adapted, so their lines read `message { fields }`.
 */
import { InvalidArgumentError } from './errors.js';

/** The subset of pino's `Logger` rollcall uses; a pino logger satisfies it. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/**
 * A logger that takes the message first and has no `child`: `console`, NestJS's `Logger`. Levels
 * it lacks fall back: `info` to `log`, `debug` to `verbose`, then `log`.
 */
export interface MessageFirstLogger {
  warn(message: string, ...fields: unknown[]): void;
  error(message: string, ...fields: unknown[]): void;
  info?(message: string, ...fields: unknown[]): void;
  log?(message: string, ...fields: unknown[]): void;
  debug?(message: string, ...fields: unknown[]): void;
  verbose?(message: string, ...fields: unknown[]): void;
}

/** What logger options accept. */
export type LoggerLike = Logger | MessageFirstLogger;

const noop = (): void => {};

/** The default logger: drops everything. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * The logger to use for `value` (silent when absent), bound to `bindings`. Throws
 * {@link InvalidArgumentError} for anything that cannot log warnings and errors.
 */
export function loggerOption(value: LoggerLike | undefined, field: string, bindings: Record<string, unknown>): Logger {
  if (value === undefined) return silentLogger;
  const candidate = value as unknown as Record<string, unknown> | null;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.warn !== 'function' || typeof candidate.error !== 'function') {
    throw new InvalidArgumentError(field, 'a logger: pino-style (debug/info/warn/error and child) or message-first such as console or a NestJS Logger', value);
  }
  if (typeof candidate.child === 'function') {
    if (LEVELS.some((level) => typeof candidate[level] !== 'function')) {
      throw new InvalidArgumentError(field, 'a pino-style logger with debug, info, warn, error and child methods', value);
    }
    return (value as Logger).child(bindings);
  }
  return messageFirst(value as MessageFirstLogger, bindings);
}

function messageFirst(target: MessageFirstLogger, bindings: Record<string, unknown>): Logger {
  const method = (...names: (keyof MessageFirstLogger)[]): ((obj: object, msg?: string) => void) => {
    const name = names.find((candidate) => typeof target[candidate] === 'function');
    if (name === undefined) return noop;
    return (obj, msg) => (target[name] as (message: string, ...fields: unknown[]) => void).call(target, msg ?? '', { ...bindings, ...obj });
  };
  return {
    debug: method('debug', 'verbose', 'log'),
    info: method('info', 'log'),
    warn: method('warn'),
    error: method('error'),
    child: (more) => messageFirst(target, { ...bindings, ...more }),
  };
}
