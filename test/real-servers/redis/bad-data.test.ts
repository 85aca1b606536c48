/**
 * Hostile input against a real redis-server: malformed records planted in the keyspace are skipped,
 * logged once and counted while the rest of the service is served; service names and namespaces
 * cannot reach outside their keys.
 */
import { describe, expect, it, vi } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { serviceKeys, servicesIndexKey } from '../../../src/backends/redis/keys.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { recordingLogger } from '../../helpers/recording-logger.js';
import { useRedisServer } from '../../helpers/redis-fixture.js';

const redis = useRedisServer();
let sequence = 0;

function instance(id: string, service = 'orders'): ServiceInstance {
  return createInstance({ id, service, host: '10.0.0.1', port: 8080 }, Date.now());
}

describe('malformed records', () => {
  it('skips them, logs each once, counts every skip, and still returns the valid instances', async () => {
    const logger = recordingLogger();
    const namespace = `bad-${++sequence}`;
    const backend = redis.backend({ namespace, logger });
    const good = instance('good');
    await backend.register(good, { ttlMs: 30_000 });
    await backend.register(instance('also-good'), { ttlMs: 30_000 });

    const keys = serviceKeys(namespace, 'orders');
    const valid = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
    const lease = `30000 passing ${good.updatedAt} `;
    const record = (fields: Record<string, unknown>): string => lease + JSON.stringify({ ...valid, ...fields });
    const planted: Record<string, string | undefined> = {
      'bad-json': `${lease}{"id": "bad-json", `,
      'wrong-types': record({ id: 'wrong-types', port: '8080', tags: 'a,b' }),
      'missing-fields': `${lease}${JSON.stringify({ id: 'missing-fields', service: 'orders' })}`,
      'not-an-object': `${lease}[1, 2, 3]`,
      'other-service': record({ id: 'other-service', service: 'payments' }),
      'other-id': record({ id: 'someone-else' }),
      'no-record': undefined,
      'no-lease': JSON.stringify({ ...valid, id: 'no-lease' }),
      'bad-lease': `forever sleepy ${JSON.stringify({ ...valid, id: 'bad-lease' })}`,
      'bad-status': record({ id: 'bad-status' }).replace(' passing ', ' sleepy '),
    };
    const [seconds] = await redis.admin.time();
    for (const [id, plantedRecord] of Object.entries(planted)) {
      await redis.admin.zadd(keys.deadlines, Number(seconds) * 1000 + 60_000, id);
      if (plantedRecord !== undefined) await redis.admin.hset(keys.records, id, plantedRecord);
    }
    const malformed = Object.keys(planted).length;

    expect((await backend.instances('orders')).map((i) => i.id)).toEqual(['also-good', 'good']);
    expect(backend.stats().malformedRecords).toBe(malformed);
    expect((await backend.instances('orders')).map((i) => i.id)).toEqual(['also-good', 'good']);
    expect(backend.stats().malformedRecords).toBe(2 * malformed);

    // Logged once per record, saying where and what, never the whole record.
    expect(logger.at('warn')).toHaveLength(malformed);
    const logged = logger.at('warn').map(({ fields }) => fields['id']).sort();
    expect(logged).toEqual(Object.keys(planted).sort());
    for (const { fields, msg } of logger.at('warn')) {
      expect(msg).toBe('skipping a malformed registry record');
      expect(fields).toMatchObject({ key: text(/^\{bad-\d+:orders\}:records$/), problem: text(/./) });
    }

    // A watcher gets the valid instances too, and a bad record cannot be renewed into life.
    let watched: readonly ServiceInstance[] = [];
    backend.watch('orders', { onChange: (list) => (watched = list) });
    await vi.waitFor(() => expect(watched.map((i) => i.id)).toEqual(['also-good', 'good']));
    await expect(backend.renew({ service: 'orders', id: 'bad-lease' }, 'passing')).resolves.toBe('lost');
    await expect(backend.renew({ service: 'orders', id: 'no-lease' }, 'passing')).resolves.toBe('lost');
    await expect(backend.renew({ service: 'orders', id: 'no-record' }, 'passing')).resolves.toBe('lost');
  });

  it('reads the service after a message it cannot read, counting it and logging once per channel', async () => {
    const namespace = `bad-${++sequence}`;
    const logger = recordingLogger();
    const writer = redis.backend({ namespace });
    const reader = redis.backend({ namespace, logger });
    const keys = serviceKeys(namespace, 'orders');
    const good = instance('good');
    await writer.register(good, { ttlMs: 30_000 });
    const [seconds] = await redis.admin.time();
    await redis.admin.zadd(keys.deadlines, Number(seconds) * 1000 + 60_000, 'bad-json');
    await redis.admin.hset(keys.records, 'bad-json', `30000 passing ${good.updatedAt} {"id": "bad-json", `);

    let watched: string[] = [];
    reader.watch('orders', { onChange: (list) => (watched = list.map((i) => i.id)) });
    await vi.waitFor(() => expect(watched).toEqual(['good']));
    const { malformedRecords, watchRefreshes } = reader.stats();

    // Messages of another sender: counted, logged once per channel, and each makes the watcher read.
    await redis.admin.publish(keys.channel, 'register someone');
    await vi.waitFor(() => expect(reader.stats().watchRefreshes).toBe(watchRefreshes + 1));
    await redis.admin.publish(keys.channel, 'not\na\nlisting');
    await vi.waitFor(() => expect(reader.stats().watchRefreshes).toBe(watchRefreshes + 2));
    const unreadable = logger.at('warn').filter(({ fields }) => fields['key'] === keys.channel);
    expect(unreadable).toHaveLength(1);
    expect(unreadable[0]?.fields).toMatchObject({ problem: text('not a change message') });
    // The two messages. Nothing changed since the version the watcher read, so each read brought
    // no instance (the planted record, read with the first listing, is not read again).
    expect(reader.stats().malformedRecords).toBe(malformedRecords + 2);
    expect(reader.stats().watchDeltas).toBe(2);
    expect(watched).toEqual(['good']);
  });

  it('skips names in the services index that are not service names', async () => {
    const namespace = `bad-${++sequence}`;
    const logger = recordingLogger();
    const backend = redis.backend({ namespace, logger });
    await backend.register(instance('good'), { ttlMs: 30_000 });
    const [seconds] = await redis.admin.time();
    await redis.admin.zadd(servicesIndexKey(namespace), Number(seconds) * 1000 + 60_000, '*', Number(seconds) * 1000 + 60_000, 'Orders}');
    expect(await backend.services()).toEqual(['orders']);
    expect(backend.stats().malformedRecords).toBe(2);
    expect(logger.at('warn')).toHaveLength(2);
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
    '.orders',
    ' orders',
    '',
    'a'.repeat(129),
  ];

  it('rejects every one with INVALID_ARGUMENT and leaves the keyspace untouched', async () => {
    const namespace = `hostile-${++sequence}`;
    const backend = redis.backend({ namespace });
    await backend.register(instance('victim'), { ttlMs: 30_000 });
    const before = (await redis.admin.keys('*')).sort();
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
    expect((await redis.admin.keys('*')).sort()).toEqual(before);
    expect((await backend.instances('orders')).map((i) => i.id)).toEqual(['victim']);
  });

  it('refuses namespaces that could open or close a hash tag or add a key segment', () => {
    for (const namespace of ['a}b', '{a', 'a:b', 'a*', 'a b', '', 'x'.repeat(65)]) {
      expect(() => new RedisBackend({ url: redis.server.url, namespace })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});

/** An asymmetric matcher for a string containing `pattern` (or matching it), typed for strict lint. */
function text(pattern: string | RegExp): unknown {
  return typeof pattern === 'string' ? expect.stringContaining(pattern) : expect.stringMatching(pattern);
}
