import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  MemoryBackend,
  ServiceUnavailableError,
  autoRegister,
  createInstance,
  createResolver,
  type Registration,
  type RegistryBackend,
  type RegistryReset,
  type Resolver,
  type ResolverOptions,
} from '../../src/index.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { recordingLogger } from '../helpers/recording-logger.js';

let memory: MemoryBackend;
let faulty: FaultyBackend;
const open: Array<Resolver | Registration> = [];

function resolver(options: Partial<ResolverOptions> = {}): Resolver {
  const created = createResolver({ backend: faulty, envFallback: false, ...options });
  open.push(created);
  return created;
}

/** A live process: registered with a 15 s lease and a heartbeat every 5 s, as autoRegister defaults do. */
async function live(service: string, id: string, port: number): Promise<Registration> {
  const registration = await autoRegister({ backend: memory, service, id, host: '10.0.0.1', port, ttlMs: 15_000 });
  open.push(registration);
  return registration;
}

/** An instance nobody renews: once lost, it stays lost. */
async function orphan(service: string, id: string, port: number): Promise<void> {
  await memory.register(createInstance({ id, service, host: '10.0.0.9', port }, Date.now()), { ttlMs: 600_000 });
}

async function ids(r: Resolver, service: string): Promise<string[]> {
  return (await r.resolveAll(service)).map((instance) => instance.id).sort();
}

/** Resolves every service through every resolver each 100 ms for `durationMs`; returns the failures. */
async function traffic(resolvers: Resolver[], services: string[], durationMs: number, during?: (elapsedMs: number) => Promise<void>): Promise<string[]> {
  const failures: string[] = [];
  for (let elapsed = 0; elapsed < durationMs; elapsed += 100) {
    await during?.(elapsed);
    for (const [index, r] of resolvers.entries()) {
      for (const service of services) {
        await r.resolve(service).catch((error: unknown) => failures.push(`resolver ${index} ${service} at +${elapsed} ms: ${(error as Error).message}`));
      }
    }
    await vi.advanceTimersByTimeAsync(100);
  }
  return failures;
}

beforeEach(() => {
  vi.useFakeTimers();
  memory = new MemoryBackend();
  faulty = new FaultyBackend(memory);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((closable) => ('drain' in closable ? closable.stop() : closable.close())));
  await faulty.close();
  await memory.close();
  vi.useRealTimers();
});

