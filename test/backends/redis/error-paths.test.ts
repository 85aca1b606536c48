/**
 * Fast unit tests of RedisBackend's error paths on ioredis-mock: option validation, error
 * translation and redaction, timeouts, failing fast while disconnected, and client ownership.
 * Behaviour against a real server lives in test/real-servers/redis/.
 */
import type { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import RedisMock from 'ioredis-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { createInstance } from '../../../src/core/instance.js';
import type { Logger } from '../../../src/core/logger.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const PASSWORD = 'mock-s3cret-pw';

type MockClient = Redis & EventEmitter;

const opened: RedisBackend[] = [];
const mocks: MockClient[] = [];

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(opened.splice(0).map((backend) => backend.close()));
  for (const mock of mocks.splice(0)) mock.disconnect();
});

function mockClient(status = 'ready'): MockClient {
  // Lazy, so that only the test emits connection events.
  const client = new RedisMock({ password: PASSWORD, lazyConnect: true }) as unknown as MockClient;
  setStatus(client, status);
  mocks.push(client);
  return client;
}

/** ioredis-mock has no connection state; the backend reads ioredis's `status`. */
function setStatus(client: MockClient, status: string): void {
  (client as { status: string }).status = status;
}

function backendOn(client: MockClient, options: { operationTimeoutMs?: number; logger?: Logger; closeClient?: boolean } = {}): RedisBackend {
  const backend = new RedisBackend({ client, namespace: 'unit', ...options });
  opened.push(backend);
  return backend;
}

const instance = createInstance({ id: 'i-1', service: 'orders', host: '10.0.0.1', port: 8080 }, Date.now());

/** Watches a promise without awaiting it, so fake time can pass while it is pending. */
function outcomeOf<T>(promise: Promise<T>): { readonly settled: boolean; readonly value: T | undefined; readonly error: unknown } {
  const state: { settled: boolean; value: T | undefined; error: unknown } = { settled: false, value: undefined, error: undefined };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

function replyError(message: string, args: string[] = []): Error {
  // What ioredis attaches to reply errors: the failed command, arguments included.
  return Object.assign(new Error(message), { name: 'ReplyError', command: { name: 'evalsha', args } });
}

describe('options', () => {
  it('rejects invalid options with INVALID_ARGUMENT naming the option', () => {
    const client = mockClient();
    const invalid: [unknown, string][] = [
      [{ client, namespace: 'a{b}' }, 'namespace'],
      [{ client, namespace: '' }, 'namespace'],
      [{ client, pruneLimit: 0 }, 'pruneLimit'],
      [{ client, pruneLimit: 5_000 }, 'pruneLimit'],
      [{ client, operationTimeoutMs: 10 }, 'operationTimeoutMs'],
      [{ client, url: 'redis://127.0.0.1:6379' }, 'options'],
      [{ client: {} }, 'client'],
      [{ cluster: { nodes: [] } }, 'cluster.nodes'],
      [{ url: 42 }, 'url'],
    ];
    for (const [options, field] of invalid) {
      expect(() => new RedisBackend(options as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field }));
    }
  });
});

