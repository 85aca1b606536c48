/**
 * The watcher's rules: a change message only makes it read the service (never a listing it takes
 * from the message), a read after the first brings only what changed since the version it knows,
 * reads of one service never overlap, an idle watcher never reads, and after losing its subscriber
 * it reads its services spread over a bounded window. Uses a fake subscriber connection and reads
 * that answer when the test says.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KnownVersion, Listing } from '../../../src/backends/redis/records.js';
import { CATCH_UP_SPREAD_MAX_MS, CATCH_UP_SPREAD_PER_SERVICE_MS, RedisWatcher } from '../../../src/backends/redis/watcher.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';

const NAMESPACE_CHANNEL = '{ns}:sweep';
const channelOf = (service: string): string => `changes:${service}`;

class FakeSubscriber extends EventEmitter {
  status = 'ready';
  readonly subscribed: string[][] = [];
  readonly unsubscribed: string[][] = [];
  /** When set, subscriptions are confirmed only when the test calls `confirm`. */
  static holding = false;
  readonly held: (() => void)[] = [];

  subscribe(...channels: string[]): Promise<number> {
    this.subscribed.push(channels);
    if (!FakeSubscriber.holding) return Promise.resolve(1);
    return new Promise((resolve) => this.held.push(() => resolve(1)));
  }

  /** Confirms the `n`th subscription held. */
  confirm(n: number): void {
    this.held[n]?.();
  }

  unsubscribe(...channels: string[]): Promise<number> {
    this.unsubscribed.push(channels);
    return Promise.resolve(0);
  }

  disconnect(): void {
    this.status = 'end';
    this.emit('end');
  }
}

const made = new Map<string, ServiceInstance>();
/** One instance object per id and host: the same record read twice parses to the same object. */
function instance(id: string, host = '10.0.0.1'): ServiceInstance {
  const key = `${id}@${host}`;
  let found = made.get(key);
  if (found === undefined) {
    found = createInstance({ id, service: 'orders', host, port: 8080 }, 1);
    made.set(key, found);
  }
  return found;
}

function full(version: number, ids: string[], epoch = 'e1'): Listing {
  return { kind: 'full', version, serverNow: 0, epoch, plantedKeys: 0, latestDeadline: undefined, instances: ids.map((id) => instance(id)) };
}

function delta(version: number, changes: [string, ServiceInstance | undefined][], epoch = 'e1'): Listing {
  return { kind: 'delta', version, serverNow: 0, epoch, plantedKeys: 0, latestDeadline: undefined, changes: new Map(changes) };
}

interface Read {
  readonly service: string;
  readonly known: KnownVersion | undefined;
  resolve(listing: Listing): void;
  reject(error: Error): void;
}

/**
 * A watcher of `services` whose reads wait for the test, and whose messages are versions (anything
 * else is one it cannot read). Each connection is a new fake subscriber.
 */
