/**
 * Credentials and TLS against real redis-servers: passwords and ACL users pass through, refusals
 * become REGISTRY_AUTH, TLS options pass through, and no secret ever shows in an error or a log.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisBackend } from '../../../src/backends/redis/index.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { recordingLogger, type RecordingLogger } from '../../helpers/recording-logger.js';
import { useRedisServer, type FixtureBackendOptions } from '../../helpers/redis-fixture.js';
import { createTlsFiles, redisCommand } from '../../helpers/redis-server.js';

const ADMIN_PASSWORD = 'Adm1n-s3cret-pw';
const SERVICE_USER = { name: 'registry', password: 'Us3r-s3cret-pw' };
const WRONG_PASSWORD = 'Wr0ng-s3cret-pw';
const ROTATING_USER = { name: 'rotating', password: 'Old-s3cret-pw' };
const ROTATED_PASSWORD = 'New-s3cret-pw';
const SECRETS = [ADMIN_PASSWORD, SERVICE_USER.password, WRONG_PASSWORD, ROTATING_USER.password, ROTATED_PASSWORD];

let tls: ReturnType<typeof createTlsFiles>;
let sequence = 0;

beforeAll(() => {
  tls = createTlsFiles();
});

afterAll(async () => {
  await tls?.remove();
});

const secured = useRedisServer({
  password: ADMIN_PASSWORD,
  users: [SERVICE_USER, ROTATING_USER],
  // A user that may read but not run scripts: refused by ACL, not by password.
  args: ['--user', 'reader', 'on', `>${SERVICE_USER.password}`, '~*', '&*', '+@read', '+ping', '+info'],
});
const tlsRedis = useRedisServer(() => ({ tls }));

function backend(options: FixtureBackendOptions): { backend: RedisBackend; logger: RecordingLogger } {
  const logger = recordingLogger();
  return { backend: secured.backend({ logger, operationTimeoutMs: 1_000, ...options }), logger };
}

function instance(): ServiceInstance {
  return createInstance({ id: `i-${++sequence}`, service: 'orders', host: '10.0.0.1', port: 8080 }, Date.now());
}

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error as Error & { code?: string },
  );
}

/** Everything about an error a logger or a crash report could print. */
function everythingAbout(error: unknown): string {
  const seen: string[] = [];
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    seen.push(current.message, current.stack ?? '', JSON.stringify(current), JSON.stringify(Object.entries(current)));
  }
  return seen.join('\n');
}

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

describe('passwords and ACL users', () => {
  it('passes a password in the URL and an ACL user in the options through to Redis', async () => {
    const { backend: byUrl } = backend({ url: `redis://:${ADMIN_PASSWORD}@${secured.server.host}:${secured.server.port}` });
    const { backend: byUser } = backend({
      redis: { host: secured.server.host, port: secured.server.port, username: SERVICE_USER.name, password: SERVICE_USER.password },
      namespace: byUrl.namespace,
    });
    const registered = instance();
    await byUrl.register(registered, { ttlMs: 30_000 });
    expect((await byUser.instances('orders')).map((i) => i.id)).toEqual([registered.id]);
  });

  it('turns a wrong password into REGISTRY_AUTH without the password in errors or logs', async () => {
    for (const options of [
      { url: `redis://:${WRONG_PASSWORD}@${secured.server.host}:${secured.server.port}` },
      { url: `redis://${SERVICE_USER.name}:${WRONG_PASSWORD}@${secured.server.host}:${secured.server.port}` },
      { redis: { host: secured.server.host, port: secured.server.port, password: WRONG_PASSWORD } },
    ]) {
      const { backend: refused, logger } = backend(options);
      const error = await failure(refused.register(instance(), { ttlMs: 30_000 }));
      expect(error.code).toBe('REGISTRY_AUTH');
      expect(error.message).toMatch(/WRONGPASS/);
      expectNoSecret(everythingAbout(error));
      await expect(refused.instances('orders')).rejects.toMatchObject({ code: 'REGISTRY_AUTH' });
      await refused.close();
      expectNoSecret(logger.text());
    }
  });

  it('reports a password rotated under a connected backend as REGISTRY_AUTH, logging the loss without secrets', async () => {
    const { backend: rotating, logger } = backend({
      redis: { host: secured.server.host, port: secured.server.port, username: ROTATING_USER.name, password: ROTATING_USER.password },
    });
    await rotating.register(instance(), { ttlMs: 30_000 });
    const admin = { host: secured.server.host, port: secured.server.port, password: ADMIN_PASSWORD };
    await redisCommand(admin, 'ACL', 'SETUSER', ROTATING_USER.name, 'resetpass', `>${ROTATED_PASSWORD}`);
    await redisCommand(admin, 'CLIENT', 'KILL', 'USER', ROTATING_USER.name);
    await expect
      .poll(async () => (await failure(rotating.instances('orders'))).code, { timeout: 3_000, interval: 50 })
      .toBe('REGISTRY_AUTH');
    const error = await failure(rotating.instances('orders'));
    expect(error.message).toMatch(/WRONGPASS/);
    expectNoSecret(everythingAbout(error));
    expect(logger.text()).toMatch(/connection to Redis lost/);
    expectNoSecret(logger.text());
  });

  it('turns a missing password into REGISTRY_AUTH', async () => {
    const { backend: anonymous } = backend({ url: secured.server.url });
    const error = await failure(anonymous.instances('orders'));
    expect(error.code).toBe('REGISTRY_AUTH');
    expect(error.message).toMatch(/NOAUTH|Authentication required/i);
  });

  it('turns an ACL denial (NOPERM) into REGISTRY_AUTH', async () => {
    const { backend: reader } = backend({
      redis: { host: secured.server.host, port: secured.server.port, username: 'reader', password: SERVICE_USER.password },
    });
    const error = await failure(reader.register(instance(), { ttlMs: 30_000 }));
    expect(error.code).toBe('REGISTRY_AUTH');
    expect(error.message).toMatch(/NOPERM/);
    expectNoSecret(everythingAbout(error));
  });
});

describe('TLS', () => {
  it('passes TLS options through to the connection', async () => {
    const { backend: encrypted } = backend({ url: tlsRedis.server.url, redis: { tls: { ca: readFileSync(tls.ca) } } });
    const registered = instance();
    await encrypted.register(registered, { ttlMs: 30_000 });
    expect((await encrypted.instances('orders')).map((i) => i.id)).toEqual([registered.id]);
    let latest: readonly ServiceInstance[] = [];
    encrypted.watch('orders', { onChange: (list) => (latest = list) });
    await expect.poll(() => latest.length).toBe(1);
  });

  it('fails as REGISTRY_UNAVAILABLE when the server certificate is not trusted', async () => {
    const { backend: untrusting } = backend({ url: tlsRedis.server.url });
    const error = await failure(untrusting.instances('orders'));
    expect(error.code).toBe('REGISTRY_UNAVAILABLE');
    expect(error.message).toMatch(/certificate/i);
  });
});
