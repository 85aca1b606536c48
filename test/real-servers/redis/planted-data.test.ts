/**
 * Data planted by anyone with write access to Redis costs only itself, on a real redis-server:
 * keys of another Redis type, far-future deadlines, huge versions, records over the size limit,
 * thousands of malformed records, and attacker bytes meant for log lines.
 */
import { describe, expect, it, vi } from 'vitest';
import { RECORD_MAX_BYTES } from '../../../src/backends/redis/index.js';
import { serviceKeys, servicesIndexKey } from '../../../src/backends/redis/keys.js';
import { READ } from '../../../src/backends/redis/scripts.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { recordingLogger } from '../../helpers/recording-logger.js';
import { useRedisServer } from '../../helpers/redis-fixture.js';

const redis = useRedisServer();
let sequence = 0;

function instance(id: string, service = 'orders'): ServiceInstance {
  return createInstance({ id, service, host: '10.0.0.1', port: 8080 }, Date.now());
}

/** A stored record of `id` as a registration writes it, TTL 30 s. */
function record(id: string, overrides: Record<string, unknown> = {}): string {
  const valid = instance(id);
  return `30000 passing ${valid.updatedAt} ${JSON.stringify({ ...JSON.parse(JSON.stringify(valid)), ...overrides })}`;
}

describe('keys of another Redis type', () => {
  it('a planted services index costs only itself: registrations succeed and replace it, services() skips it', async () => {
    const namespace = `planted-${++sequence}`;
    const logger = recordingLogger();
    const b = redis.backend({ namespace, logger });
    await b.register(instance('a'), { ttlMs: 30_000 });
    await redis.admin.set(servicesIndexKey(namespace), 'x');

    // Read as empty, counted, logged once.
    await expect(b.services()).resolves.toEqual([]);
    await expect(b.services()).resolves.toEqual([]);
    expect(b.stats().malformedRecords).toBe(2);
    expect(logger.at('warn').filter((line) => line.fields['key'] === servicesIndexKey(namespace))).toHaveLength(1);

    // Any write replaces it: a renewal, then a registration.
    await expect(b.renew(instance('a'), 'passing')).resolves.toBe('renewed');
    await expect(b.services()).resolves.toEqual(['orders']);
    await redis.admin.set(servicesIndexKey(namespace), 'x');
    await b.register(instance('b', 'payments'), { ttlMs: 30_000 });
    await expect(b.services()).resolves.toEqual(['payments']);
    await redis.admin.set(servicesIndexKey(namespace), 'x');
    await b.deregister(instance('b', 'payments'));
    expect(await redis.admin.type(servicesIndexKey(namespace))).not.toBe('string');
    const counted = b.stats().malformedRecords;
    await expect(b.services()).resolves.toEqual([]);
    expect(b.stats().malformedRecords).toBe(counted);
  });

  it("a planted key of a service reads as empty, costs no other service, and the service's next write replaces it", async () => {
    const namespace = `planted-${++sequence}`;
    const b = redis.backend({ namespace, logger: recordingLogger() });
    const registration = instance('a');
    await b.register(registration, { ttlMs: 30_000 });
    await b.register(instance('p', 'payments'), { ttlMs: 30_000 });
    const keys = serviceKeys(namespace, 'orders');

    for (const key of [keys.deadlines, keys.records]) {
      await redis.admin.del(key);
      await redis.admin.set(key, 'planted');
      const before = b.stats().malformedRecords;
      await expect(b.instances('orders')).resolves.toEqual([]);
      expect(b.stats().malformedRecords).toBe(before + 1);
      expect((await b.instances('payments')).map((i) => i.id)).toEqual(['p']);
      await expect(b.deregister(registration)).resolves.toBeUndefined();
      // The registration's renewal says lost, so it registers again: the key is ours again.
      await expect(b.renew(registration, 'passing')).resolves.toBe('lost');
      await b.register(registration, { ttlMs: 30_000 });
      expect((await b.instances('orders')).map((i) => i.id)).toEqual(['a']);
    }
    expect(await b.services()).toEqual(['orders', 'payments']);
  });
});

