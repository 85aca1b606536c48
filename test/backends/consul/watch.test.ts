/**
 * Watches as blocking queries: one long poll per service, changes within one round trip,
 * Consul's index rules (reset when it goes backwards, never 0), jittered waits, rate limiting,
 * backoff on errors with a full list on recovery, and close() aborting the poll at once.
 */
import { describe, expect, it, vi } from 'vitest';
import { resolveSettings, type ConsulBackendOptions } from '../../../src/backends/consul/options.js';
import { consulWatchSource, type WatchDependencies } from '../../../src/backends/consul/watch.js';
import { isRollcallError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { ServiceInstance } from '../../../src/core/instance.js';
import { instance, useConsulHarness } from '../../helpers/consul-double/harness.js';

const start = useConsulHarness();
const HEALTH = '/v1/health/service/orders';

function recorder(): { lists: (readonly ServiceInstance[])[]; errors: Error[]; ids: () => string[]; onChange: (list: readonly ServiceInstance[]) => void; onError: (error: Error) => void } {
  const lists: (readonly ServiceInstance[])[] = [];
  const errors: Error[] = [];
  return {
    lists,
    errors,
    ids: () => (lists.at(-1) ?? []).map((i) => i.id).sort(),
    onChange: (list) => lists.push(list),
    onError: (error) => errors.push(error),
  };
}

/** One service's blocking-query loop on `read` instead of a Consul, as the backend runs it. */
function watchLoop(options: ConsulBackendOptions, read: WatchDependencies['read']): { stop: () => void; errors: Error[] } {
  const errors: Error[] = [];
  const source = consulWatchSource({
    settings: resolveSettings({ env: {}, ...options }),
    logger: silentLogger,
    random: () => 0.5,
    read,
    track: () => {},
    reconnected: () => {},
  });
  return { stop: source('orders', { change: () => {}, error: (error) => errors.push(error) }), errors };
}

describe('watch', () => {
  it('keeps one long poll per service however many subscribers watch it', async () => {
    const { double, backend } = await start();
    const consul = backend();
    const subscribers = [recorder(), recorder(), recorder()];
    const stops = subscribers.map((s) => consul.watch('orders', s));
    const other = consul.watch('payments', recorder());
    await vi.waitFor(() => expect(double.blockingQueries(HEALTH)).toBe(1));
    await vi.waitFor(() => expect(double.blockingQueries('/v1/health/service/payments')).toBe(1));
    expect(consul.stats().activeWatches).toBe(2);
    expect(subscribers.map((s) => s.lists.length)).toEqual([1, 1, 1]);
    expect(double.requestsTo(HEALTH)).toHaveLength(2);
    stops.forEach((stop) => stop());
    other();
    await vi.waitFor(() => expect(double.blockingQueries()).toBe(0));
    expect(consul.stats().activeWatches).toBe(0);
  });

  it('delivers a change made through the agent within the blocking round trip in flight', async () => {
    const { double, backend } = await start();
    const watcher = backend({ watchWaitMs: 60_000 });
    const writer = backend();
    const seen = recorder();
    let requestsAtDelivery = 0;
    watcher.watch('orders', {
      onChange: (list) => {
        seen.onChange(list);
        requestsAtDelivery = double.requestsTo(HEALTH).length;
      },
    });
    await vi.waitFor(() => expect(double.blockingQueries(HEALTH)).toBe(1));
    const requestsBefore = double.requestsTo(HEALTH).length;
    const registered = instance();
    await writer.register(registered, { ttlMs: 15_000 });
    await vi.waitFor(() => expect(seen.ids()).toEqual([registered.id]));
    // The poll that was waiting carried the change: no extra request was needed, and its wait (at
    // least 54 s of the 60 s asked for) is longer than this test may run, so the change ended it.
    expect(requestsAtDelivery).toBe(requestsBefore);
  });

  it('starts without an index, then passes back X-Consul-Index with a jittered wait below watchWaitMs', async () => {
    const { double, backend } = await start();
    const writer = backend();
    const watcher = backend({ watchWaitMs: 20_000, random: () => 0.5 });
    const seen = recorder();
    watcher.watch('orders', seen);
    await vi.waitFor(() => expect(double.blockingQueries(HEALTH)).toBe(1));
    await writer.register(instance(), { ttlMs: 15_000 });
    await vi.waitFor(() => expect(double.requestsTo(HEALTH)).toHaveLength(3));
    const [first, second, third] = double.requestsTo(HEALTH);
    expect(first?.query.has('index')).toBe(false);
    expect(first?.query.has('wait')).toBe(false);
    expect(Number(second?.query.get('index'))).toBeGreaterThan(0);
    expect(Number(third?.query.get('index'))).toBeGreaterThan(Number(second?.query.get('index')));
    // jitterDown(20000, 0.1) with random 0.5: 19000 ms, never above the configured wait.
    expect([second?.query.get('wait'), third?.query.get('wait')]).toEqual(['19000ms', '19000ms']);
  });

  it('spreads waits between processes when randomness differs', async () => {
    const { double, backend } = await start();
    for (const random of [() => 0, () => 0.99]) backend({ watchWaitMs: 10_000, random }).watch('orders', recorder());
    await vi.waitFor(() => expect(double.blockingQueries(HEALTH)).toBe(2));
    const waits = double.requestsTo(HEALTH).flatMap((r) => (r.query.has('wait') ? [r.query.get('wait')] : [])).sort();
    expect(waits).toEqual(['10000ms', '9010ms']);
  });

  it('resets to a non-blocking query when the index goes backwards, then keeps delivering', async () => {
    const { double, backend } = await start();
    const writer = backend();
    const seen = recorder();
    backend().watch('orders', seen);
    await writer.register(instance({ id: 'before' }), { ttlMs: 15_000 });
    await vi.waitFor(() => expect(seen.ids()).toEqual(['before']));
    await vi.waitFor(() => expect(double.blockingQueries(HEALTH)).toBe(1));
    const sent = double.requestsTo(HEALTH).length;
    double.state.restoreSnapshot(3);
    await vi.waitFor(() => expect(double.requestsTo(HEALTH)).toHaveLength(sent + 2));
    const after = double.requestsTo(HEALTH).slice(sent).map((r) => r.query.get('index'));
    expect(after).toEqual([null, '3']);
    await writer.register(instance({ id: 'after' }), { ttlMs: 15_000 });
    await vi.waitFor(() => expect(seen.ids()).toEqual(['after', 'before']));
  });

  it('never passes index 0, even when the answer claims it', async () => {
    const { double, backend } = await start();
    double.injectFault({ path: HEALTH, status: 200, body: '[]', headers: { 'X-Consul-Index': '0' }, times: 1 });
    const seen = recorder();
    backend().watch('orders', seen);
    await vi.waitFor(() => expect(double.blockingQueries(HEALTH)).toBe(1));
    const indexes = double.requestsTo(HEALTH).map((r) => r.query.get('index'));
    expect(indexes.slice(0, 2)).toEqual([null, '1']);
    expect(indexes).not.toContain('0');
  });

  it('answers spurious wake-ups (same index) without redelivering an unchanged list', async () => {
    const { double, backend } = await start();
    const seen = recorder();
    backend().watch('orders', seen);
    await vi.waitFor(() => expect(double.blockingQueries(HEALTH)).toBe(1));
    double.state.wakeBlockingQueries();
    await vi.waitFor(() => expect(double.requestsTo(HEALTH)).toHaveLength(3));
    expect(seen.lists).toHaveLength(1);
  });

  it('paces a service whose index never settles with its token bucket', async () => {
    const { double, backend } = await start();
    backend({ watchRateBurst: 2, watchRateIntervalMs: 300 }).watch('orders', recorder());
    // Every poll is woken the moment it waits: the loop would spin without its bucket.
    await vi.waitFor(
      () => {
        double.state.wakeBlockingQueries();
        expect(double.requestsTo(HEALTH).length).toBeGreaterThanOrEqual(6);
      },
      { timeout: 5_000, interval: 5 },
    );
    // Burst of 2, then one per 300 ms: poll n comes (n - 2) × 300 ms or more after the first.
    const times = double.requestsTo(HEALTH).map((request) => request.receivedAt);
    const first = times[0] ?? 0;
    for (const [n, time] of times.entries()) expect(time - first).toBeGreaterThanOrEqual((n + 1 - 2) * 300 - 50);
  });

  it('lets the burst through at once, then one poll per interval (the loop under fake time)', async () => {
    vi.useFakeTimers();
    let index = 0n;
    const reads: number[] = [];
    // A Consul whose index moves on every read: each blocking query answers at once.
    const { stop } = watchLoop({ watchRateBurst: 2, watchRateIntervalMs: 300 }, () => {
      reads.push(Date.now());
      index++;
      return Promise.resolve({ instances: [], index, body: String(index) });
    });
    try {
      await vi.advanceTimersByTimeAsync(0);
      expect(reads).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(299);
      expect(reads).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(1);
      expect(reads).toHaveLength(3);
      await vi.advanceTimersByTimeAsync(3_000);
      expect(reads).toHaveLength(13);
    } finally {
      stop();
      vi.useRealTimers();
    }
  });

  it('reports failures to subscribers, backs off with growing delays, and delivers a full list on recovery', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { double, backend } = await start();
    const writer = backend();
    await writer.register(instance({ id: 'kept' }), { ttlMs: 15_000 });
    double.injectFault({ path: HEALTH, status: 500, body: 'rpc error: No cluster leader', times: 4 });
    const seen = recorder();
    backend({ watchRetryInitialDelayMs: 100, watchRetryMaxDelayMs: 1_000 }).watch('orders', seen);
    await vi.waitFor(() => expect(seen.ids()).toEqual(['kept']), { timeout: 3_000 });
    expect(seen.errors).toHaveLength(4);
    expect(seen.errors.every((e) => isRollcallError(e) && e.code === 'REGISTRY_UNAVAILABLE')).toBe(true);
    expect(seen.errors[0]?.message).toContain('Consul answered 500: rpc error: No cluster leader');
    const times = double.requestsTo(HEALTH).map((r) => r.receivedAt);
    const gaps = times.slice(1, 5).map((time, n) => time - (times[n] ?? 0));
    // Decorrelated jitter with random fixed at 0.5: about 90, 109, 203, 404 ms (exactly, under fake
    // time, in the next test); here, real time can only stretch them.
    expect(gaps[0]).toBeGreaterThanOrEqual(80);
    expect(gaps[3]).toBeGreaterThanOrEqual(380);
  });

  it('backs off with growing delays between failed polls (the loop under fake time)', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    vi.useFakeTimers();
    const reads: number[] = [];
    const { stop, errors } = watchLoop({ watchRetryInitialDelayMs: 100, watchRetryMaxDelayMs: 1_000 }, () => {
      reads.push(Date.now());
      return reads.length <= 4 ? Promise.reject(new Error('Consul answered 500')) : Promise.resolve({ instances: [], index: 1n, body: '[]' });
    });
    try {
      await vi.advanceTimersByTimeAsync(2_000);
      expect(errors).toHaveLength(4);
      const gaps = reads.slice(1, 5).map((time, n) => time - (reads[n] ?? 0));
      expect(gaps[0]).toBeGreaterThanOrEqual(80);
      expect(gaps[3]).toBeGreaterThan(2 * (gaps[1] ?? 0));
      for (const [n, gap] of gaps.entries()) if (n > 0) expect(gap).toBeGreaterThan(gaps[n - 1] ?? 0);
    } finally {
      stop();
      vi.useRealTimers();
    }
  });

  it('delivers the full list after recovery even when nothing changed during the outage', async () => {
    const { double, backend } = await start();
    const seen = recorder();
    backend({ watchRetryInitialDelayMs: 20 }).watch('orders', seen);
    await vi.waitFor(() => expect(double.blockingQueries(HEALTH)).toBe(1));
    double.injectFault({ path: HEALTH, reset: true, times: 1 });
    double.state.wakeBlockingQueries();
    await vi.waitFor(() => expect(seen.errors).toHaveLength(1));
    await vi.waitFor(() => expect(seen.lists).toHaveLength(2));
    expect(seen.lists.map((list) => list.length)).toEqual([0, 0]);
  });

  it('sends a 403 to subscribers as REGISTRY_AUTH', async () => {
    const { backend } = await start({ acl: { defaultPolicy: 'deny', tokens: {} } });
    const seen = recorder();
    backend({ token: 'unknown-secret', watchRetryInitialDelayMs: 1_000 }).watch('orders', seen);
    await vi.waitFor(() => expect(seen.errors).toHaveLength(1));
    expect(isRollcallError(seen.errors[0]) && seen.errors[0].code).toBe('REGISTRY_AUTH');
    expect(seen.lists).toEqual([]);
  });

  it('aborts the long poll at once on close(), and on the last unsubscribe', async () => {
    const { double, backend } = await start();
    const consul = backend({ watchWaitMs: 600_000 });
    const stop = consul.watch('payments', recorder());
    consul.watch('orders', recorder());
    await vi.waitFor(() => expect(double.blockingQueries()).toBe(2));
    stop();
    await vi.waitFor(() => expect(double.blockingQueries('/v1/health/service/payments')).toBe(0));
    // The polls wait ten minutes (less jitter) unless aborted: close() returning at all is the proof.
    await consul.close();
    await vi.waitFor(() => expect(double.blockingQueries()).toBe(0));
    expect(double.requests.filter((r) => r.path.startsWith('/v1/health/service/') && r.aborted)).toHaveLength(2);
  });
});