describe('error translation', () => {
  it.each([
    ['WRONGPASS invalid username-password pair or user is disabled.', 'REGISTRY_AUTH'],
    ['NOAUTH Authentication required.', 'REGISTRY_AUTH'],
    ["NOPERM this user has no permissions to run the 'evalsha' command", 'REGISTRY_AUTH'],
    ['LOADING Redis is loading the dataset in memory', 'REGISTRY_UNAVAILABLE'],
    ['READONLY You can\'t write against a read only replica.', 'REGISTRY_UNAVAILABLE'],
    ['connect ECONNREFUSED 127.0.0.1:6379', 'REGISTRY_UNAVAILABLE'],
  ])('turns "%s" into %s', async (message, code) => {
    const client = mockClient();
    vi.spyOn(client, 'evalsha').mockRejectedValue(replyError(message));
    const backend = backendOn(client);
    await expect(backend.register(instance, { ttlMs: 30_000 })).rejects.toMatchObject({
      code,
      backend: 'redis',
      operation: 'register',
      message: text(message.split(' ')[0] ?? message),
    });
  });

  it('never lets a secret or the failed command out, in the message or the cause', async () => {
    const client = mockClient();
    vi.spyOn(client, 'evalsha').mockRejectedValue(
      replyError(`ERR something mentioned ${PASSWORD} and redis://user:${PASSWORD}@example:6379`, ['auth', PASSWORD]),
    );
    const backend = backendOn(client);
    const error: unknown = await backend.instances('orders').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });
    const cause = (error as Error).cause as Error & { command?: unknown };
    expect(cause).toBeInstanceOf(Error);
    expect(cause.name).toBe('ReplyError');
    expect(cause.command).toBeUndefined();
    const everything = JSON.stringify([(error as Error).message, cause.message, cause.stack, Object.entries(error as object), Object.entries(cause)]);
    expect(everything).not.toContain(PASSWORD);
    expect((error as Error).message).toContain('redis://***@example:6379');
  });

  it('never lets the owner secret out, should an error quote it', async () => {
    const client = mockClient();
    const evalsha = vi.spyOn(client, 'evalsha').mockImplementation((...args: unknown[]) => Promise.reject(replyError(`ERR script failed near ${String(args.at(-1))}`)));
    const backend = backendOn(client);
    const error: unknown = await backend.register(instance, { ttlMs: 30_000 }).catch((e: unknown) => e);
    const secret = String(evalsha.mock.calls[0]?.at(-1));
    expect(secret.length).toBeGreaterThanOrEqual(40);
    expect((error as Error).message).toContain('script failed near ***');
    expect(JSON.stringify([(error as Error).message, ((error as Error).cause as Error).message, Object.entries(error as object)])).not.toContain(secret);
  });

  it('reports a reply it does not understand as REGISTRY_UNAVAILABLE', async () => {
    const client = mockClient();
    const evalsha = vi.spyOn(client, 'evalsha');
    const backend = backendOn(client);
    evalsha.mockResolvedValueOnce('surprise');
    await expect(backend.instances('orders')).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE', message: text(/unexpected reply/) });
    evalsha.mockResolvedValueOnce([1, 2]);
    await expect(backend.renew(instance, 'passing')).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });
    evalsha.mockResolvedValueOnce({ not: 'a list' });
    await expect(backend.services()).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });
  });

  it('sends the script text once when the server does not know it (NOSCRIPT)', async () => {
    const client = mockClient();
    vi.spyOn(client, 'evalsha').mockRejectedValue(replyError('NOSCRIPT No matching script. Please use EVAL.'));
    const evaluate = vi.spyOn(client, 'eval').mockResolvedValue([1, 12_345, 0, 0, 0, 0]);
    const backend = backendOn(client);
    await expect(backend.renew(instance, 'passing')).resolves.toBe('renewed');
    expect(evaluate).toHaveBeenCalledTimes(1);
    expect(String(evaluate.mock.calls[0]?.[0])).toContain("redis.call('TIME')");
  });
});

describe('failing fast', () => {
  it('gives up after operationTimeoutMs when Redis does not answer', async () => {
    vi.useFakeTimers();
    const client = mockClient();
    vi.spyOn(client, 'evalsha').mockReturnValue(new Promise<never>(() => {}));
    const backend = backendOn(client, { operationTimeoutMs: 100 });
    const listing = outcomeOf(backend.instances('orders'));
    await vi.advanceTimersByTimeAsync(99);
    expect(listing.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(listing.error).toMatchObject({
      code: 'REGISTRY_UNAVAILABLE',
      message: text('operationTimeoutMs (100 ms)'),
    });
  });

  it('fails at once, without sending anything, while a connection that was up is down', async () => {
    const client = mockClient();
    const evalsha = vi.spyOn(client, 'evalsha');
    const logger = recordingLogger();
    const backend = backendOn(client, { logger });
    client.emit('error', new Error('read ECONNRESET'));
    setStatus(client, 'close');
    client.emit('close');
    setStatus(client, 'reconnecting');
    client.emit('close');
    for (const call of [backend.instances('orders'), backend.register(instance, { ttlMs: 30_000 }), backend.services()]) {
      await expect(call).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE', message: text(/reconnecting.*ECONNRESET/) });
    }
    expect(evalsha).not.toHaveBeenCalled();
    // One line for the loss, one for the return: transitions, not calls.
    setStatus(client, 'ready');
    client.emit('ready');
    client.emit('ready');
    expect(logger.lines.map(({ level, msg }) => `${level}: ${msg}`)).toEqual([
      'warn: connection to Redis lost; calls fail fast until it is back',
      'info: connection to Redis is back',
    ]);
    evalsha.mockResolvedValueOnce([0, 'payments', 'orders']);
    await expect(backend.services()).resolves.toEqual(['orders', 'payments']);
  });

  it('waits for a first connection in progress, and reports why it failed', async () => {
    const client = mockClient('connecting');
    const evalsha = vi.spyOn(client, 'evalsha').mockResolvedValue([1, 1_000, '', 0, 0, '']);
    const logger = recordingLogger();
    const backend = backendOn(client, { logger });
    vi.useFakeTimers();
    const listing = outcomeOf(backend.instances('orders'));
    // It waits as long as a call may (operationTimeoutMs, 1500 ms by default) without sending anything.
    await vi.advanceTimersByTimeAsync(1_499);
    expect([listing.settled, evalsha.mock.calls.length]).toEqual([false, 0]);
    setStatus(client, 'ready');
    client.emit('ready');
    await vi.advanceTimersByTimeAsync(0);
    expect(listing.value).toEqual([]);
    // A first connection is not a recovery.
    expect(logger.lines).toEqual([]);

    const failing = mockClient('connecting');
    const refused = backendOn(failing).instances('orders');
    failing.emit('error', replyError('WRONGPASS invalid username-password pair or user is disabled.', [PASSWORD]));
    setStatus(failing, 'close');
    failing.emit('close');
    const error: unknown = await refused.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'REGISTRY_AUTH', message: text(/could not connect to Redis.*WRONGPASS/) });
    expect(JSON.stringify(error) + String((error as Error).message)).not.toContain(PASSWORD);
  });

  it('does not run a call that gave up waiting for a first connection once the connection comes', async () => {
    vi.useFakeTimers();
    const client = mockClient('connecting');
    const evalsha = vi.spyOn(client, 'evalsha');
    const backend = backendOn(client, { operationTimeoutMs: 100 });
    const registering = outcomeOf(backend.register(instance, { ttlMs: 30_000 }));
    await vi.advanceTimersByTimeAsync(100);
    expect(registering.error).toMatchObject({
      code: 'REGISTRY_UNAVAILABLE',
      message: text('could not connect to Redis within 100 ms'),
    });
    setStatus(client, 'ready');
    client.emit('ready');
    // A call made once the connection is up goes through: the one that gave up never went before it.
    evalsha.mockResolvedValue([1, 1_000, '', 0, 0, '']);
    await expect(backend.instances('orders')).resolves.toEqual([]);
    expect(evalsha).toHaveBeenCalledTimes(1);
  });

  it('says so when the client it was given has been closed', async () => {
    const client = mockClient('end');
    await expect(backendOn(client).instances('orders')).rejects.toMatchObject({
      code: 'REGISTRY_UNAVAILABLE',
      message: text('the Redis client is closed'),
    });
  });
});