describe('out-of-range values', () => {
  it('skips a far-future deadline instead of re-reading every millisecond', async () => {
    const namespace = `planted-${++sequence}`;
    const warnings: Error[] = [];
    const onWarning = (warning: Error): number => warnings.push(warning);
    process.on('warning', onWarning);
    redis.defer(() => {
      process.off('warning', onWarning);
      return Promise.resolve();
    });
    const writer = redis.backend({ namespace, logger: recordingLogger() });
    const reader = redis.backend({ namespace, logger: recordingLogger() });
    await writer.register(instance('real'), { ttlMs: 30_000 });
    const keys = serviceKeys(namespace, 'orders');
    // A copy of a valid record kept alive for ever, and an infinite deadline without a record.
    await redis.admin.zadd(keys.deadlines, (await redis.serverTime()) + 10 ** 12, 'forever', '+inf', 'infinite');
    await redis.admin.hset(keys.records, 'forever', record('forever'));

    // And a deadline at minus infinity under an id its owner then deregisters.
    await writer.register(instance('negative'), { ttlMs: 30_000 });
    await redis.admin.zadd(keys.deadlines, '-inf', 'negative');
    await expect(writer.deregister(instance('negative'))).resolves.toBeUndefined();

    let watched: string[] = [];
    reader.watch('orders', { onChange: (list) => (watched = list.map((i) => i.id)) });
    await vi.waitFor(() => expect(watched).toEqual(['real']));
    const refreshes = reader.stats().watchRefreshes;
    // Two routine looks of the sweeper's lease holder (the reader, the namespace's one participant),
    // a third of a lease (1 s) apart: a window in which nothing changes, long enough for a loop
    // re-reading every millisecond to show.
    const looks = reader.stats().sweeperChecks;
    await vi.waitFor(() => expect(reader.stats().sweeperChecks).toBeGreaterThanOrEqual(looks + 2), { timeout: 10_000 });
    expect(reader.stats().watchRefreshes - refreshes).toBeLessThanOrEqual(1);
    expect(warnings.map((warning) => warning.name)).not.toContain('TimeoutOverflowWarning');
    expect((await reader.instances('orders')).map((i) => i.id)).toEqual(['real']);
  });

  it('serves a service whose version was replaced by a huge number', async () => {
    const namespace = `planted-${++sequence}`;
    const writer = redis.backend({ namespace, logger: recordingLogger() });
    const reader = redis.backend({ namespace, logger: recordingLogger() });
    await writer.register(instance('a'), { ttlMs: 30_000 });
    const keys = serviceKeys(namespace, 'orders');
    let watched: string[] = [];
    reader.watch('orders', { onChange: (list) => (watched = list.map((i) => i.id)) });
    await vi.waitFor(() => expect(watched).toEqual(['a']));

    for (const version of ['99999999999999999999999', '9007199254740993', '-5', '1e30', 'x'.repeat(1_000)]) {
      await redis.admin.hset(keys.records, '#version', version);
      expect((await reader.instances('orders')).map((i) => i.id)).toEqual(['a']);
    }
    await writer.register(instance('b'), { ttlMs: 30_000 });
    await vi.waitFor(() => expect(watched).toEqual(['a', 'b']));
    expect(Number(await redis.admin.hget(keys.records, '#version'))).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
  });
});

