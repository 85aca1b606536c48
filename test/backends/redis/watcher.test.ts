/**
 * The watcher's ordering rules, with reads and messages interleaved on purpose: a read and a
 * message travel on different connections, so either may arrive first. Uses a fake subscriber
 * connection and reads that answer when the test says.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Change, Listing } from '../../../src/backends/redis/records.js';
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
    nextDeadline: next,
    instances: ids.map((id) => createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080 }, 1)),
    records: ids,
  };
}

/**
 * A watcher whose reads wait for `answer()`, and whose messages are `{ version, ids? }` in JSON
 * (`"garbage"`: one it cannot read). Each connection is a new fake subscriber.
 */
function harness(): {
  watcher: RedisWatcher;
  subscriber: FakeSubscriber;
  delivered: string[][];
  reads: number;
  answer(version: number, ids: string[], next?: number): void;
  fail(): void;
  push(change: { version: number; ids?: string[]; next?: number } | string): void;
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
    change: (_service, message): Change | undefined => {
      const parsed = JSON.parse(message) as { version: number; ids?: string[]; next?: number } | 'garbage';
      if (parsed === 'garbage') return undefined;
      return { version: parsed.version, listing: parsed.ids === undefined ? undefined : listing(parsed.version, parsed.ids, parsed.next) };
    },
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
    push: (change) => current().emit('message', CHANNEL, JSON.stringify(change)),
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const watchers: RedisWatcher[] = [];

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
});

describe('RedisWatcher ordering', () => {
  it('applies carried listings without reading, and never goes back to an older one', async () => {
    const h = harness();
    await settle();
    expect(h.reads).toBe(1);

    // The first read is still on its way when a newer change arrives with its listing.
    h.push({ version: 6, ids: ['a', 'b'] });
    expect(h.delivered).toEqual([['a', 'b']]);
    h.answer(5, ['a']);
    await settle();
    expect(h.delivered).toEqual([['a', 'b']]);

    // A listing older than the one applied is dropped; the same listing again is not delivered again.
    h.push({ version: 4, ids: [] });
    h.push({ version: 6, ids: ['a', 'b'] });
    h.push({ version: 7, ids: ['b'] });
    expect(h.delivered).toEqual([['a', 'b'], ['b']]);
    expect(h.reads).toBe(1);
    expect(h.watcher).toMatchObject({ pushes: 3, refreshes: 1 });
  });

  it('reads after a message without a listing only when it is newer than what it has', async () => {
    const h = harness();
    await settle();
    h.answer(10, ['a']);
    await settle();
    h.push({ version: 9 });
    h.push({ version: 10 });
    await settle();
    expect(h.reads).toBe(1);
    h.push({ version: 11 });
    await settle();
    expect(h.reads).toBe(2);
    h.answer(11, ['a', 'c']);
    await settle();
    expect(h.delivered).toEqual([['a'], ['a', 'c']]);
  });

  it('takes a read older than what it knew when sending it: Redis lost data', async () => {
    const h = harness();
    await settle();
    h.answer(10, ['a']);
    await settle();
    // Say a failover to a replica that missed writes: its versions are behind.
    h.push({ version: 11 });
    await settle();
    h.answer(3, ['b']);
    await settle();
    expect(h.delivered).toEqual([['a'], ['b']]);
    // And what follows on from there is applied.
    h.push({ version: 4, ids: ['b', 'c'] });
    expect(h.delivered).toEqual([['a'], ['b'], ['b', 'c']]);
  });

  it('reads after a message it cannot read, and delivers a change that kept the version', async () => {
    const h = harness();
    await settle();
    h.answer(5, ['a']);
    await settle();
    h.subscriber.emit('message', CHANNEL, JSON.stringify('garbage'));
    await settle();
    expect(h.reads).toBe(2);
    // Written without raising the version (by hand, or by a writer that does not): still delivered.
    h.answer(5, ['a', 'b']);
    await settle();
    expect(h.delivered).toEqual([['a'], ['a', 'b']]);
  });

  it('reads at the earliest deadline, following it as changes move it', async () => {
    const h = harness();
    await settle();
    h.answer(1, ['a'], 60_000);
    await settle();
    // A change leaving the earliest deadline alone, then one bringing it close.
    h.push({ version: 2, ids: ['a', 'b'], next: 60_000 });
    h.push({ version: 3, ids: ['b'], next: 20 });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(h.reads).toBe(2);
    // A failed read retries; a listing that has no deadline at all cancels the retry.
    h.fail();
    await settle();
    h.push({ version: 4, ids: [] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.reads).toBe(2);
    expect(h.delivered).toEqual([['a'], ['a', 'b'], ['b'], []]);
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
    h.push({ version: 3, ids: ['a', 'b'] });
    expect(h.delivered).toEqual([['a'], ['a'], ['a', 'b']]);
  });
});
