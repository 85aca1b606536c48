import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  InvalidArgumentError,
  MemoryBackend,
  RegistryUnavailableError,
  createInstance,
  describeRegistry,
  type InstanceStatus,
  type RegistryBackend,
  type ServiceInstance,
} from '../../src/index.js';
import { describeServices } from '../../src/inspection/describe.js';

afterEach(() => {
  vi.useRealTimers();
});

const lease = { ttlMs: 60_000 };

function instance(service: string, id: string, status: InstanceStatus = 'passing'): ServiceInstance {
  return createInstance({ id, service, host: '10.0.0.1', port: 8080, status }, 1_000);
}

async function memoryWith(...instances: ServiceInstance[]): Promise<MemoryBackend> {
  const backend = new MemoryBackend();
  for (const each of instances) await backend.register(each, lease);
  return backend;
}

/** `inner`, except that `instances()` of the services in `broken` does what `broken` says. */
function withBrokenServices(inner: RegistryBackend, broken: Record<string, () => Promise<ServiceInstance[]>>, listed?: string[]): RegistryBackend {
  return {
    kind: inner.kind,
    register: (i, l) => inner.register(i, l),
    renew: (ref, status) => inner.renew(ref, status),
    deregister: (ref) => inner.deregister(ref),
    instances: (service) => broken[service]?.() ?? inner.instances(service),
    services: async () => listed ?? (await inner.services()),
    close: () => inner.close(),
  };
}