describe('a registry that lost its data, detected', () => {
  it('fails no resolve of a live service across the loss, watching or not', async () => {
    await live('orders', 'orders-1', 8001);
    await live('orders', 'orders-2', 8002);
    await live('billing', 'billing-1', 9001);
    const watching = resolver();
    // Asks again within 1 s, so it reads the emptied registry before the heartbeats (at 4.5-5 s)
    // register the instances again, whatever the jitter.
    const polling = resolver({ watch: false, cacheTtlMs: 1_000 });
    const failures = await traffic([watching, polling], ['orders', 'billing'], 30_000, async (elapsed) => {
      if (elapsed === 3_000) await faulty.loseData();
    });
    expect(failures).toEqual([]);
    for (const r of [watching, polling]) {
      expect(r.stats()).toMatchObject({ resets: 1, unavailable: 0 });
      expect(r.stats().provisionalAnswers).toBeGreaterThan(0);
      expect(await ids(r, 'orders')).toEqual(['orders-1', 'orders-2']);
      expect(r.status('orders')?.provisional).toBe(false);
    }
  });

  it('keeps the instances the registry lost until they re-register, merged with the ones back already', async () => {
    const first = await live('orders', 'orders-1', 8001);
    await live('orders', 'orders-2', 8002);
    const r = resolver();
    expect(await ids(r, 'orders')).toEqual(['orders-1', 'orders-2']);
    await faulty.loseData();
    await vi.advanceTimersByTimeAsync(0);
    expect(await memory.instances('orders')).toEqual([]);
    expect(r.status('orders')).toMatchObject({ provisional: true, listed: 0 });
    expect(await ids(r, 'orders')).toEqual(['orders-1', 'orders-2']);

    // orders-1 comes back with a new port: its fresh copy replaces the kept one.
    await memory.register({ ...first.instance, port: 8101 }, { ttlMs: 15_000 });
    await vi.advanceTimersByTimeAsync(0);
    const answer = await r.resolveAll('orders');
    expect(answer.map((instance) => `${instance.id}:${instance.port}`).sort()).toEqual(['orders-1:8101', 'orders-2:8002']);
    expect(r.status('orders')).toMatchObject({ provisional: true, listed: 1 });

    // Within one heartbeat every live instance is back: the answer is the registry's again.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await ids(r, 'orders')).toEqual(['orders-1', 'orders-2']);
    expect(r.status('orders')).toMatchObject({ provisional: false, listed: 2 });
  });

  it('trusts the registry again after resetGraceMs: an instance that never re-registers leaves', async () => {
    await live('orders', 'orders-1', 8001);
    await orphan('orders', 'orders-9', 8009);
    const r = resolver({ resetGraceMs: 10_000 });
    expect(await ids(r, 'orders')).toEqual(['orders-1', 'orders-9']);
    await faulty.loseData();
    await vi.advanceTimersByTimeAsync(6_000);
    expect(await ids(r, 'orders')).toEqual(['orders-1', 'orders-9']);
    expect(r.status('orders')?.provisional).toBe(true);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(await ids(r, 'orders')).toEqual(['orders-1']);
    expect(r.status('orders')?.provisional).toBe(false);
  });

  it('caches a provisional answer only for degradedRetryMs, so a polling resolver sees re-registrations within it', async () => {
    await orphan('orders', 'orders-1', 8001);
    const r = resolver({ watch: false, cacheTtlMs: 5_000, degradedRetryMs: 1_000 });
    await r.resolve('orders');
    await vi.advanceTimersByTimeAsync(5_000);
    await faulty.loseData();
    expect(await ids(r, 'orders')).toEqual(['orders-1']);
    const fetches = faulty.calls.instances;
    await orphan('orders', 'orders-2', 8002);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await ids(r, 'orders')).toEqual(['orders-1', 'orders-2']);
    expect(faulty.calls.instances).toBe(fetches + 1);
  });

  it('scopes a loss reported for one service to that service', async () => {
    await orphan('orders', 'orders-1', 8001);
    await orphan('orders', 'orders-2', 8002);
    await orphan('billing', 'billing-1', 9001);
    await orphan('billing', 'billing-2', 9002);
    const r = resolver();
    await r.resolve('orders');
    await r.resolve('billing');
    await faulty.loseData({ service: 'billing', reason: 'epoch of billing changed' });
    await vi.advanceTimersByTimeAsync(0);
    expect(await ids(r, 'billing')).toEqual(['billing-1', 'billing-2']);
    await memory.deregister({ service: 'orders', id: 'orders-2' });
    await vi.advanceTimersByTimeAsync(0);
    expect(await ids(r, 'orders')).toEqual(['orders-1']);
  });

  it('reports each loss once: one event, one warn line, a counter, and provisional in status()', async () => {
    await orphan('orders', 'orders-1', 8001);
    const logger = recordingLogger();
    const r = resolver({ logger, resetGraceMs: 12_000 });
    const resets = vi.fn();
    r.on('reset', resets);
    await r.resolve('orders');
    await faulty.loseData({ reason: 'Redis restarted (run id changed)' });
    for (let n = 0; n < 20; n++) {
      await r.resolve('orders');
      await vi.advanceTimersByTimeAsync(250);
    }
    expect(resets.mock.calls).toEqual([[{ service: undefined, reason: 'Redis restarted (run id changed)', graceMs: 12_000 }]]);
    expect(logger.at('warn')).toHaveLength(1);
    expect(logger.at('warn')[0]?.msg).toBe('the registry was lost (Redis restarted (run id changed)); for 12000 ms, cached instances missing from its answers are kept');
    expect(r.stats().resets).toBe(1);
    expect(r.health).toBe('healthy');
    expect(r.status('orders')).toMatchObject({ source: 'cache', provisional: true });
  });
});

