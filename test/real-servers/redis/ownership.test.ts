/**
 * Every instance belongs to the RedisBackend object that registered it, on a real redis-server:
 * another backend's register, renew and deregister of a live instance are refused (ids are visible
 * to every reader, so anyone could try), a registration whose record someone changed by hand
 * restores it on its next heartbeat, and the owner secret shows nowhere.
 */
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import type { RedisBackend } from '../../../src/backends/redis/index.js';
import { InstanceOwnedError } from '../../../src/backends/redis/index.js';
import { serviceKeys } from '../../../src/backends/redis/keys.js';
import { RegistryAuthError, isRollcallError } from '../../../src/core/errors.js';
import { createInstance, type InstanceInput, type ServiceInstance } from '../../../src/core/instance.js';
import { autoRegister } from '../../../src/registration/registration.js';
import { recordingLogger, type RecordingLogger } from '../../helpers/recording-logger.js';
import { useRedisServer } from '../../helpers/redis-fixture.js';

const redis = useRedisServer();
let sequence = 0;

/** Two backend objects on one namespace: as two processes would be. */
function processes(): { victim: RedisBackend; other: RedisBackend; logs: RecordingLogger[] } {
  const namespace = `own-${++sequence}`;
  const victimLog = recordingLogger();
  const otherLog = recordingLogger();
  const victim = redis.backend({ namespace, logger: victimLog });
  const other = redis.backend({ namespace, logger: otherLog });
  return { victim, other, logs: [victimLog, otherLog] };
}

function instance(overrides: Partial<InstanceInput> = {}): ServiceInstance {
  return createInstance({ id: `i-${++sequence}`, service: 'orders', host: '10.0.0.1', port: 8080, ...overrides }, Date.now());
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (error: unknown) => error as Error,
  );
}