function harness(services: string[] = ['orders']): {
  watcher: RedisWatcher;
  readonly subscriber: FakeSubscriber;
  delivered: Record<string, string[][]>;
  errors: number;
  pending: Read[];
  readonly reads: number;
  active: boolean[];
  nudges: number;
  answer(listing: Listing): Read;
  fail(): void;
  push(message: string, service?: string): void;
  watch(service: string): () => void;
} {
  const subscribers: FakeSubscriber[] = [];
  const pending: Read[] = [];
  const delivered: Record<string, string[][]> = {};
  const active: boolean[] = [];
  let reads = 0;
  let errors = 0;
  let nudges = 0;
  const watcher = new RedisWatcher({
    list: (service, known) => {
      reads++;
      return new Promise<Listing>((resolve, reject) => pending.push({ service, known, resolve, reject }));
    },
    change: (_service, message) => (/^\d+$/.test(message) ? Number(message) : undefined),
    channel: channelOf,
    namespaceChannel: NAMESPACE_CHANNEL,
    onNamespaceMessage: () => nudges++,
    onActive: (on) => active.push(on),
    connect: () => {
      const subscriber = new FakeSubscriber();
      subscribers.push(subscriber);
      return subscriber as unknown as Redis;
    },
    connectionError: (error) => (error instanceof Error ? error : new Error(String(error))),
    onTransition: () => {},
  });
  watchers.push(watcher);
  const watch = (service: string): (() => void) =>
    watcher.source(service, {
      change: (instances) => (delivered[service] ??= []).push(instances.map((i) => i.id)),
      error: () => errors++,
    });
  for (const service of services) watch(service);
  const current = (): FakeSubscriber => {
    const subscriber = subscribers.at(-1);
    if (subscriber === undefined) throw new Error('not connected');
    return subscriber;
  };
  return {
    watcher,
    get subscriber() {
      return current();
    },
    delivered,
    get errors() {
      return errors;
    },
    pending,
    get reads() {
      return reads;
    },
    active,
    get nudges() {
      return nudges;
    },
    answer: (listing) => {
      const read = pending.shift();
      if (read === undefined) throw new Error('no read is waiting');
      read.resolve(listing);
      return read;
    },
    fail: () => {
      const read = pending.shift();
      if (read === undefined) throw new Error('no read is waiting');
      read.reject(new Error('no answer'));
    },
    push: (message, service = 'orders') => current().emit('message', channelOf(service), message),
    watch,
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const watchers: RedisWatcher[] = [];

afterEach(async () => {
  FakeSubscriber.holding = false;
  vi.useRealTimers();
  await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
});

describe('RedisWatcher', () => {
  it('reads after a message only when it names a version newer than the last read', async () => {
    const h = harness();
    await settle();
    expect(h.reads).toBe(1);
    h.answer(full(10, ['a']));
    await settle();
    h.push('9');
    h.push('10');
    await settle();
    expect(h.reads).toBe(1);
    h.push('11');
    await settle();
    expect(h.reads).toBe(2);
    h.answer(delta(11, [['c', instance('c')]]));
    await settle();
    expect(h.delivered['orders']).toEqual([['a'], ['a', 'c']]);
    expect(h.watcher.refreshes).toBe(2);
    expect(h.watcher.deltas).toBe(1);
  });

  it('asks only for what changed since the version it read, and applies it in id order', async () => {
    const h = harness();
    await settle();
    expect(h.answer(full(10, ['b', 'd'])).known).toBeUndefined();
    await settle();
    h.push('12');
    await settle();
    // Added, replaced, removed, and one that came and went between the reads.
    const read = h.answer(delta(12, [['a', instance('a')], ['b', instance('b', '10.0.0.2')], ['d', undefined], ['z', undefined]]));
    expect(read.known).toEqual({ epoch: 'e1', version: 10 });
    await settle();
    expect(h.delivered['orders']).toEqual([['b', 'd'], ['a', 'b']]);
    // Nothing that changes the list, nothing delivered; the version still moves on.
    h.push('13');
    await settle();
    h.answer(delta(13, [['q', undefined]]));
    await settle();
    h.push('14');
    await settle();
    expect(h.answer(delta(14, [])).known).toEqual({ epoch: 'e1', version: 13 });
    await settle();
    expect(h.delivered['orders']).toHaveLength(2);
  });

  it('takes nothing from a message: a forged listing only makes it read what Redis holds', async () => {
    const h = harness();
    await settle();
    h.answer(full(5, ['a']));
    await settle();
    // What a message carried long ago (version, now, deadline, id, record): unreadable, so a read.
    h.push('99\n0\n-1\nevil\n30000 passing 1 {"id":"evil","host":"evil.example"}');
    await settle();
    expect(h.reads).toBe(2);
    h.answer(delta(5, []));
    await settle();
    // A huge version causes one read, and is not remembered: the next real change still reads.
    h.push(String(Number.MAX_SAFE_INTEGER));
    await settle();
    h.answer(delta(6, [['b', instance('b')]]));
    await settle();
    h.push('7');
    await settle();
    expect(h.reads).toBe(4);
    h.answer(delta(7, [['a', undefined]]));
    await settle();
    expect(h.delivered['orders']).toEqual([['a'], ['a', 'b'], ['b']]);
  });

  it('never overlaps reads: messages during a read cause exactly one more', async () => {
    const h = harness();
    await settle();
    for (let version = 1; version <= 50; version++) h.push(String(version));
    await settle();
    expect(h.reads).toBe(1);
    h.answer(full(50, ['a']));
    await settle();
    expect(h.reads).toBe(2);
    h.answer(delta(50, []));
    await settle();
    expect(h.reads).toBe(2);
    expect(h.delivered['orders']).toEqual([['a']]);
  });

  it('delivers a whole read that went back in version: Redis lost data, and what it holds is the truth', async () => {
    const h = harness();
    await settle();
    h.answer(full(10, ['a']));
    await settle();
    h.push('11');
    await settle();
    h.answer(full(3, ['b'], 'e2'));
    await settle();
    expect(h.delivered['orders']).toEqual([['a'], ['b']]);
    // From there on, versions newer than the last read cause reads, from the new epoch.
    h.push('4');
    await settle();
    expect(h.reads).toBe(3);
    expect(h.pending[0]?.known).toEqual({ epoch: 'e2', version: 3 });
  });

  it('does not deliver a whole read of what it delivered already', async () => {
    const h = harness();
    await settle();
    h.answer(full(0, [], ''));
    await settle();
    // A service without a hash has no epoch: each read is whole, and an empty one stays quiet.
    h.push('1');
    await settle();
    expect(h.answer(full(0, [], '')).known).toBeUndefined();
    await settle();
    expect(h.delivered['orders']).toEqual([[]]);
  });

  it('never reads on a timer: an idle watcher stays idle for a day', async () => {
    vi.useFakeTimers();
    const h = harness(['orders', 'payments']);
    await vi.advanceTimersByTimeAsync(0);
    h.answer(full(1, ['a']));
    h.answer(full(1, ['b']));
    await vi.advanceTimersByTimeAsync(86_400_000);
    expect(h.reads).toBe(2);
  });

  it('retries a failed read with backoff, and delivers the next list even if unchanged', async () => {
    vi.useFakeTimers();
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    h.answer(full(1, ['a']));
    h.push('2');
    await vi.advanceTimersByTimeAsync(0);
    h.fail();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.errors).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(h.reads).toBe(3);
    h.answer(delta(2, []));
    await vi.advanceTimersByTimeAsync(0);
    // The subscribers heard of the error: the list is delivered again.
    expect(h.delivered['orders']).toEqual([['a'], ['a']]);
  });

  it('after losing its subscriber, reads every service again spread over a bounded window', async () => {
    vi.useFakeTimers();
    const services = Array.from({ length: 40 }, (_, n) => `s${n}`);
    const h = harness(services);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.reads).toBe(40);
    while (h.pending.length > 0) h.answer(full(10, ['a']));
    await vi.advanceTimersByTimeAsync(0);
    h.subscriber.emit('end');
    expect(h.errors).toBe(40);
    // The replacement connection comes within the resubscription backoff (about 100 ms)...
    await vi.advanceTimersByTimeAsync(250);
    expect(h.subscriber.subscribed[0]).toEqual([...services.map(channelOf), NAMESPACE_CHANNEL]);
    // ...then the reads come spread over 20 ms per service: never all in one instant.
    const window = Math.min(CATCH_UP_SPREAD_MAX_MS, services.length * CATCH_UP_SPREAD_PER_SERVICE_MS);
    const counts: number[] = [];
    for (let elapsed = 0; elapsed <= window; elapsed += 100) {
      counts.push(h.reads - 40);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(h.reads - 40).toBe(40);
    expect(counts[0]).toBeLessThan(20);
    // Reads after the loss carry the version known: a server that lost nothing answers a delta.
    expect(h.pending.every((read) => read.known?.version === 10)).toBe(true);
    while (h.pending.length > 0) h.answer(delta(10, []));
    await vi.advanceTimersByTimeAsync(0);
    // Delivered again although unchanged: the subscribers heard of the loss meanwhile.
    expect(h.delivered['s0']).toEqual([['a'], ['a']]);
    expect(h.reads).toBe(80);
  });

  it('reads each service once, whichever subscription Redis confirms first', async () => {
    FakeSubscriber.holding = true;
    const h = harness(['orders', 'payments', 'billing']);
    // The connection's own subscription (orders) comes last.
    h.subscriber.confirm(1);
    await settle();
    expect(h.reads).toBe(0);
    h.subscriber.confirm(0);
    await settle();
    expect(h.pending.map((read) => read.service).sort()).toEqual(['orders', 'payments']);
    h.subscriber.confirm(2);
    await settle();
    expect(h.pending.map((read) => read.service).sort()).toEqual(['billing', 'orders', 'payments']);
    while (h.pending.length > 0) h.answer(full(1, ['a']));
    await settle();
    expect(h.reads).toBe(3);
    expect(Object.keys(h.delivered).sort()).toEqual(['billing', 'orders', 'payments']);
  });

  it('subscribes the namespace channel with the first service and leaves it with the last', async () => {
    const h = harness([]);
    const stopOrders = h.watch('orders');
    await settle();
    expect(h.subscriber.subscribed).toEqual([[channelOf('orders'), NAMESPACE_CHANNEL]]);
    const stopPayments = h.watch('payments');
    await settle();
    expect(h.subscriber.subscribed.at(-1)).toEqual([channelOf('payments')]);
    h.subscriber.emit('message', NAMESPACE_CHANNEL, 'anything');
    expect(h.nudges).toBe(1);
    stopOrders();
    expect(h.subscriber.unsubscribed).toEqual([[channelOf('orders')]]);
    stopPayments();
    expect(h.subscriber.unsubscribed.at(-1)).toEqual([channelOf('payments'), NAMESPACE_CHANNEL]);
    expect(h.active).toEqual([true, false]);
  });
});
