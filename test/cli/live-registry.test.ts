import { afterEach, describe, expect, it, vi } from 'vitest';
import { LiveRegistry, type HistoryEntry } from '../../src/dashboard/live-registry.js';
import { MemoryBackend, createInstance, type InstanceStatus } from '../../src/index.js';

const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

function instance(service: string, id: string, status: InstanceStatus) {
  return createInstance({ id, service, host: '127.0.0.1', port: 3000, status }, Date.now());
}

async function live(backend: MemoryBackend, env: Record<string, string>): Promise<{ registry: LiveRegistry; updates: () => number }> {
  const registry = new LiveRegistry({ backend, label: 'memory', timeoutMs: 1_000, env, refreshMs: 20 });
  closing.push(() => registry.close());
  let updates = 0;
  registry.onUpdate(() => updates++);
  await registry.start();
  return { registry, updates: () => updates };
}

const history = (registry: LiveRegistry): Array<[HistoryEntry['kind'], string]> => registry.view().history.map((entry) => [entry.kind, entry.text]);

describe('LiveRegistry', () => {
  it('keeps a history of instance changes and of services appearing and going', async () => {
    const backend = new MemoryBackend();
    closing.push(() => backend.close());
    await backend.register(instance('orders', 'orders-1', 'passing'), { ttlMs: 60_000 });
    const { registry } = await live(backend, {});
    expect(registry.view().services.map((s) => [s.service, s.health, s.resolver?.tier])).toEqual([['orders', 'passing', 'registry']]);

    await backend.renew({ service: 'orders', id: 'orders-1' }, 'warning');
    await backend.register(instance('payments', 'pay-1', 'passing'), { ttlMs: 60_000 });
    await vi.waitFor(() => expect(history(registry)).toContainEqual(['appeared', 'payments appeared']));
    await backend.deregister({ service: 'payments', id: 'pay-1' });
    await vi.waitFor(() => expect(history(registry)[0]).toEqual(['gone', 'payments is no longer listed']));
    expect(history(registry)).toEqual([
      ['gone', 'payments is no longer listed'],
      ['removed', 'payments/pay-1 deregistered or expired'],
      ['added', 'payments/pay-1 registered at http://127.0.0.1:3000 (passing)'],
      ['appeared', 'payments appeared'],
      ['changed', 'orders/orders-1: status passing → warning'],
    ]);
    expect(registry.view().services.map((s) => s.service)).toEqual(['orders']);
  });

  it("records the resolver's fallback once, however often the service is read while it lasts", async () => {
    const backend = new MemoryBackend();
    closing.push(() => backend.close());
    await backend.register(instance('orders', 'orders-1', 'critical'), { ttlMs: 60_000 });
    const { registry, updates } = await live(backend, { ORDERS_URL: 'http://10.0.0.5:8080' });
    expect(registry.view().services[0]?.resolver).toMatchObject({ tier: 'env', eligible: 1, reason: expect.stringContaining('using ORDERS_URL') as string });

    await backend.register(instance('orders', 'orders-2', 'passing'), { ttlMs: 60_000 });
    await vi.waitFor(() => expect(registry.view().services[0]?.resolver?.tier).toBe('registry'));
    await backend.deregister({ service: 'orders', id: 'orders-2' });
    await vi.waitFor(() => expect(registry.view().services[0]?.resolver?.tier).toBe('env'));
    const since = registry.view().services[0]?.resolver?.since;
    // Many refreshes later (every one reads the resolver again), still one entry per transition.
    const seen = updates();
    await vi.waitFor(() => expect(updates()).toBeGreaterThan(seen + 10), { timeout: 5_000 });
    expect(history(registry).filter(([kind]) => kind === 'degraded' || kind === 'recovered')).toEqual([
      ['degraded', expect.stringMatching(/^resolver answers orders from the environment: using ORDERS_URL/) as string],
      ['recovered', 'resolver answers orders from the registry again'],
    ]);
    expect(registry.view().services[0]?.resolver?.since).toBe(since);
  });

  it('marks the registry unreachable while it fails, and reachable again when it answers', async () => {
    const backend = new MemoryBackend();
    closing.push(() => backend.close());
    const failing = { now: false };
    const services = backend.services.bind(backend);
    vi.spyOn(backend, 'services').mockImplementation(() => (failing.now ? Promise.reject(new Error('registry down')) : services()));
    const { registry } = await live(backend, {});
    failing.now = true;
    await vi.waitFor(() => expect(registry.view()).toMatchObject({ reachable: false, error: 'registry down' }));
    failing.now = false;
    await vi.waitFor(() => expect(registry.view().reachable).toBe(true));
    expect(history(registry)).toEqual([
      ['back', 'the registry answers again'],
      ['lost', 'lost the registry: registry down'],
    ]);
  });
});
