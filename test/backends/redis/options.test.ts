/**
 * Building a RedisBackend: where it connects (REDIS_URL), and credentials that never show, in an
 * invalid-URL error, `util.inspect`, `console.log` or `JSON.stringify`. No server is needed: every
 * client here is lazy and never connects.
 */
import { format, inspect } from 'node:util';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBackend, type RedisBackendOptions } from '../../../src/backends/redis/index.js';

const SECRET = 'Sup3r-s3cret-pw';
const opened: RedisBackend[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((backend) => backend.close()));
});

function lazy(options: RedisBackendOptions & { redis?: object }): RedisBackend {
  const backend = new RedisBackend({ ...options, redis: { lazyConnect: true, ...options.redis } } as RedisBackendOptions);
  opened.push(backend);
  return backend;
}

function optionsOf(backend: RedisBackend): Redis['options'] {
  return (backend.client as Redis).options;
}

/** Everything a logger, a crash report or a serializer could print about `value`. */
function everythingAbout(value: unknown): string {
  const seen = [inspect(value, { depth: Infinity, showHidden: true }), format('%o', value), format('%j', value)];
  for (let current: unknown = value; current instanceof Error; current = current.cause) {
    seen.push(current.message, current.stack ?? '', JSON.stringify(current), JSON.stringify(Object.entries(current)));
  }
  return seen.join('\n');
}

describe('REDIS_URL', () => {
  it('connects to REDIS_URL when no url, client or cluster is given', () => {
    const backend = lazy({ env: { REDIS_URL: 'redis://registry.internal:6390/3' } });
    expect(optionsOf(backend)).toMatchObject({ host: 'registry.internal', port: 6390, db: 3 });
  });

  it('lets url, or a host or sentinels in redis, win over REDIS_URL, and ignores it when empty', () => {
    const env = { REDIS_URL: 'redis://from-env:6390' };
    expect(optionsOf(lazy({ env, url: 'redis://from-url:6391' }))).toMatchObject({ host: 'from-url', port: 6391 });
    expect(optionsOf(lazy({ env, redis: { host: 'from-options', port: 6392 } }))).toMatchObject({ host: 'from-options', port: 6392 });
    const sentinel = lazy({ env, redis: { sentinels: [{ host: 's1', port: 26379 }], name: 'mymaster' } });
    expect(optionsOf(sentinel).host).not.toBe('from-env');
    expect(optionsOf(lazy({ env: { REDIS_URL: ' ' } }))).toMatchObject({ host: 'localhost', port: 6379 });
    expect(optionsOf(lazy({ env: {} }))).toMatchObject({ host: 'localhost', port: 6379 });
  });

  it('reads process.env by default', () => {
    const saved = process.env['REDIS_URL'];
    process.env['REDIS_URL'] = 'redis://from-process-env:6393';
    try {
      expect(optionsOf(lazy({}))).toMatchObject({ host: 'from-process-env', port: 6393 });
    } finally {
      if (saved === undefined) delete process.env['REDIS_URL'];
      else process.env['REDIS_URL'] = saved;
    }
  });

  it('names REDIS_URL in the error for an invalid one, without its password', () => {
    let error: unknown;
    try {
      lazy({ env: { REDIS_URL: `redis://:${SECRET}@` } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'REDIS_URL' });
    expect((error as Error).message).toContain('redis://***@');
    expect(everythingAbout(error)).not.toContain(SECRET);
  });

  it('rejects an env that is not an object', () => {
    expect(() => lazy({ env: 'REDIS_URL=redis://x' as never })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'env' }));
  });
});

describe('credentials never show', () => {
  it('turns an invalid URL into INVALID_ARGUMENT showing *** instead of the password', () => {
    for (const url of [`redis://:${SECRET}@`, `redis://user:${SECRET}@:bad-port`, `rediss://admin:${SECRET}@host:99999`]) {
      let error: unknown;
      try {
        lazy({ url });
      } catch (caught) {
        error = caught;
      }
      expect(error, url).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'url', expected: 'a redis:// or rediss:// URL' });
      expect((error as Error).message).toContain('***@');
      expect(error).not.toHaveProperty('input');
      expect((error as Error).cause).toBeUndefined();
      expect(everythingAbout(error)).not.toContain(SECRET);
    }
  });

  it('shows *** for credentials in util.inspect, console.log and JSON.stringify, and keeps client usable', () => {
    const byUrl = lazy({ url: `redis://admin:${SECRET}@10.0.0.7:6380/2`, namespace: 'prod' });
    const byOptions = lazy({ redis: { host: '10.0.0.8', password: SECRET, sentinelPassword: SECRET } });
    const bySentinel = lazy({ redis: { sentinels: [{ host: 's1', port: 26379 }], name: 'mymaster', password: SECRET } });
    for (const backend of [byUrl, byOptions, bySentinel]) {
      expect(everythingAbout(backend)).not.toContain(SECRET);
      expect(everythingAbout({ nested: { backend } })).not.toContain(SECRET);
      expect(inspect(backend)).toContain('***');
    }
    expect(inspect(byUrl)).toBe('RedisBackend { namespace: "prod", client: Redis (wait) redis://***@10.0.0.7:6380/2, closed: false }');
    expect(JSON.parse(JSON.stringify(byUrl))).toEqual({ kind: 'redis', namespace: 'prod' });
    // The client is still the user's to use.
    expect(optionsOf(byUrl).password).toBe(SECRET);
    expect(byUrl.client.status).toBe('wait');
  });
});
