/**
 * The watcher's rules: a change message only makes it read the service (never a listing it takes
 * from the message), reads of one service never overlap, and timers stay bounded whatever
 * deadline a listing names. Uses a fake subscriber connection and reads that answer when the test
 * says.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Listing } from '../../../src/backends/redis/records.js';
import { RedisWatcher } from '../../../src/backends/redis/watcher.js';
import { createInstance } from '../../../src/core/instance.js';

const CHANNEL = 'changes:orders';

class FakeSubscriber extends EventEmitter {
  status = 'ready';

  subscribe(): Promise<number> {
    return Promise.resolve(1);
  }

  unsubscribe(): Promise<number> {
    return Promise.resolve(0);
  }

  disconnect(): void {
    this.status = 'end';
    this.emit('end');
  }
}

/** A listing read at server time 0, whose earliest deadline is `next` ms later. */
function listing(version: number, ids: string[], next?: number): Listing {
  return {
    version,
    serverNow: 0,
    epoch: '1',
    plantedKeys: 0,
    nextDeadline: next,
    latestDeadline: next,
    instances: ids.map((id) => createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080 }, 1)),
    records: ids,
  };
}

/**
 * A watcher whose reads wait for `answer()`, and whose messages are versions (anything else is one
 * it cannot read). Each connection is a new fake subscriber.
 */
function harness(): {
  watcher: RedisWatcher;
  subscriber: FakeSubscriber;
  delivered: string[][];
  reads: number;
  answer(version: number, ids: string[], next?: number): void;
  fail(): void;
  push(message: string): void;
} {
  const subscribers: FakeSubscriber[] = [];
  const pending: { resolve: (listing: Listing) => void; reject: (error: Error) => void }[] = [];
  const delivered: string[][] = [];
  let reads = 0;
  const watcher = new RedisWatcher({
    list: () => {
      reads++;
      return new Promise<Listing>((resolve, reject) => pending.push({ resolve, reject }));
    },
    change: (_service, message) => (/^\d+$/.test(message) ? Number(message) : undefined),
    channel: () => CHANNEL,
    connect: () => {
      const subscriber = new FakeSubscriber();
      subscribers.push(subscriber);
      return subscriber as unknown as Redis;
    },
    connectionError: (error) => (error instanceof Error ? error : new Error(String(error))),
    onTransition: () => {},
  });
  watcher.source('orders', {
    change: (instances) => delivered.push(instances.map((i) => i.id)),
    error: () => {},
  });
  watchers.push(watcher);
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
    get reads() {
      return reads;
    },
    answer: (version, ids, next) => {
      const read = pending.shift();
      if (read === undefined) throw new Error('no read is waiting');
      read.resolve(listing(version, ids, next));
    },
    fail: () => {
      const read = pending.shift();
      if (read === undefined) throw new Error('no read is waiting');
      read.reject(new Error('no answer'));
    },
    push: (message) => current().emit('message', CHANNEL, message),
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const watchers: RedisWatcher[] = [];

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
});

describe('RedisWatcher', () => {
  it('reads after a message only when it names a version newer than the last read', async () => {
    const h = harness();
    await settle();
    expect(h.reads).toBe(1);
    h.answer(10, ['a']);
    await settle();
    h.push('9');
    h.push('10');
    await settle();
    expect(h.reads).toBe(1);
    h.push('11');
    await settle();
    expect(h.reads).toBe(2);
    h.answer(11, ['a', 'c']);
    await settle();
    expect(h.delivered).toEqual([['a'], ['a', 'c']]);
    expect(h.watcher.refreshes).toBe(2);
  });

  it('takes nothing from a message: a forged listing only makes it read what Redis holds', async () => {
    const h = harness();
    await settle();
    h.answer(5, ['a']);
    await settle();
    // What a message carried before (version, now, deadline, id, record): now unreadable, so a read.
    h.push('99\n0\n-1\nevil\n30000 passing 1 {"id":"evil","host":"evil.example"}');
    await settle();
    expect(h.reads).toBe(2);
    h.answer(5, ['a']);
    await settle();
    // A huge version causes one read, and is not remembered: the next real change still reads.
    h.push(String(Number.MAX_SAFE_INTEGER));
    await settle();
    h.answer(6, ['a', 'b']);
    await settle();
    h.push('7');
    await settle();
    expect(h.reads).toBe(4);
    h.answer(7, ['b']);
    await settle();
    expect(h.delivered).toEqual([['a'], ['a', 'b'], ['b']]);
  });

  it('never overlaps reads: messages during a read cause exactly one more', async () => {
    const h = harness();
    await settle();
    for (let version = 1; version <= 50; version++) h.push(String(version));
    await settle();
    expect(h.reads).toBe(1);
    h.answer(50, ['a']);
    await settle();
    expect(h.reads).toBe(2);
    h.answer(50, ['a']);
    await settle();
    expect(h.reads).toBe(2);
    expect(h.delivered).toEqual([['a']]);
  });

  it('delivers a read that went back in version: Redis lost data, and what it holds is the truth', async () => {
    const h = harness();
    await settle();
    h.answer(10, ['a']);
    await settle();
    h.push('11');
    await settle();
    h.answer(3, ['b']);
    await settle();
    expect(h.delivered).toEqual([['a'], ['b']]);
    // From there on, versions newer than the last read cause reads.
    h.push('4');
    await settle();
    expect(h.reads).toBe(3);
  });

  it('reads at the earliest deadline, following it as reads move it', async () => {
    const h = harness();
    await settle();
    h.answer(1, ['a'], 60_000);
    await settle();
    h.push('2');
    await settle();
    h.answer(2, ['a', 'b'], 20);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(h.reads).toBe(3);
    // A failed read retries; a listing that has no deadline at all cancels the retry.
    h.fail();
    await settle();
    h.push('4');
    await settle();
    h.answer(4, []);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.reads).toBe(4);
    expect(h.delivered).toEqual([['a'], ['a', 'b'], []]);
  });

  it('bounds the deadline timer: a planted far-future deadline neither loops nor overflows', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): number => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const h = harness();
      await settle();
      h.answer(1, ['a'], 1e15);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(h.reads).toBe(1);
      expect(warnings.map((warning) => warning.name)).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('reads again, as far as the longest lease, when nothing else happens', async () => {
    vi.useFakeTimers();
    try {
      const h = harness();
      await vi.advanceTimersByTimeAsync(0);
      h.answer(1, ['a'], 1e15);
      await vi.advanceTimersByTimeAsync(86_400_000 - 1_000);
      expect(h.reads).toBe(1);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(h.reads).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('takes whatever the next connection reads after losing the subscriber', async () => {
    const h = harness();
    await settle();
    h.answer(10, ['a']);
    await settle();
    h.subscriber.emit('end');
    // The replacement connection subscribes and reads everything; its server's versions are behind.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(h.reads).toBe(2);
    h.answer(2, ['a']);
    await settle();
    // Delivered although the same: the watcher told its subscribers of the error meanwhile.
    expect(h.delivered).toEqual([['a'], ['a']]);
    // And its messages cause reads whatever their versions.
    h.push('3');
    await settle();
    expect(h.reads).toBe(3);
  });
});
