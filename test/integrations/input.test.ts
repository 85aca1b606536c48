/**
 * Bad input to lifespan() and the framework adapters gets an InvalidArgumentError naming the
 * option, thrown where the integration is set up (or rejected by the async calls), never a raw
 * TypeError and never a silent default.
 */
import { createServer } from 'node:http';
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBackend, type RegistryBackend } from '../../src/index.js';
import { attach, healthRouter } from '../../src/integrations/express.js';
import { rollcall } from '../../src/integrations/fastify.js';
import { lifespan } from '../../src/integrations/lifespan.js';
import type { Logger } from '../../src/core/logger.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function backend(): MemoryBackend {
  const memory = new MemoryBackend();
  cleanups.push(() => memory.close());
  return memory;
}

const invalid = (field: string): unknown => expect.objectContaining({ code: 'INVALID_ARGUMENT', field });

describe('lifespan() options', () => {
  const wrong: Array<[string, Record<string, unknown>, string]> = [
    ['a port of null', { port: null }, 'port'],
    ['a host of null', { host: null }, 'host'],
    ['a host that is a number', { host: 5, port: 8080 }, 'options.host'],
    ['a resolver that is a string', { resolver: 'round-robin' }, 'resolver'],
    ['a resolver that is an array', { resolver: [] }, 'resolver'],
    ['a resolver of null', { resolver: null }, 'resolver'],
    ['a backend that is a number', { backend: 5 }, 'backend'],
    ['a backend factory that returns no backend', { backend: () => ({ kind: 'fake' }) }, 'backend'],
    ['an inFlightTimeoutMs of null', { inFlightTimeoutMs: null }, 'inFlightTimeoutMs'],
    ['signals: null', { signals: null }, 'signals'],
    ['a signal that does not exist', { signals: ['SIGFOO'] }, 'signals'],
    ['a signal no process can catch', { signals: ['SIGKILL'] }, 'signals'],
    ['required: null', { required: null }, 'required'],
    ['a logger of null', { logger: null }, 'logger'],
    ['healthChecks that are not functions', { healthChecks: { db: true } }, 'healthChecks.db'],
  ];

  it.each(wrong)('rejects %s when created', (_what, overrides, field) => {
    expect(() => lifespan({ backend: backend(), service: 'orders', ...overrides })).toThrow(invalid(field));
  });

  it('rejects what is not a server, an address or a finish function, and rejects (not throws) from async calls', async () => {
    const life = lifespan({ backend: backend(), service: 'orders', drainWaitMs: 0 });
    expect(() => life.attach(5 as never)).toThrow(invalid('server'));
    expect(() => life.handleSignals(undefined, 'shutdown' as never)).toThrow(invalid('onSignal'));
    let started: Promise<unknown> | undefined;
    expect(() => (started = life.start(8080 as never))).not.toThrow();
    await expect(started).rejects.toEqual(invalid('address'));
    await expect(life.start({ port: 'x' } as never)).rejects.toEqual(invalid('options.port'));
    let shutdown: Promise<unknown> | undefined;
    expect(() => (shutdown = life.shutdown('done' as never))).not.toThrow();
    await expect(shutdown).rejects.toEqual(invalid('finish'));
    await life.shutdown();
  });

  it('survives a signal handler that returns no promise', async () => {
    const life = lifespan({ backend: backend(), service: 'orders' });
    cleanups.push(() => life.stop());
    const onSignal = vi.fn(() => undefined);
    life.handleSignals(['SIGUSR2'], onSignal);
    process.emit('SIGUSR2', 'SIGUSR2');
    await vi.waitFor(() => expect(onSignal).toHaveBeenCalledTimes(1));
  });

  it('accepts console as the logger', async () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    const life = lifespan({ backend: backend(), service: 'orders', port: 8080, logger: console, drainWaitMs: 0 });
    await life.start();
    await life.shutdown();
    expect(info).toHaveBeenCalledWith('starting → registered: registered with the registry', expect.objectContaining({ service: 'orders' }));
  });
});

describe('rollcall/express input', () => {
  it('rejects what is not a server before creating anything', () => {
    const make = vi.fn((): RegistryBackend => backend());
    expect(() => attach({ listen: 8080 } as never, { backend: make, service: 'orders' })).toThrow(invalid('server'));
    expect(make).not.toHaveBeenCalled();
  });

  it('rejects health route options that are not an object, and a null path', () => {
    const life = lifespan({ backend: backend(), service: 'orders' });
    expect(() => healthRouter(life, null as never)).toThrow(invalid('options'));
    expect(() => healthRouter(life, { path: null as never })).toThrow(invalid('path'));
  });

  it('attaches to a real server', async () => {
    const server = createServer();
    const life = attach(server, { backend: backend(), service: 'orders', drainWaitMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    expect((await life.ready())?.state).toBe('registered');
    await life.shutdown();
  });
});

describe('rollcall/fastify input', () => {
  it.each([
    ['logger', { logger: null }],
    ['healthRoute', { healthRoute: null }],
    ['signals', { signals: 'SIGTERM' }],
    ['resolver', { resolver: 'p2c' }],
  ])('fails registering the plugin for a bad %s', async (field, overrides) => {
    const app = Fastify();
    cleanups.push(() => app.close());
    await expect(app.register(rollcall, { backend: backend(), service: 'orders', ...overrides } as never)).rejects.toEqual(invalid(field));
  });
});

describe('lifespan() checks its options without building a registration', () => {
  /** A pino-style logger recording the bindings of every child logger made from it. */
  function bindingsLogger(): { logger: Logger; components: unknown[] } {
    const components: unknown[] = [];
    const noop = (): void => {};
    const logger: Logger = {
      debug: noop,
      info: noop,
      warn: noop,
      error: noop,
      child: (bindings) => {
        components.push(bindings['component']);
        return logger;
      },
    };
    return { logger, components };
  }

  it('makes the registration (and its logger) only once there is an address to register', async () => {
    const { logger, components } = bindingsLogger();
    const life = lifespan({ backend: backend(), service: 'orders', drainWaitMs: 0, logger });
    expect(components).not.toContain('registration');
    await life.start({ port: 8080, address: '127.0.0.1' });
    expect(components.filter((component) => component === 'registration')).toHaveLength(1);
    await life.shutdown();
  });
});
