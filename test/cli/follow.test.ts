import { afterEach, describe, expect, it, vi } from 'vitest';
import { followService, untilInterrupted } from '../../src/cli/follow.js';
import { MemoryBackend, RegistryUnavailableError, createInstance, type RegistryBackend, type ServiceInstance } from '../../src/index.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A registry without `watch`, as a future backend may be, answering from a MemoryBackend or failing. */
function pollOnly(memory: MemoryBackend, failing: { now: boolean }): RegistryBackend {
  return {
    kind: 'poll-only',
    register: (instance, lease) => memory.register(instance, lease),
    renew: (ref, status) => memory.renew(ref, status),
    deregister: (ref) => memory.deregister(ref),
    instances: (service) => (failing.now ? Promise.reject(new RegistryUnavailableError('poll-only', 'instances', 'down')) : memory.instances(service)),
    services: () => memory.services(),
    close: () => memory.close(),
  };
}

describe('followService', () => {
  it('reads a backend without watch every interval, reporting lists and errors until stopped', async () => {
    vi.useFakeTimers();
    const memory = new MemoryBackend();
    const failing = { now: false };
    const lists: string[][] = [];
    const errors: string[] = [];
    const stop = followService(pollOnly(memory, failing), 'orders', { onChange: (l) => lists.push(l.map((i) => i.id)), onError: (e) => errors.push(e.message) }, 1_000);
    expect(lists).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(lists).toEqual([[]]);

    await memory.register(createInstance({ id: 'o-1', service: 'orders', host: '127.0.0.1', port: 3001 }, Date.now()), { ttlMs: 60_000 });
    await vi.advanceTimersByTimeAsync(999);
    expect(lists).toEqual([[]]);
    await vi.advanceTimersByTimeAsync(1);
    expect(lists).toEqual([[], ['o-1']]);

    failing.now = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(errors).toEqual(['poll-only registry: instances failed: down']);
    failing.now = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(lists).toEqual([[], ['o-1'], ['o-1']]);

    stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(lists).toHaveLength(3);
    await memory.close();
  });

  it("uses the backend's own watch when it has one", async () => {
    const memory = new MemoryBackend();
    const watch = vi.spyOn(memory, 'watch');
    const lists: (readonly ServiceInstance[])[] = [];
    const stop = followService(memory, 'orders', { onChange: (l) => lists.push(l) });
    expect(watch).toHaveBeenCalledWith('orders', expect.anything());
    await vi.waitFor(() => expect(lists).toEqual([[]]));
    stop();
    await memory.close();
  });
});

describe('untilInterrupted', () => {
  it('resolves when the signal aborts, at once when it already has', async () => {
    const controller = new AbortController();
    let done = false;
    const waiting = untilInterrupted(controller.signal).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    controller.abort();
    await waiting;
    expect(done).toBe(true);
    await expect(untilInterrupted(controller.signal)).resolves.toBeUndefined();
  });
});