describe('a client ioredis gave up on', () => {
  it('connects a client it owns again, every 500 ms until it is up, and says so once', async () => {
    const client = mockClient();
    const connect = vi.spyOn(client, 'connect').mockImplementation(() => Promise.resolve());
    const logger = recordingLogger();
    const backend = backendOn(client, { closeClient: true, logger });
    vi.useFakeTimers();
    // What ioredis does when a Sentinel failover is announced while it asks where the master is.
    setStatus(client, 'end');
    client.emit('end');
    await vi.advanceTimersByTimeAsync(499);
    expect(connect).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(connect).toHaveBeenCalledTimes(1);
    // That attempt failed too: ioredis ends the client again.
    client.emit('end');
    await vi.advanceTimersByTimeAsync(500);
    expect(connect).toHaveBeenCalledTimes(2);
    expect(logger.at('warn').map((line) => line.msg)).toEqual([
      'connection to Redis lost; calls fail fast until it is back',
      'ioredis gave up on the connection to Redis; rollcall connects it again until it is back',
    ]);
    setStatus(client, 'ready');
    client.emit('ready');
    vi.spyOn(client, 'evalsha').mockResolvedValue([1, 1_000, '', 0, 0, '']);
    await expect(backend.instances('orders')).resolves.toEqual([]);
    expect(logger.at('info').map((line) => line.msg)).toContain('connection to Redis is back');

    // Closing the backend ends the client for good, and a pending attempt with it.
    setStatus(client, 'end');
    client.emit('end');
    await backend.close();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(connect).toHaveBeenCalledTimes(2);
  });

  it("reports a client of the caller's that has ended, and leaves connecting it to its owner", async () => {
    const client = mockClient();
    const connect = vi.spyOn(client, 'connect').mockImplementation(() => Promise.resolve());
    const logger = recordingLogger();
    backendOn(client, { logger });
    vi.useFakeTimers();
    setStatus(client, 'end');
    client.emit('end');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(connect).not.toHaveBeenCalled();
    expect(logger.at('error').map((line) => line.msg)).toEqual(['the Redis client given to the backend has ended: calls fail until it is connected again']);
  });
});

describe('ownership', () => {
  it('leaves a client it was given alone on close, unless closeClient is set', async () => {
    const kept = mockClient();
    const keptDisconnect = vi.spyOn(kept, 'disconnect');
    await backendOn(kept).close();
    expect(keptDisconnect).not.toHaveBeenCalled();
    expect(kept.listenerCount('ready') + kept.listenerCount('close') + kept.listenerCount('error') + kept.listenerCount('end')).toBe(0);

    // Also when closed while calls still wait for a first connection that never comes.
    const neverConnects = mockClient('connecting');
    const waiting = backendOn(neverConnects, { operationTimeoutMs: 100 });
    const call = waiting.instances('orders');
    await waiting.close();
    await expect(call).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });
    expect(neverConnects.listenerCount('ready') + neverConnects.listenerCount('close') + neverConnects.listenerCount('error')).toBe(0);

    const handedOver = mockClient();
    const handedOverDisconnect = vi.spyOn(handedOver, 'disconnect');
    const backend = backendOn(handedOver, { closeClient: true });
    await Promise.all([backend.close(), backend.close()]);
    expect(handedOverDisconnect).toHaveBeenCalledTimes(1);
  });
});

/** An asymmetric matcher for a string containing `pattern` (or matching it), typed for strict lint. */
function text(pattern: string | RegExp): unknown {
  return typeof pattern === 'string' ? expect.stringContaining(pattern) : expect.stringMatching(pattern);
}
