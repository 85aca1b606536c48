import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, MemoryBackend, RegistryUnavailableError, createInstance, type RegistryBackend, type RegistryReset } from '../../src/index.js';
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

  it('loseData() reports the loss to onReset listeners before the first listing read after it', async () => {
    await faulty.register(instance, { ttlMs: 5_000 });
    const events: string[] = [];
    faulty.onReset((reset) => events.push(`reset ${reset.service ?? 'all'}: ${reset.reason}`));
    faulty.watch('orders', { onChange: (list) => events.push(`watch ${list.length}`) });
    await vi.advanceTimersByTimeAsync(0);
    await faulty.loseData({ reason: 'restarted empty' });
    events.push(`instances ${(await faulty.instances('orders')).length}`);
    expect(events).toEqual(['watch 1', 'reset all: restarted empty', 'watch 0', 'instances 0']);
  });

  it('loseData() reports before a listing read through instances() when nobody watches', async () => {
    await faulty.register(instance, { ttlMs: 5_000 });
    const events: string[] = [];
    faulty.onReset((reset) => events.push(`reset ${reset.reason}`));
    const loss = faulty.loseData();
    events.push(`instances ${(await faulty.instances('orders')).length}`);
    await loss;
    expect(events[0]).toBe('reset injected fault: registry lost its data');
    expect(events).toHaveLength(2);
  });

  it('loseData({ service }) loses one service and reports it by name; { detected: false } reports nothing', async () => {
    const billing = createInstance({ id: 'b', service: 'billing', host: 'h', port: 2 }, 0);
    await faulty.register(instance, { ttlMs: 5_000 });
    await faulty.register(billing, { ttlMs: 5_000 });
    const resets: RegistryReset[] = [];
    const stop = faulty.onReset((reset) => resets.push(reset));
    await faulty.loseData({ service: 'billing' });
    expect(await memory.instances('billing')).toEqual([]);
    expect(await memory.instances('orders')).toHaveLength(1);
    expect(resets).toEqual([{ service: 'billing', reason: 'injected fault: registry lost its data' }]);
    await faulty.loseData({ detected: false });
    expect(await memory.instances('orders')).toEqual([]);
    stop();
    await faulty.loseData();
    expect(resets).toHaveLength(1);
  });

  it('loseData() rejects bad options with typed errors', async () => {
    for (const options of [null, { detected: 'yes' }, { service: 'a b' }, { reason: 5 }]) {
      await expect(faulty.loseData(options as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(() => faulty.onReset('listener' as never)).toThrow(InvalidArgumentError);
  });

  it('forwards the resets the wrapped backend reports itself', () => {
    let report: ((reset: RegistryReset) => void) | undefined;
    const stopInner = vi.fn();
    const inner: RegistryBackend = {
      kind: 'detecting',
      register: () => Promise.resolve(),
      renew: () => Promise.resolve('renewed'),
      deregister: () => Promise.resolve(),
      services: () => Promise.resolve([]),
      close: () => Promise.resolve(),
      instances: () => Promise.resolve([]),
      onReset: (listener) => {
        report = listener;
        return stopInner;
      },
    };
    const wrapper = new FaultyBackend(inner);
    const heard = vi.fn();
    const stop = wrapper.onReset(heard);
    report?.({ reason: 'run id changed' });
    expect(heard).toHaveBeenCalledWith({ reason: 'run id changed' });
    stop();
    expect(stopInner).toHaveBeenCalledTimes(1);
  });
});
