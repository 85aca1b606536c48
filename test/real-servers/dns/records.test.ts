/**
 * How SRV records on a real server (Knot DNS) become instances, and how long answers are reused:
 * record TTLs honoured within bounds, priorities and weights, IPv6 targets, targets without
 * addresses skipped and counted, stable registration times, and a watch that follows records
 * changed while it runs.
 */
import { describe, expect, it, vi } from 'vitest';
import type { ServiceInstance } from '../../../src/core/instance.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { useDnsServer } from '../../helpers/dns-fixture.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const knot = useDnsServer();
const backend = knot.backend;

const summary = (list: readonly ServiceInstance[]): string[] => list.map((i) => `${i.host}:${i.port}/${i.weight}`).sort();

describe('SRV records as instances', () => {
  it('reuses an answer for its shortest record TTL, and looks again after it', async () => {
    await knot.server.setService('ttl', [{ host: '10.1.0.1', port: 8080 }], { ttlSeconds: 2 });
    const subject = backend({ minTtlMs: 100, maxTtlMs: 60_000 });
    expect(summary(await subject.instances('ttl'))).toEqual(['10.1.0.1:8080/1']);
    await knot.server.setService('ttl', [{ host: '10.1.0.2', port: 8080 }], { ttlSeconds: 2 });
    expect(summary(await subject.instances('ttl'))).toEqual(['10.1.0.1:8080/1']);
    expect(subject.stats()).toMatchObject({ lookups: 1, cacheHits: 1 });
    await vi.waitFor(async () => expect(summary(await subject.instances('ttl'))).toEqual(['10.1.0.2:8080/1']), { timeout: 4_000, interval: 100 });
  });

  it('never reuses an answer beyond maxTtlMs, whatever the TTL', async () => {
    await knot.server.setService('capped', [{ host: '10.1.1.1', port: 8080 }], { ttlSeconds: 3600 });
    const subject = backend({ minTtlMs: 100, maxTtlMs: 300 });
    await subject.instances('capped');
    await knot.server.setService('capped', [{ host: '10.1.1.2', port: 8080 }], { ttlSeconds: 3600 });
    await vi.waitFor(async () => expect(summary(await subject.instances('capped'))).toEqual(['10.1.1.2:8080/1']), { timeout: 2_000, interval: 50 });
  });

  it('lists the lowest priority only, or every priority with meta.priority when asked', async () => {
    await knot.server.setService('tiers', [
      { host: '10.2.0.1', port: 8080, priority: 10, weight: 60 },
      { host: '10.2.0.2', port: 8080, priority: 10, weight: 0 },
      { host: '10.2.0.3', port: 8080, priority: 20, weight: 65535 },
    ]);
    expect(summary(await backend().instances('tiers'))).toEqual(['10.2.0.1:8080/60', '10.2.0.2:8080/1']);
    const all = await backend({ priorities: 'all' }).instances('tiers');
    expect(summary(all)).toEqual(['10.2.0.1:8080/60', '10.2.0.2:8080/1', '10.2.0.3:8080/10000']);
    expect(all.find((i) => i.host === '10.2.0.3')?.meta).toEqual({ target: 'tiers-3.test', priority: '20' });
  });

  it('resolves IPv6 targets, uses the protocol option, and keeps registeredAt across lookups', async () => {
    await knot.server.setService('six', [{ host: 'fd00::5', port: 9443 }]);
    const subject = backend({ protocol: 'https', minTtlMs: 0, maxTtlMs: 1 });
    const [first] = await subject.instances('six');
    expect(first).toMatchObject({ host: 'fd00::5', port: 9443, protocol: 'https', status: 'passing' });
    // Asked again once the 1 ms cache entry lapsed: a second lookup.
    let again: ServiceInstance | undefined;
    await vi.waitFor(async () => {
      [again] = await subject.instances('six');
      expect(subject.stats().lookups).toBe(2);
    });
    expect(again?.registeredAt).toBe(first?.registeredAt);
    await expect(backend({ family: 'ipv4' }).instances('six')).resolves.toEqual([]);
  });

  it('skips (and counts, and logs once) a record whose target has no address, keeping the others', async () => {
    await knot.server.setRaw('partial', ['_http._tcp.partial 1 SRV 10 1 8080 partial-1.test.', '_http._tcp.partial 1 SRV 10 1 8081 ghost.test.', 'partial-1 1 A 10.3.0.1']);
    const logger = recordingLogger();
    const subject = backend({ logger, minTtlMs: 0, maxTtlMs: 1 });
    expect(summary(await subject.instances('partial'))).toEqual(['10.3.0.1:8080/1']);
    // Asked again once the 1 ms cache entry lapsed: a second lookup skips the record again.
    await vi.waitFor(async () => {
      await subject.instances('partial');
      expect(subject.stats().lookups).toBe(2);
    });
    expect(subject.stats().skippedRecords).toBe(2);
    expect(logger.at('warn').filter((line) => line.msg?.includes('ghost.test'))).toHaveLength(1);
  });

  it('refuses service names that are not DNS labels, naming the character', async () => {
    const subject = backend();
    const error = (await subject.instances('auth_service').catch((e: unknown) => e)) as { code: string; message: string };
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('"_" at position 5');
    await expect(subject.instances('orders.api')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(() => subject.watch('bad_name', { onChange: () => {} })).toThrow(/DNS label/);
  });
});

describe('a resolver watching DNS', () => {
  it('follows records changed while it runs', async () => {
    await knot.server.setService('live', [{ host: '10.4.0.1', port: 8080 }]);
    const subject = backend({ minTtlMs: 200, maxTtlMs: 500 });
    const resolver = createResolver({ backend: subject, envFallback: false });
    knot.defer(() => resolver.close());
    expect((await resolver.resolve('live')).host).toBe('10.4.0.1');
    await vi.waitFor(() => expect(resolver.status('live')?.watching).toBe(true));
    await knot.server.setService('live', [{ host: '10.4.0.2', port: 8080 }]);
    await vi.waitFor(async () => expect((await resolver.resolve('live')).host).toBe('10.4.0.2'), { timeout: 3_000, interval: 50 });
    await knot.server.setService('live', []);
    await vi.waitFor(async () => expect(await resolver.resolve('live').catch((e: { code: string }) => e.code)).toBe('SERVICE_UNAVAILABLE'), { timeout: 3_000, interval: 50 });
  });
});