describe('size limits', () => {
  it(`skips a record over ${RECORD_MAX_BYTES} bytes without sending or parsing it`, async () => {
    const namespace = `planted-${++sequence}`;
    const logger = recordingLogger();
    const b = redis.backend({ namespace, logger });
    await b.register(instance('small'), { ttlMs: 30_000 });
    const keys = serviceKeys(namespace, 'orders');
    // Valid JSON of a valid instance, padded to 10 MB.
    const huge = record('huge').replace('{', `{${' '.repeat(10 * 1024 * 1024)}`);
    await redis.admin.zadd(keys.deadlines, (await redis.serverTime()) + 30_000, 'huge');
    await redis.admin.hset(keys.records, 'huge', huge);

    const parse = vi.spyOn(JSON, 'parse');
    expect((await b.instances('orders')).map((i) => i.id)).toEqual(['small']);
    expect(parse.mock.calls.some(([text]) => String(text).length > RECORD_MAX_BYTES)).toBe(false);
    parse.mockRestore();
    expect(b.stats().malformedRecords).toBe(1);
    expect(logger.at('warn')[0]?.fields['problem']).toMatch(new RegExp(`has ${Buffer.byteLength(huge)} bytes, over the ${RECORD_MAX_BYTES}-byte limit`));

    // The listing script sends its size, not the record.
    const reply = (await redis.admin.eval(READ.lua, 3, keys.deadlines, keys.records, keys.log, keys.channel, 100, 'orders', '', 0)) as unknown[];
    expect(reply.slice(6).filter((_item, i) => i % 3 === 1)).toContain(Buffer.byteLength(huge));
  });

  it(`refuses to register an instance whose record would be over ${RECORD_MAX_BYTES} bytes`, async () => {
    const b = redis.backend({ namespace: `planted-${++sequence}` });
    // Control characters take six bytes each in JSON: 64 such meta values exceed the limit.
    const meta = Object.fromEntries(Array.from({ length: 64 }, (_, n) => [`key${n}`, '\u0001'.repeat(512)]));
    const big = createInstance({ id: 'big', service: 'orders', host: '10.0.0.1', port: 8080, meta }, Date.now());
    await expect(b.register(big, { ttlMs: 30_000 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'instance' });
    await expect(b.instances('orders')).resolves.toEqual([]);
  });
});

describe('logging malformed records', () => {
  it('logs each of more than 1,000 malformed records at most once, ever, and says when it stops', async () => {
    const namespace = `planted-${++sequence}`;
    const logger = recordingLogger();
    const b = redis.backend({ namespace, logger });
    await b.register(instance('good'), { ttlMs: 30_000 });
    const keys = serviceKeys(namespace, 'orders');
    const deadline = (await redis.serverTime()) + 60_000;
    const planted = 1_500;
    const pipeline = redis.admin.pipeline();
    for (let n = 0; n < planted; n++) {
      pipeline.zadd(keys.deadlines, deadline, `bad-${n}`);
      pipeline.hset(keys.records, `bad-${n}`, `30000 passing 1 {"id": "bad-${n}", `);
    }
    await pipeline.exec();

    for (let read = 1; read <= 3; read++) {
      expect((await b.instances('orders')).map((i) => i.id)).toEqual(['good']);
      expect(b.stats().malformedRecords).toBe(planted * read);
    }
    const warnings = logger.at('warn');
    expect(warnings).toHaveLength(1_001);
    expect(warnings.filter((line) => line.msg === 'skipping a malformed registry record')).toHaveLength(1_000);
    expect(warnings.at(-1)?.msg).toMatch(/counted but not logged/);
  });

  it("logs where a record is and what is wrong, not the attacker's bytes", async () => {
    const namespace = `planted-${++sequence}`;
    const logger = recordingLogger();
    const b = redis.backend({ namespace, logger });
    await b.register(instance('good'), { ttlMs: 30_000 });
    const keys = serviceKeys(namespace, 'orders');
    const deadline = (await redis.serverTime()) + 60_000;
    const escape = '\u001b[2J\u001b[31m';
    const plantedId = `evil\r\n${escape}${'x'.repeat(100_000)}`;
    await redis.admin.zadd(keys.deadlines, deadline, plantedId, deadline, 'bad-host');
    await redis.admin.hset(keys.records, plantedId, `30000 passing 1 ${JSON.stringify({ id: plantedId, note: escape })}`);
    await redis.admin.hset(keys.records, 'bad-host', record('bad-host', { host: `${escape}evil.example` }));
    await redis.admin.hset(keys.records, 'bad-json', `30000 passing 1 {"id": "${escape}SECRET-PAYLOAD`);
    await redis.admin.zadd(keys.deadlines, deadline, 'bad-json');

    expect((await b.instances('orders')).map((i) => i.id)).toEqual(['good']);
    const lines = logger.at('warn').map((line) => JSON.stringify(line));
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line.length).toBeLessThan(2_000);
      // JSON.stringify would show a raw control character as \u001b; an escaped one is \\u001b.
      expect(line).not.toMatch(/(?<!\\)\\u001b|\\r\\n/);
      expect(line).not.toContain('SECRET-PAYLOAD');
    }
    expect(lines.join('\n')).toContain(`(${plantedId.length} characters)`);
  });
});

describe('a resolver over planted data', () => {
  it('keeps answering with the valid instances', async () => {
    const namespace = `planted-${++sequence}`;
    const writer = redis.backend({ namespace, logger: recordingLogger() });
    const reader = redis.backend({ namespace, logger: recordingLogger() });
    await writer.register(instance('good'), { ttlMs: 30_000 });
    const keys = serviceKeys(namespace, 'orders');
    await redis.admin.zadd(keys.deadlines, (await redis.serverTime()) + 10 ** 12, 'forever');
    await redis.admin.hset(keys.records, 'forever', record('forever', { host: 'evil.example' }));
    await redis.admin.hset(keys.records, '#version', '9'.repeat(30));
    const resolver = createResolver({ backend: reader, envFallback: false });
    redis.defer(() => resolver.close());
    for (let n = 0; n < 5; n++) expect((await resolver.resolve('orders')).id).toBe('good');
  });
});
