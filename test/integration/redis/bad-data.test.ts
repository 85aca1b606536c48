/**
 * Hostile input against a real redis-server: malformed records planted in the keyspace are skipped,
 * logged once and counted while the rest of the service is served; service names and namespaces
 * cannot reach outside their keys.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisBackend, serviceKeys, servicesIndexKey } from '../../../src/backends/redis/index.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import type { Logger } from '../../../src/core/logger.js';
import { startRedis, type RedisServer } from '../../helpers/redis-server.js';

let server: RedisServer;
let admin: Redis;
let sequence = 0;
const opened: RedisBackend[] = [];

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url);
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((backend) => backend.close()));
});

afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
});

function recordingLogger(): Logger & { warnings: { fields: object; message: string | undefined }[] } {
  const warnings: { fields: object; message: string | undefined }[] = [];
  const logger = {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (fields: object, message?: string) => warnings.push({ fields, message }),
    error: () => {},
    child: () => logger,
  };
  return logger;
}

function instance(id: string, service = 'orders'): ServiceInstance {
  return createInstance({ id, service, host: '10.0.0.1', port: 8080 }, Date.now());
}

describe('malformed records', () => {
  it('skips them, logs each once, counts every skip, and still returns the valid instances', async () => {
    const logger = recordingLogger();
    const namespace = `bad-${++sequence}`;
    const backend = new RedisBackend({ url: server.url, namespace, logger });
    opened.push(backend);
    const good = instance('good');
    await backend.register(good, { ttlMs: 30_000 });
    await backend.register(instance('also-good'), { ttlMs: 30_000 });

    const keys = serviceKeys(namespace, 'orders');
    const valid = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
    const lease = `30000 passing ${good.updatedAt}`;
    const planted: Record<string, { record?: string; lease?: string }> = {
      'bad-json': { record: '{"id": "bad-json", ', lease },
      'wrong-types': { record: JSON.stringify({ ...valid, id: 'wrong-types', port: '8080', tags: 'a,b' }), lease },
      'missing-fields': { record: JSON.stringify({ id: 'missing-fields', service: 'orders' }), lease },
      'not-an-object': { record: '[1, 2, 3]', lease },
      'other-service': { record: JSON.stringify({ ...valid, id: 'other-service', service: 'payments' }), lease },
      'other-id': { record: JSON.stringify({ ...valid, id: 'someone-else' }), lease },
      'no-record': { lease },
      'no-lease': { record: JSON.stringify({ ...valid, id: 'no-lease' }) },
      'bad-lease': { record: JSON.stringify({ ...valid, id: 'bad-lease' }), lease: 'forever sleepy' },
    };
    const [seconds] = await admin.time();
    for (const [id, { record, lease: plantedLease }] of Object.entries(planted)) {
      await admin.zadd(keys.deadlines, Number(seconds) * 1000 + 60_000, id);
      if (record !== undefined) await admin.hset(keys.records, id, record);
      if (plantedLease !== undefined) await admin.hset(keys.leases, id, plantedLease);
    }
    const malformed = Object.keys(planted).length;

    expect((await backend.instances('orders')).map((i) => i.id)).toEqual(['also-good', 'good']);
    expect(backend.stats().malformedRecords).toBe(malformed);
    expect((await backend.instances('orders')).map((i) => i.id)).toEqual(['also-good', 'good']);
    expect(backend.stats().malformedRecords).toBe(2 * malformed);

    // Logged once per record, saying where and what, never the whole record.
    expect(logger.warnings).toHaveLength(malformed);
    const logged = logger.warnings.map(({ fields }) => (fields as { id: string }).id).sort();
    expect(logged).toEqual(Object.keys(planted).sort());
    for (const { fields, message } of logger.warnings) {
      expect(message).toBe('skipping a malformed registry record');
      expect(fields).toMatchObject({ key: text(/^\{bad-\d+:orders\}:(records|leases)$/), problem: text(/./) });
    }

    // A watcher gets the valid instances too, and a bad record cannot be renewed into life.
    let watched: readonly ServiceInstance[] = [];
    backend.watch('orders', { onChange: (list) => (watched = list) });
    await vi.waitFor(() => expect(watched.map((i) => i.id)).toEqual(['also-good', 'good']));
    await expect(backend.renew({ service: 'orders', id: 'bad-lease' }, 'passing')).resolves.toBe('lost');
    await expect(backend.renew({ service: 'orders', id: 'no-lease' }, 'passing')).resolves.toBe('lost');
  });

  it('skips names in the services index that are not service names', async () => {
    const namespace = `bad-${++sequence}`;
    const logger = recordingLogger();
    const backend = new RedisBackend({ url: server.url, namespace, logger });
    opened.push(backend);
    await backend.register(instance('good'), { ttlMs: 30_000 });
    const [seconds] = await admin.time();
    await admin.zadd(servicesIndexKey(namespace), Number(seconds) * 1000 + 60_000, '*', Number(seconds) * 1000 + 60_000, 'Orders}');
    expect(await backend.services()).toEqual(['orders']);
    expect(backend.stats().malformedRecords).toBe(2);
    expect(logger.warnings).toHaveLength(2);
  });
});

describe('hostile service names and namespaces', () => {
  const hostile = [
    '*',
    'orders*',
    'ord?rs',
    '[a-z]*',
    '{orders}',
    'orders}:records',
    'other:orders',
    '../orders',
    'orders\r\nFLUSHALL',
    'ORDERS',
    ' orders',
    '',
    'a'.repeat(64),
  ];

  it('rejects every one with INVALID_ARGUMENT and leaves the keyspace untouched', async () => {
    const namespace = `hostile-${++sequence}`;
    const backend = new RedisBackend({ url: server.url, namespace });
    opened.push(backend);
    await backend.register(instance('victim'), { ttlMs: 30_000 });
    const before = (await admin.keys('*')).sort();
    const sent = vi.spyOn(backend.client, 'sendCommand');

    for (const name of hostile) {
      const valid = instance('x');
      const attempts: Promise<unknown>[] = [
        backend.instances(name),
        backend.register({ ...valid, service: name }, { ttlMs: 30_000 }),
        backend.renew({ service: name, id: 'victim' }, 'passing'),
        backend.deregister({ service: name, id: 'victim' }),
      ];
      for (const attempt of attempts) await expect(attempt).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(() => backend.watch(name, { onChange: () => {} })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    // Nothing was even sent to Redis.
    expect(sent).not.toHaveBeenCalled();
    expect((await admin.keys('*')).sort()).toEqual(before);
    expect((await backend.instances('orders')).map((i) => i.id)).toEqual(['victim']);
  });

  it('refuses namespaces that could open or close a hash tag or add a key segment', () => {
    for (const namespace of ['a}b', '{a', 'a:b', 'a*', 'a b', '', 'x'.repeat(65)]) {
      expect(() => new RedisBackend({ url: server.url, namespace })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});

/** An asymmetric matcher for a string containing `pattern` (or matching it), typed for strict lint. */
function text(pattern: string | RegExp): unknown {
  return typeof pattern === 'string' ? expect.stringContaining(pattern) : expect.stringMatching(pattern);
}