describe('describeRegistry', () => {
  it('reads every service with its instances, sorted, with counts per status and a health per service', async () => {
    const backend = await memoryWith(
      instance('orders.api', 'o-2', 'critical'),
      instance('orders.api', 'o-1', 'passing'),
      instance('auth_service', 'a-1', 'warning'),
      instance('auth_service', 'a-2', 'draining'),
      instance('Billing', 'b-1', 'critical'),
      instance('Billing', 'b-2', 'draining'),
    );

    const registry = await describeRegistry(backend, { clock: { now: () => 42 } });

    expect(registry.backend).toBe('memory');
    expect(registry.readAt).toBe(42);
    expect(registry.services.map((s) => [s.service, s.health, s.instances.map((i) => i.id)])).toEqual([
      ['Billing', 'critical', ['b-1', 'b-2']],
      ['auth_service', 'warning', ['a-1', 'a-2']],
      ['orders.api', 'passing', ['o-1', 'o-2']],
    ]);
    expect(registry.services[1]?.counts).toEqual({ passing: 0, warning: 1, critical: 0, draining: 1 });
    expect(registry.services[1]?.error).toBeUndefined();
    expect(registry.instanceCounts).toEqual({ passing: 1, warning: 1, critical: 2, draining: 2 });
    expect(registry.healthCounts).toEqual({ passing: 1, warning: 1, critical: 1, 'no-instances': 0, unknown: 0 });
  });

  it('reports a service that cannot be read, and one listed without instances, and reads the others', async () => {
    const inner = await memoryWith(instance('orders', 'o-1'), instance('payments', 'p-1'));
    const backend = withBrokenServices(
      inner,
      { payments: () => Promise.reject(new RegistryUnavailableError('memory', 'instances', 'connection reset')) },
      ['orders', 'payments', 'retired'],
    );

    const registry = await describeRegistry(backend);

    expect(registry.services).toEqual([
      expect.objectContaining({ service: 'orders', health: 'passing' }),
      {
        service: 'payments',
        health: 'unknown',
        instances: [],
        counts: { passing: 0, warning: 0, critical: 0, draining: 0 },
        error: { code: 'REGISTRY_UNAVAILABLE', message: 'memory registry: instances failed: connection reset' },
      },
      { service: 'retired', health: 'no-instances', instances: [], counts: { passing: 0, warning: 0, critical: 0, draining: 0 } },
    ]);
    expect(registry.healthCounts).toEqual({ passing: 1, warning: 0, critical: 0, 'no-instances': 1, unknown: 1 });
  });

  it('gives up on a service whose read hangs after timeoutMs, and still reports the others', async () => {
    vi.useFakeTimers();
    const inner = await memoryWith(instance('orders', 'o-1'), instance('stuck', 's-1'));
    const backend = withBrokenServices(inner, { stuck: () => new Promise<never>(() => {}) });

    const reading = describeRegistry(backend, { timeoutMs: 250 });
    await vi.advanceTimersByTimeAsync(250);
    const registry = await reading;

    expect(registry.services.map((s) => s.health)).toEqual(['passing', 'unknown']);
    expect(registry.services[1]?.error).toEqual({ code: 'REGISTRY_UNAVAILABLE', message: 'memory registry: instances(stuck) failed: no answer within 250 ms' });
  });

  it('reads at most `concurrency` services at a time', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
    const inner = await memoryWith(...names.map((name) => instance(name, `${name}-1`)));
    let running = 0;
    let most = 0;
    const counting: RegistryBackend = {
      ...withBrokenServices(inner, {}),
      instances: async (service) => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        return inner.instances(service);
      },
    };

    const registry = await describeRegistry(counting, { concurrency: 3 });

    expect(registry.services.map((s) => s.service)).toEqual(names);
    expect(most).toBe(3);
  });

  it('rejects when the list of services cannot be read: with the backend error, or REGISTRY_UNAVAILABLE after timeoutMs', async () => {
    const inner = new MemoryBackend();
    const failing: RegistryBackend = { ...withBrokenServices(inner, {}), services: () => Promise.reject(new Error('socket closed')) };
    const error = await describeRegistry(failing).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RegistryUnavailableError);
    expect(error).toMatchObject({ code: 'REGISTRY_UNAVAILABLE', message: 'memory registry: services failed: socket closed' });

    vi.useFakeTimers();
    const hanging: RegistryBackend = { ...withBrokenServices(inner, {}), services: () => new Promise<never>(() => {}) };
    const reading = describeRegistry(hanging, { timeoutMs: 100 }).catch((caught: unknown) => caught);
    await vi.advanceTimersByTimeAsync(100);
    expect(await reading).toMatchObject({ code: 'REGISTRY_UNAVAILABLE', message: 'memory registry: services failed: no answer within 100 ms' });

    const garbage = { ...withBrokenServices(inner, {}), services: () => Promise.resolve('orders' as unknown as string[]) };
    await expect(describeRegistry(garbage)).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE', message: expect.stringContaining('instead of a list of names') as string });
  });

  it('rejects bad input with InvalidArgumentError naming the field', async () => {
    const backend = new MemoryBackend();
    await expect(describeRegistry(null as unknown as RegistryBackend)).rejects.toMatchObject({ field: 'backend' });
    await expect(describeRegistry({ kind: 'x' } as unknown as RegistryBackend)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(describeRegistry(backend, 'fast' as never)).rejects.toMatchObject({ field: 'describeRegistry options' });
    await expect(describeRegistry(backend, { concurrency: 0 })).rejects.toMatchObject({ field: 'describeRegistry options.concurrency', expected: 'an integer from 1 to 256' });
    await expect(describeRegistry(backend, { timeoutMs: 1.5 })).rejects.toMatchObject({ field: 'describeRegistry options.timeoutMs' });
    await expect(describeRegistry(backend, { clock: {} as never })).rejects.toMatchObject({ field: 'describeRegistry options.clock' });
  });
});

describe('describeServices', () => {
  it('reads the named services only, without listing the registry, and describes an unknown one as no-instances', async () => {
    const memory = await memoryWith(instance('orders', 'o-1'), instance('orders', 'o-2', 'critical'), instance('payments', 'p-1'));
    const backend = withBrokenServices(memory, { billing: () => Promise.reject(new RegistryUnavailableError('memory', 'instances', 'down')) });
    const services = vi.spyOn(backend, 'services');
    const described = await describeServices(backend, ['orders', 'nobody', 'billing', 'orders']);
    expect(services).not.toHaveBeenCalled();
    expect(described.services.map(({ service, health, instances }) => [service, health, instances.map((i) => i.id)])).toEqual([
      ['billing', 'unknown', []],
      ['nobody', 'no-instances', []],
      ['orders', 'passing', ['o-1', 'o-2']],
    ]);
    expect(described.healthCounts).toEqual({ passing: 1, warning: 0, critical: 0, 'no-instances': 1, unknown: 1 });
    expect(described.instanceCounts).toEqual({ passing: 1, warning: 0, critical: 1, draining: 0 });
  });

  it('rejects names that are not service names, and a list that is not an array', async () => {
    const backend = await memoryWith();
    await expect(describeServices(backend, ['orders', 'bad/name'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'services[1]' });
    await expect(describeServices(backend, 'orders' as unknown as string[])).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