describe('instance ownership', () => {
  it("refuses another backend's register, renew and deregister of a live instance", async () => {
    const { victim, other } = processes();
    const registered = instance();
    await victim.register(registered, { ttlMs: 30_000 });
    const keys = serviceKeys(victim.namespace, 'orders');
    const deadline = await redis.admin.zscore(keys.deadlines, registered.id);
    const record = await redis.admin.hget(keys.records, registered.id);

    const hijack = await failure(other.register({ ...registered, host: 'evil.example', port: 6666 }, { ttlMs: 86_400_000 }));
    expect(hijack).toBeInstanceOf(InstanceOwnedError);
    expect(hijack).toBeInstanceOf(RegistryAuthError);
    expect(hijack).toMatchObject({ code: 'REGISTRY_AUTH', backend: 'redis', operation: 'register', service: 'orders', id: registered.id });
    expect((hijack as InstanceOwnedError).leaseLeftMs).toBeGreaterThan(25_000);
    expect((hijack as InstanceOwnedError).leaseLeftMs).toBeLessThanOrEqual(30_000);
    expect(hijack.message).toMatch(/belongs to another RedisBackend/);

    await expect(other.renew(registered, 'critical')).resolves.toBe('lost');
    const removal = await failure(other.deregister(registered));
    expect(removal).toMatchObject({ code: 'REGISTRY_AUTH', operation: 'deregister' });

    // Untouched: same record, same deadline, still the victim's to renew.
    expect(await redis.admin.hget(keys.records, registered.id)).toBe(record);
    expect(await redis.admin.zscore(keys.deadlines, registered.id)).toBe(deadline);
    expect((await other.instances('orders')).map((i) => [i.host, i.port, i.status])).toEqual([['10.0.0.1', 8080, 'passing']]);
    await expect(victim.renew(registered, 'warning')).resolves.toBe('renewed');
    await victim.register({ ...registered, port: 9090 }, { ttlMs: 30_000 });
    expect((await other.instances('orders')).map((i) => i.port)).toEqual([9090]);

    // Once its owner deregistered it, the id is free.
    await victim.deregister(registered);
    await other.register({ ...registered, host: '10.0.0.2' }, { ttlMs: 30_000 });
    await expect(victim.renew(registered, 'passing')).resolves.toBe('lost');
    expect((await victim.instances('orders')).map((i) => i.host)).toEqual(['10.0.0.2']);
  });

  it('lets anyone take an id whose lease expired, and then refuses the former owner', async () => {
    const { victim, other } = processes();
    const short = instance();
    await victim.register(short, { ttlMs: 1_000 });
    await expect(other.register({ ...short, host: 'too-early.example' }, { ttlMs: 30_000 })).rejects.toBeInstanceOf(InstanceOwnedError);
    await vi.waitFor(async () => expect(await victim.instances('orders')).toEqual([]), { timeout: 2_500, interval: 100 });
    await other.register({ ...short, host: '10.0.0.3' }, { ttlMs: 30_000 });
    await expect(victim.renew(short, 'passing')).resolves.toBe('lost');
    await expect(victim.register(short, { ttlMs: 1_000 })).rejects.toMatchObject({ code: 'REGISTRY_AUTH' });
    expect((await victim.instances('orders')).map((i) => i.host)).toEqual(['10.0.0.3']);
  });

  it('keeps the first registration of an id; a second process with the same id stays standalone', async () => {
    const { victim, other } = processes();
    const owner = await autoRegister({ backend: victim, service: 'orders', id: 'shared-id', host: '10.0.0.1', port: 8080, ttlMs: 3_000 });
    redis.defer(() => owner.stop());
    const second = await autoRegister({ backend: other, service: 'orders', id: 'shared-id', host: 'evil.example', port: 6666, ttlMs: 3_000 });
    redis.defer(() => second.stop());
    expect(owner.state).toBe('registered');
    expect(second.state).toBe('standalone');
    await expect(
      autoRegister({ backend: other, service: 'orders', id: 'shared-id', host: 'evil.example', port: 6666, ttlMs: 3_000, required: true }),
    ).rejects.toMatchObject({ code: 'REGISTRATION_FAILED', cause: expect.objectContaining({ code: 'REGISTRY_AUTH' }) as unknown });
    // The second one's stop does not remove the owner's instance.
    await second.stop();
    expect((await victim.instances('orders')).map((i) => i.host)).toEqual(['10.0.0.1']);
  });

  it('restores a record someone changed by hand on the next heartbeat', async () => {
    const { victim, other } = processes();
    const registration = await autoRegister({
      backend: victim,
      service: 'orders',
      host: '10.0.0.1',
      port: 8080,
      ttlMs: 3_000,
      heartbeatIntervalMs: 300,
    });
    redis.defer(() => registration.stop());
    const reregistered: string[] = [];
    registration.on('reregistered', ({ reason }) => reregistered.push(reason));
    const keys = serviceKeys(victim.namespace, 'orders');
    const id = registration.instance.id;

    // Someone with write access to Redis points the instance elsewhere, keeping its owner field.
    const record = (await redis.admin.hget(keys.records, id)) ?? '';
    await redis.admin.hset(keys.records, id, record.replace('"host":"10.0.0.1"', '"host":"evil.example"'));
    expect((await other.instances('orders')).map((i) => i.host)).toEqual(['evil.example']);

    // The owner's renewal sees a record it did not write: lost, so it registers again.
    // (The record is written back before the registration emits reregistered: wait for both.)
    await vi.waitFor(
      async () => {
        expect((await other.instances('orders')).map((i) => i.host)).toEqual(['10.0.0.1']);
        expect(reregistered).toHaveLength(1);
      },
      { timeout: 1_500, interval: 50 },
    );
    expect(registration.state).toBe('registered');
  });

  it('never shows the owner secret: not in listings, the keyspace, logs, errors or inspect', async () => {
    // Monitoring first: ioredis mistakes monitor lines arriving before it switched modes for replies.
    const monitor = await redis.admin.monitor();
    redis.defer(() => Promise.resolve(monitor.disconnect()));
    const { victim, other, logs } = processes();
    const sent: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => sent.push(args));
    const registered = instance();
    await victim.register(registered, { ttlMs: 30_000 });
    await other.register(instance(), { ttlMs: 30_000 });
    const refusal = await failure(other.register(registered, { ttlMs: 30_000 }));
    await vi.waitFor(() => expect(sent.filter(([command]) => /^evalsha$/i.test(command ?? ''))).toHaveLength(3));
    // The secret travels as the last argument of the scripts, and nowhere else.
    const secrets = [...new Set(sent.filter(([command]) => /^evalsha$/i.test(command ?? '')).map((args) => args.at(-1) ?? ''))];
    expect(secrets).toHaveLength(2);
    for (const secret of secrets) expect(secret.length).toBeGreaterThanOrEqual(40);

    const keys = serviceKeys(victim.namespace, 'orders');
    const everything = [
      JSON.stringify(await other.instances('orders')),
      JSON.stringify(await redis.admin.hgetall(keys.records)),
      JSON.stringify(await redis.admin.zrange(keys.deadlines, 0, -1)),
      refusal.message,
      refusal.stack ?? '',
      JSON.stringify(refusal),
      inspect(refusal, { showHidden: true, depth: Infinity }),
      inspect(victim, { showHidden: true, depth: Infinity }),
      JSON.stringify(victim),
      ...logs.map((log) => log.text()),
    ].join('\n');
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(isRollcallError(refusal)).toBe(true);
  });
});
