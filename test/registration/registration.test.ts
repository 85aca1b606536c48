import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  InvalidArgumentError,
  MemoryBackend,
  Registration,
  RegistrationError,
  autoRegister,
  createResolver,
  type AutoRegisterOptions,
  type RegistrationState,
} from '../../src/index.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { recordingLogger } from '../helpers/recording-logger.js';

let memory: MemoryBackend;
let faulty: FaultyBackend;
const started: Registration[] = [];

function options(overrides: Partial<AutoRegisterOptions> = {}): AutoRegisterOptions {
  return { backend: faulty, service: 'orders', host: '127.0.0.1', port: 8080, ttlMs: 3_000, random: () => 0, ...overrides };
}

/** autoRegister() with fake timers advanced until it settles. */
async function start(overrides: Partial<AutoRegisterOptions> = {}, advanceMs = 0): Promise<Registration> {
  const pending = autoRegister(options(overrides));
  await vi.advanceTimersByTimeAsync(advanceMs);
  const registration = await pending;
  started.push(registration);
  return registration;
}

const listed = async (): Promise<string[]> => (await memory.instances('orders')).map((i) => `${i.id}:${i.status}`);

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

describe('registering', () => {
  it('registers at start and heartbeats so the instance outlives its TTL', async () => {
    const registration = await start({ id: 'orders-1' });
    expect(registration.state).toBe('registered');
    expect(await listed()).toEqual(['orders-1:passing']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await listed()).toEqual(['orders-1:passing']);
    expect(faulty.calls.renew).toBeGreaterThanOrEqual(60_000 / 1_000 - 1);
  });

  it('heartbeats at ttlMs / 3 minus at most 10% jitter', async () => {
    await start({ ttlMs: 3_000, random: () => 1 });
    await vi.advanceTimersByTimeAsync(899);
    expect(faulty.calls.renew).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(faulty.calls.renew).toBe(1);
  });

  it('gives each process a distinct default id that stays the same across re-registration', async () => {
    const first = await start();
    const second = await start();
    expect(first.instance.id).not.toBe(second.instance.id);
    expect(first.instance.id).toMatch(/^orders-.+-8080-[0-9a-f]{8}$/);
    expect(await memory.instances('orders')).toHaveLength(2);
    const id = first.instance.id;
    await faulty.wipe();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(first.instance.id).toBe(id);
    expect((await memory.instances('orders')).map((i) => i.id).sort()).toEqual([first.instance.id, second.instance.id].sort());
  });

  it('registers again within one heartbeat interval after the registry lost the instance', async () => {
    const logger = recordingLogger();
    const registration = await start({ id: 'orders-1', logger });
    const reregistered = vi.fn();
    registration.on('reregistered', reregistered);
    const registeredAt = registration.instance.registeredAt;
    await faulty.wipe();
    expect(await listed()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await listed()).toEqual(['orders-1:passing']);
    expect(reregistered).toHaveBeenCalledTimes(1);
    expect(registration.state).toBe('registered');
    expect((await memory.instances('orders'))[0]?.registeredAt).toBe(registeredAt);
    expect(logger.at('info').filter((l) => l.msg?.includes('registered it again'))).toHaveLength(1);
  });

  it('validates on construction and starts nothing until started', async () => {
    const timersBefore = vi.getTimerCount();
    expect(() => new Registration(options({ port: 0 }))).toThrow(InvalidArgumentError);
    const idle = new Registration(options());
    await vi.advanceTimersByTimeAsync(60_000);
    expect(idle.state).toBe('starting');
    expect(vi.getTimerCount()).toBe(timersBefore);
    expect(faulty.calls).toMatchObject({ register: 0, renew: 0 });
  });

  it('has no public start(): only autoRegister() starts a registration', async () => {
    const idle = new Registration(options());
    expect('start' in idle).toBe(false);
    const started = await autoRegister(options());
    expect(started.state).toBe('registered');
    expect('start' in started).toBe(false);
    await started.stop();
  });

  it('rejects invalid options with typed errors naming the field', async () => {
    const cases: Array<[Partial<AutoRegisterOptions>, RegExp]> = [
      [{ port: 0 }, /Invalid options\.port: expected an integer port from 1 to 65535, got 0/],
      [{ service: 'Orders Service' }, /Invalid options\.service/],
      [{ ttlMs: 500 }, /Invalid ttlMs: expected an integer number of milliseconds from 1000/],
      [{ heartbeatIntervalMs: 3_000 }, /Invalid heartbeatIntervalMs: expected less than ttlMs \(3000\)/],
      [{ tags: ['a', 'a'] }, /Invalid options\.tags\[1\]: expected tags without duplicates/],
      [{ meta: { 'consul-x': 'y' } }, /Invalid options\.meta key/],
      [{ failuresBeforeCritical: 0 }, /Invalid failuresBeforeCritical/],
      [{ backend: {} as never }, /Invalid backend: expected a RegistryBackend/],
    ];
    for (const [overrides, message] of cases) {
      await expect(autoRegister(options(overrides)), String(message)).rejects.toThrow(message);
    }
    await expect(autoRegister(options({ port: -1 }))).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('registry down', () => {
  it('starts standalone within startupTimeoutMs when the registry hangs, and registers once it answers', async () => {
    faulty.hang();
    const logger = recordingLogger();
    const pending = autoRegister(options({ id: 'orders-1', startupTimeoutMs: 2_000, logger }));
    await vi.advanceTimersByTimeAsync(2_000);
    const registration = await pending;
    started.push(registration);
    expect(registration.state).toBe('standalone');
    expect(logger.at('warn')).toHaveLength(1);
    expect(logger.at('warn')[0]?.msg).toMatch(/^standalone: registry unreachable/);

    const states: RegistrationState[] = [];
    registration.on('stateChange', ({ to }) => states.push(to));
    await vi.advanceTimersByTimeAsync(20_000);
    expect(logger.at('warn')).toHaveLength(1);
    faulty.heal();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(registration.state).toBe('registered');
    expect(states).toEqual(['registered']);
    expect(await listed()).toEqual(['orders-1:passing']);
  });

  it('retries with growing, capped backoff while standalone', async () => {
    faulty.fail();
    const registration = await start({ retryInitialDelayMs: 1_000, retryMaxDelayMs: 8_000 });
    expect(registration.state).toBe('standalone');
    const attempts: number[] = [];
    for (let second = 1; second <= 120; second++) {
      const before = faulty.calls.register;
      await vi.advanceTimersByTimeAsync(1_000);
      if (faulty.calls.register > before) attempts.push(second);
    }
    const gaps = attempts.slice(1).map((at, n) => at - (attempts[n] as number));
    expect(attempts.length).toBeGreaterThan(10);
    expect(attempts.length).toBeLessThan(60);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(9);
  });

  it('is registered again within one heartbeat interval of the registry returning, after a long outage', async () => {
    const registration = await start({ id: 'orders-1', ttlMs: 3_000 });
    faulty.fail();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(registration.state).toBe('standalone');
    faulty.heal();
    await faulty.wipe();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(registration.state).toBe('registered');
    expect(await listed()).toEqual(['orders-1:passing']);
  });

  it('goes standalone when heartbeats fail and back when the registry returns', async () => {
    const registration = await start({ id: 'orders-1' });
    const states: RegistrationState[] = [];
    registration.on('stateChange', ({ to }) => states.push(to));
    faulty.fail();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(registration.state).toBe('standalone');
    faulty.heal();
    await faulty.wipe();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(states).toEqual(['standalone', 'registered']);
    expect(await listed()).toEqual(['orders-1:passing']);
  });

  it('throws RegistrationError with required: true and leaves nothing running', async () => {
    faulty.fail();
    const pending = autoRegister(options({ required: true, startupTimeoutMs: 1_000 }));
    const outcome = expect(pending).rejects.toMatchObject({ code: 'REGISTRATION_FAILED', service: 'orders' });
    await vi.advanceTimersByTimeAsync(1_000);
    await outcome;
    await expect(pending).rejects.toBeInstanceOf(RegistrationError);
    await vi.advanceTimersByTimeAsync(100_000);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('health checks', () => {
  it('reports local health with the heartbeat, with hysteresis against flapping', async () => {
    let healthy = true;
    const registration = await start({
      id: 'orders-1',
      healthChecks: { db: () => healthy },
      failuresBeforeCritical: 3,
      successesBeforePassing: 2,
    });
    const changes: string[] = [];
    registration.on('healthChange', ({ from, to }) => changes.push(`${from}->${to}`));
    const beat = async (): Promise<void> => {
      await vi.advanceTimersByTimeAsync(1_000);
    };

    healthy = false;
    await beat();
    await beat();
    healthy = true;
    await beat();
    expect(await listed()).toEqual(['orders-1:passing']);

    healthy = false;
    await beat();
    await beat();
    expect(await listed()).toEqual(['orders-1:passing']);
    await beat();
    expect(await listed()).toEqual(['orders-1:critical']);
    expect(registration.health.checks.db).toEqual({ status: 'critical', output: 'check returned false' });

    healthy = true;
    await beat();
    expect(await listed()).toEqual(['orders-1:critical']);
    await beat();
    expect(await listed()).toEqual(['orders-1:passing']);
    expect(changes).toEqual(['passing->critical', 'critical->passing']);
  });

  it('counts a throwing, rejecting or slow check as critical, and passes warning through', async () => {
    const registration = await start({
      failuresBeforeCritical: 1,
      healthCheckTimeoutMs: 200,
      healthChecks: {
        throws: () => {
          throw new Error('db down');
        },
        rejects: () => Promise.reject(new Error('connection refused')),
        slow: () => new Promise(() => {}),
        degraded: () => ({ status: 'warning', output: 'high latency' }),
      },
    }, 200);
    expect(registration.health.status).toBe('critical');
    expect(registration.health.checks).toEqual({
      throws: { status: 'critical', output: 'db down' },
      rejects: { status: 'critical', output: 'connection refused' },
      slow: { status: 'critical', output: 'timed out after 200 ms' },
      degraded: { status: 'warning', output: 'high latency' },
    });
  });

  it('registers with the status of the first check round', async () => {
    await start({ id: 'orders-1', healthChecks: { cache: () => 'warning' } });
    expect(await listed()).toEqual(['orders-1:warning']);
  });
});

describe('drain and stop', () => {
  it('drain() marks the instance draining at once, so resolvers stop picking it, then waits', async () => {
    const draining = await start({ id: 'orders-1', port: 8081 });
    await start({ id: 'orders-2', port: 8082 });
    const resolver = createResolver({ backend: memory });
    expect((await resolver.resolveAll('orders')).map((i) => i.id).sort()).toEqual(['orders-1', 'orders-2']);

    let drained = false;
    const drainPromise = draining.drain({ waitMs: 5_000 }).then(() => (drained = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(draining.state).toBe('draining');
    expect(await listed()).toContain('orders-1:draining');
    expect((await resolver.resolveAll('orders')).map((i) => i.id)).toEqual(['orders-2']);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(drained).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await drainPromise;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(await listed()).toContain('orders-1:draining');
    await resolver.close();
  });

  it('waits 6000 ms by default: one resolver cache TTL plus the watch margin', async () => {
    const registration = await start();
    let drained = false;
    void registration.drain().then(() => (drained = true));
    await vi.advanceTimersByTimeAsync(5_999);
    expect(drained).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(drained).toBe(true);
  });

  it('stop() deregisters, is idempotent, and leaves no timers or listeners', async () => {
    const timersBefore = vi.getTimerCount();
    const registration = await start({ id: 'orders-1', healthChecks: { ok: () => true } });
    const stopped = vi.fn();
    registration.on('stateChange', ({ to }) => {
      if (to === 'stopped') stopped();
    });
    const first = registration.stop();
    expect(registration.stop()).toBe(first);
    await first;
    expect(stopped).toHaveBeenCalledTimes(1);
    expect(registration.state).toBe('stopped');
    expect(await listed()).toEqual([]);
    expect(registration.listenerCount('stateChange')).toBe(0);
    expect(vi.getTimerCount()).toBe(timersBefore);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(faulty.calls.renew).toBe(0);
  });

  it('stop() during drain ends the drain wait early', async () => {
    const registration = await start();
    const drain = registration.drain({ waitMs: 60_000 });
    await vi.advanceTimersByTimeAsync(10);
    await registration.stop();
    await expect(drain).resolves.toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() with the registry down logs once and resolves within the operation timeout', async () => {
    const logger = recordingLogger();
    const registration = await start({ logger, operationTimeoutMs: 500 });
    faulty.hang();
    const stop = registration.stop();
    await vi.advanceTimersByTimeAsync(500);
    await stop;
    expect(logger.at('warn').map((l) => l.msg)).toEqual(['could not deregister; the registry drops the instance after ttlMs (3000 ms)']);
  });

  it('supports await using', async () => {
    {
      await using registration = await autoRegister(options({ id: 'orders-1' }));
      expect(registration.state).toBe('registered');
    }
    expect(await listed()).toEqual([]);
  });
});
