/**
 * Wiring for ConsulBackend tests: a double per test, backends that are closed after it, a logger
 * that keeps every line, and instance builders.
 */
import { inspect } from 'node:util';
import { afterEach } from 'vitest';
import { ConsulBackend, type ConsulBackendOptions } from '../../../src/backends/consul/index.js';
import { createInstance, type InstanceInput, type ServiceInstance } from '../../../src/core/instance.js';
import type { Logger } from '../../../src/core/logger.js';
import { rawCall, type RawAnswer, type RawRequest } from './client.js';
import { ConsulDouble, type ConsulDoubleOptions } from './server.js';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: object;
  readonly message: string | undefined;
}

/** A pino-compatible logger that records everything, bindings included. */
export function captureLogger(): { logger: Logger; lines: LogLine[]; text: () => string } {
  const lines: LogLine[] = [];
  const make = (bindings: object): Logger => {
    const log = (level: LogLine['level']) => (fields: object, message?: string) => {
      lines.push({ level, fields: { ...bindings, ...fields }, message });
    };
    return {
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return { logger: make({}), lines, text: () => inspect(lines, { depth: 12 }) };
}

export interface Harness {
  readonly double: ConsulDouble;
  /** A backend on the double; closed after the test. `env: {}` unless given, so the machine's CONSUL_* never leak in. */
  readonly backend: (options?: ConsulBackendOptions) => ConsulBackend;
  /** A request straight to the double. */
  readonly call: (method: string, path: string, request?: RawRequest) => Promise<RawAnswer>;
}

/** Registers afterEach cleanup in the calling file; call `start()` inside each test. */
export function useConsulHarness(): (options?: ConsulDoubleOptions) => Promise<Harness> {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return async (options = {}) => {
    const double = await ConsulDouble.start(options);
    cleanups.push(() => double.close());
    return {
      double,
      backend: (backendOptions = {}) => {
        const backend = new ConsulBackend({ address: double.url, env: {}, ...backendOptions });
        cleanups.push(() => backend.close());
        return backend;
      },
      call: (method, path, request) => rawCall(double.url, method, path, request),
    };
  };
}

let sequence = 0;

/** A valid instance of `orders` (unless overridden) with a fresh id. */
export function instance(overrides: Partial<InstanceInput> = {}): ServiceInstance {
  return createInstance({ id: `i-${++sequence}`, service: 'orders', host: '10.0.0.1', port: 8080, ...overrides }, Date.now());
}

