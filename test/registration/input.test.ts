/**
 * Bad registration input gets a typed error naming the option, always: thrown by the constructor,
 * rejected by the async API, never a raw TypeError, never a silent default. And a registry that
 * refuses the instance as invalid is surfaced, not retried forever like an outage.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  InvalidArgumentError,
  MemoryBackend,
  Registration,
  RegistrationError,
  autoRegister,
  type AutoRegisterOptions,
  type RegistrationState,
} from '../../src/index.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { recordingLogger } from '../helpers/recording-logger.js';

let memory: MemoryBackend;
let faulty: FaultyBackend;
const started: Registration[] = [];

function options(overrides: Record<string, unknown> = {}): AutoRegisterOptions {
  return { backend: faulty, service: 'orders', host: '127.0.0.1', port: 8080, ttlMs: 3_000, random: () => 0, ...overrides };
}

async function start(overrides: Record<string, unknown> = {}): Promise<Registration> {
  const registration = await autoRegister(options(overrides));
  started.push(registration);
  return registration;
}

beforeEach(() => {
  vi.useFakeTimers();
  memory = new MemoryBackend();
  faulty = new FaultyBackend(memory);
});

afterEach(async () => {
  faulty.heal();
  await Promise.all(started.splice(0).map((r) => r.stop()));
  await memory.close();
  vi.useRealTimers();
});

describe('autoRegister() options', () => {
  const wrong: Array<[string, Record<string, unknown>, string]> = [
    ['a host that is a number', { host: 5 }, 'options.host'],
    ['a service that is a number', { service: 5 }, 'options.service'],
    ['an id that is a number', { id: 5 }, 'options.id'],
    ['a port that is a string', { port: '8080' }, 'options.port'],
    ['a protocol that is a number', { protocol: 5 }, 'options.protocol'],
    ['tags that are a string', { tags: 'a,b' }, 'options.tags'],
    ['meta that is a string', { meta: 'x' }, 'options.meta'],
    ['a weight that is a string', { weight: '1' }, 'options.weight'],
    ['a zone that is a number', { zone: 5 }, 'options.zone'],
    ['a version that is a number', { version: 5 }, 'options.version'],
    ['a ttlMs that is a string', { ttlMs: '3000' }, 'ttlMs'],
    ['a heartbeatIntervalMs that is NaN', { heartbeatIntervalMs: Number.NaN }, 'heartbeatIntervalMs'],
    ['healthChecks that are a string', { healthChecks: 'db' }, 'healthChecks'],
    ['healthChecks that are an array', { healthChecks: [() => true] }, 'healthChecks'],
    ['a health check that is not a function', { healthChecks: { db: 'SELECT 1' } }, 'healthChecks.db'],
    ['a healthCheckTimeoutMs that is negative', { healthCheckTimeoutMs: -1 }, 'healthCheckTimeoutMs'],
    ['a failuresBeforeCritical that is fractional', { failuresBeforeCritical: 1.5 }, 'failuresBeforeCritical'],
    ['a successesBeforePassing of 0', { successesBeforePassing: 0 }, 'successesBeforePassing'],
    ['required as a string', { required: 'yes' }, 'required'],
    ['a startupTimeoutMs that is Infinity', { startupTimeoutMs: Number.POSITIVE_INFINITY }, 'startupTimeoutMs'],
    ['an operationTimeoutMs of 0', { operationTimeoutMs: 0 }, 'operationTimeoutMs'],
    ['a retryInitialDelayMs that is a string', { retryInitialDelayMs: '1000' }, 'retryInitialDelayMs'],
    ['a retryMaxDelayMs below retryInitialDelayMs', { retryInitialDelayMs: 1_000, retryMaxDelayMs: 10 }, 'retryMaxDelayMs'],
    ['a drainWaitMs that is a string', { drainWaitMs: '6000' }, 'drainWaitMs'],
    ['a logger that is a string', { logger: 'debug' }, 'logger'],
    ['a logger without methods', { logger: {} }, 'logger'],
    ['a clock that is a string', { clock: 'x' }, 'clock'],
    ['a clock without now()', { clock: {} }, 'clock'],
    ['a random that is a number', { random: 0.5 }, 'random'],
    ['a backend without renew and deregister', { backend: { register: () => Promise.resolve() } }, 'backend'],
    ['a backend that is a string', { backend: 'redis://localhost' }, 'backend'],
  ];

  it.each(wrong)('rejects %s with an InvalidArgumentError naming it', async (_what, overrides, field) => {
    expect(() => new Registration(options(overrides))).toThrow(InvalidArgumentError);
    await expect(autoRegister(options(overrides))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field });
    expect(faulty.calls.register).toBe(0);
  });

  const optionNames = [
    'backend', 'service', 'id', 'host', 'port', 'protocol', 'tags', 'meta', 'weight', 'zone', 'version', 'ttlMs',
    'heartbeatIntervalMs', 'healthChecks', 'healthCheckTimeoutMs', 'failuresBeforeCritical', 'successesBeforePassing',
    'required', 'startupTimeoutMs', 'operationTimeoutMs', 'retryInitialDelayMs', 'retryMaxDelayMs', 'drainWaitMs',
    'logger', 'clock', 'random',
  ];

  it.each(optionNames)('rejects %s: null instead of taking the default', async (name) => {
    await expect(autoRegister(options({ [name]: null }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: name });
  });

  it('rejects options that are not an object', async () => {
    await expect(autoRegister(undefined as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'options' });
    await expect(autoRegister('orders' as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'options' });
  });

  it('takes only instance fields from the options: a stray registeredAt or status changes nothing', async () => {
    const registration = await start({ id: 'orders-1', registeredAt: 1, status: 'critical' });
    expect(registration.instance).toMatchObject({ status: 'passing', registeredAt: Date.now() });
  });

  it('accepts console as the logger: transitions land in console.info and console.warn', async () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const registration = await start({ id: 'orders-1', logger: console });
    expect(info).toHaveBeenCalledWith('starting → registered: registered with the registry', expect.objectContaining({ service: 'orders', id: 'orders-1' }));
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(registration.state).toBe('standalone');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toMatch(/^standalone: registry unreachable/);
  });

  it('clamps a random source outside [0, 1) so heartbeats keep their interval', async () => {
    await start({ random: () => 1e9 });
    await vi.advanceTimersByTimeAsync(10_000);
    // ttlMs / 3 = 1000 minus at most 10%: 10 s hold 10 to 11 heartbeats, not thousands.
    expect(faulty.calls.renew).toBeGreaterThanOrEqual(10);
    expect(faulty.calls.renew).toBeLessThanOrEqual(11);
  });
});

describe('drain() input', () => {
  it('rejects bad options instead of throwing, whatever the state', async () => {
    const registration = await start();
    const calls: Array<[string, () => Promise<void>, string]> = [
      ['a negative waitMs', () => registration.drain({ waitMs: -1 }), 'waitMs'],
      ['a waitMs that is a string', () => registration.drain({ waitMs: '5' as never }), 'waitMs'],
      ['a null waitMs', () => registration.drain({ waitMs: null as never }), 'waitMs'],
      ['null options', () => registration.drain(null as never), 'options'],
      ['options that are a number', () => registration.drain(5 as never), 'options'],
    ];
    for (const [what, call, field] of calls) {
      let outcome: Promise<void> | undefined;
      expect(() => (outcome = call()), what).not.toThrow();
      await expect(outcome, what).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field });
    }
    expect(registration.state).toBe('registered');
  });
});

describe('a registry that refuses the instance as invalid', () => {
  const refusal = (): InvalidArgumentError => new InvalidArgumentError('instance.meta', 'meta Consul accepts', 'a value', 'Consul answered 400: Invalid Service Meta');

  it('makes autoRegister() reject at once with RegistrationError, without retrying, even when not required', async () => {
    faulty.fail(refusal());
    const logger = recordingLogger();
    const outcome = autoRegister(options({ logger }));
    await expect(outcome).rejects.toBeInstanceOf(RegistrationError);
    await expect(outcome).rejects.toMatchObject({
      code: 'REGISTRATION_FAILED',
      message: expect.stringMatching(/^Could not register orders: the memory registry refused the instance: Invalid instance\.meta/) as unknown,
      cause: expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'instance.meta' }) as unknown,
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(faulty.calls.register).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    expect(logger.at('warn')).toEqual([]);
  });

  it('after registering: emits refused and logs one error, stays standalone, and stops calling the registry', async () => {
    const logger = recordingLogger();
    let healthy = true;
    const registration = await start({ id: 'orders-1', logger, failuresBeforeCritical: 1, healthChecks: { db: () => healthy } });
    const refused = vi.fn();
    const states: RegistrationState[] = [];
    registration.on('refused', refused);
    registration.on('stateChange', ({ to }) => states.push(to));

    faulty.fail(refusal());
    await vi.advanceTimersByTimeAsync(1_000);
    const calls = { ...faulty.calls };
    healthy = false;
    await vi.advanceTimersByTimeAsync(10 * 60_000);

    expect(states).toEqual(['standalone']);
    expect(refused).toHaveBeenCalledTimes(1);
    expect(refused).toHaveBeenCalledWith({ error: expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as unknown });
    expect(logger.at('error').map((line) => line.msg)).toEqual([
      expect.stringMatching(/^standalone: the memory registry refused the instance: .*; not retrying/),
    ]);
    expect(logger.at('warn')).toEqual([]);
    expect(faulty.calls).toEqual(calls);
    // The local checks keep running, so health routes stay truthful.
    expect(registration.health.status).toBe('critical');
  });

  it('when it answers after an outage at startup: refused once, then left alone', async () => {
    faulty.fail();
    const logger = recordingLogger();
    const registration = await start({ logger, retryInitialDelayMs: 100 });
    expect(registration.state).toBe('standalone');
    faulty.fail(refusal());
    await vi.advanceTimersByTimeAsync(5_000);
    const registers = faulty.calls.register;
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(faulty.calls.register).toBe(registers);
    expect(logger.at('error')).toHaveLength(1);
    expect(registration.state).toBe('standalone');
  });

  it('keeps retrying a registry that refuses credentials (an operator can fix an ACL while the service runs)', async () => {
    const { RegistryAuthError } = await import('../../src/index.js');
    faulty.fail(new RegistryAuthError('memory', 'register', 'ACL not found'));
    const registration = await start({ retryInitialDelayMs: 100 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(faulty.calls.register).toBeGreaterThan(3);
    faulty.heal();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(registration.state).toBe('registered');
  });
});
