/**
 * Wiring for ConsulBackend tests: a double per test, backends that are closed after it, and
 * instance builders.
 */
import { afterEach } from 'vitest';
import { ConsulBackend, type ConsulBackendOptions } from '../../../src/backends/consul/index.js';
import { createInstance, type InstanceInput, type ServiceInstance } from '../../../src/core/instance.js';
import { rawCall, type RawAnswer, type RawRequest } from './client.js';
import { ConsulDouble, type ConsulDoubleOptions } from './server.js';

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