describe('without a detected loss, the registry is the truth as before', () => {
  it('drops a deregistered instance at once when watching and within cacheTtlMs when polling', async () => {
    await orphan('orders', 'orders-1', 8001);
    await orphan('orders', 'orders-2', 8002);
    const watching = resolver();
    const polling = resolver({ watch: false, cacheTtlMs: 1_000 });
    expect(await ids(watching, 'orders')).toEqual(['orders-1', 'orders-2']);
    expect(await ids(polling, 'orders')).toEqual(['orders-1', 'orders-2']);
    await memory.deregister({ service: 'orders', id: 'orders-2' });
    await vi.advanceTimersByTimeAsync(0);
    expect(await ids(watching, 'orders')).toEqual(['orders-1']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await ids(polling, 'orders')).toEqual(['orders-1']);
  });

  it('drops an instance whose lease expires as soon as it expires', async () => {
    await orphan('orders', 'orders-1', 8001);
    await memory.register(createInstance({ id: 'orders-2', service: 'orders', host: '10.0.0.9', port: 8002 }, Date.now()), { ttlMs: 3_000 });
    const r = resolver();
    expect(await ids(r, 'orders')).toEqual(['orders-1', 'orders-2']);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(await ids(r, 'orders')).toEqual(['orders-1']);
  });

  it('takes an empty answer after a silent loss as final', async () => {
    await orphan('orders', 'orders-1', 8001);
    const r = resolver();
    await r.resolve('orders');
    await faulty.loseData({ detected: false });
    await vi.advanceTimersByTimeAsync(0);
    await expect(r.resolve('orders')).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(r.stats().resets).toBe(0);
  });

  it('trusts every answer at once with resetGraceMs: 0', async () => {
    await orphan('orders', 'orders-1', 8001);
    const r = resolver({ resetGraceMs: 0 });
    await r.resolve('orders');
    await faulty.loseData();
    await vi.advanceTimersByTimeAsync(0);
    await expect(r.resolve('orders')).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(r.stats().resets).toBe(1);
  });

  it('lets a deregistration inside the grace window leave once the window ends', async () => {
    await orphan('orders', 'orders-1', 8001);
    await orphan('orders', 'orders-2', 8002);
    const r = resolver({ resetGraceMs: 5_000 });
    await r.resolve('orders');
    await faulty.loseData();
    await orphan('orders', 'orders-1', 8001);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await ids(r, 'orders')).toEqual(['orders-1']);
  });
});

describe('the onReset subscription', () => {
  function backendWithReset(): { backend: RegistryBackend; emit: (reset: unknown) => void; unsubscribe: ReturnType<typeof vi.fn> } {
    let listener: ((reset: RegistryReset) => void) | undefined;
    const unsubscribe = vi.fn();
    const backend: RegistryBackend = {
      kind: 'scripted',
      register: () => Promise.resolve(),
      renew: () => Promise.resolve('renewed'),
      deregister: () => Promise.resolve(),
      instances: () => Promise.resolve([]),
      services: () => Promise.resolve([]),
      onReset: (given) => {
        listener = given;
        return unsubscribe;
      },
      close: () => Promise.resolve(),
    };
    return { backend, emit: (reset) => listener?.(reset as RegistryReset), unsubscribe };
  }

  it('is taken when the backend offers it and released on close', async () => {
    const { backend, emit, unsubscribe } = backendWithReset();
    const r = createResolver({ backend });
    emit({ reason: 'flushed' });
    expect(r.stats().resets).toBe(1);
    await r.close();
    expect(unsubscribe).toHaveBeenCalledTimes(1);
    emit({ reason: 'flushed again' });
    expect(r.stats().resets).toBe(1);
  });

  it('survives malformed reports and throwing listeners', async () => {
    const { backend, emit } = backendWithReset();
    const logger = recordingLogger();
    const r = createResolver({ backend, logger });
    r.on('reset', () => {
      throw new Error('listener bug');
    });
    for (const report of [null, 42, { service: 7, reason: {} }, { service: 'bad name!', reason: 'x'.repeat(10_000) }, { reason: 'line\r\nbreak' }]) {
      expect(() => emit(report)).not.toThrow();
    }
    expect(r.stats().resets).toBe(5);
    expect(logger.at('warn').every((line) => (line.msg ?? '').length < 400 && !/[\r\n]/.test(line.msg ?? ''))).toBe(true);
    expect(logger.at('error')).toHaveLength(5);
    await r.close();
  });
});
