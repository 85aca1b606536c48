import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryBackend, MemoryRegistry, createInstance, type ServiceInstance } from '../../src/index.js';

const instance = (id: string): ServiceInstance => createInstance({ id, service: 'orders', host: '10.0.0.1', port: 80 }, Date.now());

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('MemoryBackend under fake timers', () => {
  it('expires an instance exactly at its TTL and tells watchers', async () => {
    const backend = new MemoryBackend();
    const seen: number[] = [];
    backend.watch('orders', { onChange: (list) => seen.push(list.length) });
    await backend.register(instance('a'), { ttlMs: 5_000 });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(await backend.instances('orders')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await backend.instances('orders')).toHaveLength(0);
    expect(seen).toEqual([0, 1, 0]);
    await backend.close();
  });

  it('renewal pushes the expiry forward by a full TTL', async () => {
    const backend = new MemoryBackend();
    await backend.register(instance('a'), { ttlMs: 5_000 });
    await vi.advanceTimersByTimeAsync(4_000);
    expect(await backend.renew(instance('a'), 'passing')).toBe('renewed');
    await vi.advanceTimersByTimeAsync(4_999);
    expect(await backend.instances('orders')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await backend.renew(instance('a'), 'passing')).toBe('lost');
    await backend.close();
  });

  it('clear() loses every registration and tells watchers', async () => {
    const registry = new MemoryRegistry();
    const backend = new MemoryBackend({ registry });
    const seen: number[] = [];
    backend.watch('orders', { onChange: (list) => seen.push(list.length) });
    await backend.register(instance('a'), { ttlMs: 5_000 });
    registry.clear();
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual([0, 1, 0]);
    expect(await backend.services()).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    await backend.close();
  });

  it('coalesces changes made in one tick into one delivery', async () => {
    const backend = new MemoryBackend();
    const seen: number[] = [];
    backend.watch('orders', { onChange: (list) => seen.push(list.length) });
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all([backend.register(instance('a'), { ttlMs: 5_000 }), backend.register(instance('b'), { ttlMs: 5_000 })]);
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual([0, 2]);
    await backend.close();
  });

  it('keeps one underlying watch per service however many subscribe', async () => {
    const backend = new MemoryBackend();
    const stops = Array.from({ length: 5 }, () => backend.watch('orders', { onChange: () => {} }));
    backend.watch('billing', { onChange: () => {} });
    expect(backend.activeWatches).toBe(2);
    stops.forEach((stop) => stop());
    expect(backend.activeWatches).toBe(1);
    await backend.close();
    expect(backend.activeWatches).toBe(0);
  });

  it('closing a backend with a private registry clears its lease timers; a shared registry keeps them', async () => {
    const own = new MemoryBackend();
    await own.register(instance('a'), { ttlMs: 5_000 });
    expect(vi.getTimerCount()).toBe(1);
    await own.close();
    expect(vi.getTimerCount()).toBe(0);

    const registry = new MemoryRegistry();
    const client = new MemoryBackend({ registry });
    await client.register(instance('b'), { ttlMs: 5_000 });
    await client.close();
    expect(await new MemoryBackend({ registry }).instances('orders')).toHaveLength(1);
    registry.clear();
  });

  it('rejects an empty namespace', () => {
    expect(() => new MemoryBackend({ namespace: '' })).toThrow(/Invalid namespace: expected a non-empty string/);
  });
});
