/**
 * The setup the Redis real-server tests share: one redis-server per test file, an admin connection
 * to read and plant keys, fresh namespaces, and backends (or anything else a test opens) closed
 * after each test, newest first. Call `useRedisServer()` at the top of a test file; it registers
 * the hooks there.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisBackend, type RedisBackendClientOptions, type RedisBackendConnectOptions } from '../../src/backends/redis/index.js';
import { autoRegister, type Registration } from '../../src/registration/registration.js';
import { freshNamespace, useCleanups } from './cleanups.js';
import { startRedis, type RedisServer, type StartRedisOptions } from './redis-server.js';

export { freshNamespace, useCleanups } from './cleanups.js';

/** Options of {@link RedisFixture.backend}: a client of your own, or connection options (the fixture's server by default). */
export type FixtureBackendOptions = RedisBackendClientOptions | RedisBackendConnectOptions;

export interface RedisFixture {
  /** The file's server, started before its first test and stopped after its last. */
  readonly server: RedisServer;
  /** A connection to the server (opened on first use, with the server's password), for reading and planting keys. */
  readonly admin: Redis;
  /**
   * A RedisBackend, closed after the test: on a fresh namespace unless `namespace` is given, on the
   * file's server unless `url`, `redis` or `client` say where to connect.
   */
  backend(options?: FixtureBackendOptions): RedisBackend;
  /** Runs `cleanups` after the current test, newest first. */
  readonly defer: (...cleanups: (() => unknown)[]) => void;
  /** The server's clock, in epoch milliseconds. */
  serverTime(): Promise<number>;
}

/** Starts one redis-server (with `options`, or what the function returns when the file's tests begin) for the calling test file. */
export function useRedisServer(options: StartRedisOptions | (() => StartRedisOptions) = {}): RedisFixture {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  let password: string | undefined;
  const defer = useCleanups();

  beforeAll(async () => {
    const resolved = typeof options === 'function' ? options() : options;
    password = resolved.password;
    server = await startRedis(resolved);
  });

  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  const started = (): RedisServer => {
    if (server === undefined) throw new Error('the Redis server did not start');
    return server;
  };

  const fixture: RedisFixture = {
    get server() {
      return started();
    },
    get admin() {
      admin ??= new Redis(started().url, password === undefined ? {} : { password });
      return admin;
    },
    backend: (backendOptions = {}) => {
      const namespace = freshNamespace('ns');
      const saysWhere = backendOptions.client !== undefined || backendOptions.url !== undefined || backendOptions.redis !== undefined;
      const created = saysWhere ? new RedisBackend({ namespace, ...backendOptions }) : new RedisBackend({ url: started().url, namespace, ...backendOptions });
      defer(() => created.close());
      return created;
    },
    defer,
    serverTime: async () => {
      const [seconds, micros] = await fixture.admin.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    },
  };
  return fixture;
}

export interface TwinOptions {
  /** The services to register two instances of. */
  readonly services: readonly string[];
  readonly ttlMs: number;
  /** The heartbeat interval, and while standalone the retry delay (the default backoff grows to 30 s). */
  readonly heartbeatMs: number;
  readonly required?: boolean;
}

/**
 * Registers `<service>-1` (port 8081) and `<service>-2` (port 8082) of each service through
 * `writer`, as live processes would; `defer` stops them after the test.
 */
export async function registerTwins(writer: RedisBackend, options: TwinOptions, defer: (cleanup: () => unknown) => void): Promise<Registration[]> {
  const registrations = await Promise.all(
    options.services.flatMap((service) =>
      [1, 2].map((n) =>
        autoRegister({
          backend: writer,
          service,
          id: `${service}-${n}`,
          host: '10.0.0.1',
          port: 8080 + n,
          ttlMs: options.ttlMs,
          heartbeatIntervalMs: options.heartbeatMs,
          retryInitialDelayMs: options.heartbeatMs,
          retryMaxDelayMs: options.heartbeatMs,
          required: options.required === true,
        }),
      ),
    ),
  );
  defer(() => Promise.all(registrations.map((registration) => registration.stop())));
  return registrations;
}
