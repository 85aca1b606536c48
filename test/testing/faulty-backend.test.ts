import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryBackend, RegistryUnavailableError, createInstance } from '../../src/index.js';
import { FaultyBackend } from '../../src/testing/index.js';

const instance = createInstance({ id: 'a', service: 'orders', host: 'h', port: 1 }, 0);
let memory: MemoryBackend;
let faulty: FaultyBackend;

beforeEach(() => {
  vi.useFakeTimers();
  memory = new MemoryBackend();
  faulty = new FaultyBackend(memory);
});
afterEach(async () => {
  await faulty.close();
  await memory.close();
  vi.useRealTimers();
});

describe('FaultyBackend', () => {
  it('passes calls through when healthy and counts them', async () => {
    await faulty.register(instance, { ttlMs: 5_000 });
    expect(await faulty.instances('orders')).toHaveLength(1);
    expect(faulty.calls).toMatchObject({ register: 1, instances: 1 });
    expect(faulty.kind).toBe('memory');
  });

  it('fails every call with a REGISTRY_UNAVAILABLE error, or the given one', async () => {
    faulty.fail();
    await expect(faulty.instances('orders')).rejects.toBeInstanceOf(RegistryUnavailableError);
    faulty.fail(new Error('custom'));
    await expect(faulty.services()).rejects.toThrow('custom');
    faulty.heal();
    await expect(faulty.services()).resolves.toEqual([]);
  });

  it('hangs calls until healed, then runs them', async () => {
    faulty.hang();
    let done = false;
    const pending = faulty.register(instance, { ttlMs: 5_000 }).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(done).toBe(false);
    faulty.heal();
    await pending;
    expect(await memory.instances('orders')).toHaveLength(1);
  });

  it('rejects hung calls on close', async () => {
    faulty.hang();
    const pending = faulty.services();
    await faulty.close();
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('delays calls and watch deliveries when slow', async () => {
    faulty.slow(1_000);
    let done = false;
    const pending = faulty.services().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    const seen: number[] = [];
    faulty.watch('orders', { onChange: (list) => seen.push(list.length) });
    await vi.advanceTimersByTimeAsync(999);
    expect(seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toEqual([0]);
  });

  it('interrupts watches while failing and delivers the current list on heal', async () => {
    const seen: Array<number | string> = [];
    faulty.watch('orders', { onChange: (list) => seen.push(list.length), onError: (e) => seen.push(e.message) });
    await vi.advanceTimersByTimeAsync(0);
    faulty.fail();
    await memory.register(instance, { ttlMs: 5_000 });
    await vi.advanceTimersByTimeAsync(0);
    faulty.heal();
    expect(seen).toEqual([0, 'memory registry: call failed: injected fault: registry down', 1]);
  });

  it('wipe() loses the data of a memory backend and needs a wipe function otherwise', async () => {
    await faulty.register(instance, { ttlMs: 5_000 });
    await faulty.wipe();
    expect(await memory.instances('orders')).toEqual([]);
    const other = new FaultyBackend({ ...memory, kind: 'custom', instances: () => Promise.resolve([]) } as never);
    await expect(other.wipe()).rejects.toThrow(/Invalid options\.wipe/);
  });
});
