import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, MalformedRecordError, createInstance, instanceOrigin, parseInstanceRecord, type InstanceInput } from '../../src/index.js';

const base: InstanceInput = { id: 'orders-1', service: 'orders', host: '10.0.0.1', port: 8080 };

describe('createInstance', () => {
  it('applies defaults and freezes the result', () => {
    const instance = createInstance(base, 1_000);
    expect(instance).toEqual({ ...base, protocol: 'http', tags: [], meta: {}, weight: 1, status: 'passing', registeredAt: 1_000, updatedAt: 1_000 });
    expect(Object.isFrozen(instance)).toBe(true);
    expect(Object.isFrozen(instance.tags)).toBe(true);
    expect(Object.isFrozen(instance.meta)).toBe(true);
  });

  it('accepts the documented edges', () => {
    for (const service of ['a', 'ip-intel', 'x'.repeat(63), 'v2']) expect(createInstance({ ...base, service }, 0).service).toBe(service);
    for (const host of ['localhost', '::1', 'fe80::1%eth0', 'orders.internal.example.com']) expect(createInstance({ ...base, host }, 0).host).toBe(host);
    expect(createInstance({ ...base, port: 65_535, weight: 10_000, zone: 'eu-1a', version: '1.2.3+build.4' }, 0).port).toBe(65_535);
    const meta = Object.fromEntries(Array.from({ length: 64 }, (_, n) => [`k${n}`, 'v'.repeat(512)]));
    expect(Object.keys(createInstance({ ...base, meta }, 0).meta)).toHaveLength(64);
  });

  it.each<[Partial<InstanceInput> | Record<string, unknown>, string]>([
    [{ service: 'Orders' }, 'instance.service'],
    [{ service: '-orders' }, 'instance.service'],
    [{ service: 'orders_v2' }, 'instance.service'],
    [{ service: 'x'.repeat(64) }, 'instance.service'],
    [{ id: '' }, 'instance.id'],
    [{ id: 'a/b' }, 'instance.id'],
    [{ id: 'x'.repeat(129) }, 'instance.id'],
    [{ host: '' }, 'instance.host'],
    [{ host: 'a b' }, 'instance.host'],
    [{ host: '[::1]' }, 'instance.host'],
    [{ port: 0 }, 'instance.port'],
    [{ port: 80.5 }, 'instance.port'],
    [{ port: '80' }, 'instance.port'],
    [{ protocol: 'HTTP' }, 'instance.protocol'],
    [{ tags: 'a' }, 'instance.tags'],
    [{ tags: ['has space'] }, 'instance.tags[0]'],
    [{ tags: ['a,b'] }, 'instance.tags[0]'],
    [{ tags: Array.from({ length: 65 }, (_, n) => `t${n}`) }, 'instance.tags'],
    [{ meta: { 'bad key': 'v' } }, 'instance.meta key'],
    [{ meta: { k: 'v'.repeat(513) } }, 'instance.meta.k'],
    [{ meta: Object.fromEntries(Array.from({ length: 65 }, (_, n) => [`k${n}`, 'v'])) }, 'instance.meta'],
    [{ weight: 0 }, 'instance.weight'],
    [{ weight: 10_001 }, 'instance.weight'],
    [{ zone: 'eu west' }, 'instance.zone'],
    [{ status: 'sleeping' }, 'instance.status'],
    [{ registeredAt: -1 }, 'instance.registeredAt'],
  ])('rejects %j naming %s', (patch, field) => {
    let error: unknown;
    try {
      createInstance({ ...base, ...patch }, 0);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe(field);
    expect((error as InvalidArgumentError).message).toMatch(new RegExp(`^Invalid ${field.replace(/[.[\]]/g, '\\$&')}: expected .+, got .+$`));
  });
});

describe('parseInstanceRecord', () => {
  it('parses a complete record', () => {
    const record = { ...base, protocol: 'http', tags: [], meta: {}, weight: 1, status: 'passing', registeredAt: 1, updatedAt: 2 };
    expect(parseInstanceRecord(record, 'key')).toMatchObject({ id: 'orders-1', updatedAt: 2 });
  });

  it('turns wrong types, missing fields and non-objects into MalformedRecordError saying where', () => {
    for (const record of [null, 'text', [], { ...base }, { ...base, registeredAt: 1, updatedAt: 'soon' }, { ...base, port: '80', registeredAt: 1, updatedAt: 1 }]) {
      expect(() => parseInstanceRecord(record, 'rc:{orders}')).toThrow(MalformedRecordError);
      expect(() => parseInstanceRecord(record, 'rc:{orders}')).toThrow(/^Malformed registry record at rc:\{orders\}: /);
    }
  });
});

describe('instanceOrigin', () => {
  it('brackets IPv6 hosts', () => {
    expect(instanceOrigin(createInstance({ ...base, host: 'fe80::1' }, 0))).toBe('http://[fe80::1]:8080');
    expect(instanceOrigin(createInstance({ ...base, protocol: 'https' }, 0))).toBe('https://10.0.0.1:8080');
  });
});
