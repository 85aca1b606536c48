import { describe, expect, it } from 'vitest';
import { parseInstanceRecord } from '../../src/backends/index.js';
import { InvalidArgumentError, MalformedRecordError, createInstance, instanceOrigin, type InstanceInput } from '../../src/index.js';

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
    for (const service of ['a', 'ip-intel', 'x'.repeat(128), 'v2', 'auth_service', 'Orders', 'orders.api', 'OSINT_Service-2.v1']) {
      expect(createInstance({ ...base, service }, 0).service).toBe(service);
    }
    for (const host of ['localhost', '::1', 'fe80::1%eth0', 'orders.internal.example.com']) expect(createInstance({ ...base, host }, 0).host).toBe(host);
    expect(createInstance({ ...base, port: 65_535, weight: 10_000, zone: 'eu-1a', version: '1.2.3+build.4' }, 0).port).toBe(65_535);
    const meta = Object.fromEntries(Array.from({ length: 64 }, (_, n) => [`k${n}`, 'v'.repeat(512)]));
    expect(Object.keys(createInstance({ ...base, meta }, 0).meta)).toHaveLength(64);
  });

  it.each<[Partial<InstanceInput> | Record<string, unknown>, string]>([
    [{ service: '' }, 'instance.service'],
    [{ service: '-orders' }, 'instance.service'],
    [{ service: 'orders v2' }, 'instance.service'],
    [{ service: 'x'.repeat(129) }, 'instance.service'],
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
    [{ meta: { k: 'é'.repeat(300) } }, 'instance.meta.k'],
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

describe('service names', () => {
  it.each([
    ['', /the name is empty/],
    ['orders api', /character U\+0020 at position 7 is not allowed/],
    ['orders/api', /character "\/" \(U\+002F\) at position 7 is not allowed/],
    ['{orders}', /character "\{" \(U\+007B\) at position 1 is not allowed/],
    ['orders\r\n', /character U\+000D at position 7 is not allowed/],
    ['_orders', /it starts with "_" \(U\+005F\)/],
    ['orders:v1', /character ":" \(U\+003A\) at position 7/],
    ['x'.repeat(129), /the name has 129 characters/],
  ])('rejects %j with a typed error naming what is wrong', (service, problem) => {
    expect(() => createInstance({ ...base, service }, 0)).toThrow(InvalidArgumentError);
    expect(() => createInstance({ ...base, service }, 0)).toThrow(problem);
  });
});

describe('meta', () => {
  it('counts value limits in UTF-8 bytes, as Consul does', () => {
    expect(createInstance({ ...base, meta: { k: 'é'.repeat(256) } }, 0).meta.k).toHaveLength(256);
    expect(() => createInstance({ ...base, meta: { k: 'é'.repeat(257) } }, 0)).toThrow(/at most 512 UTF-8 bytes/);
  });

  it('keeps a __proto__ key as a plain pair instead of dropping it', () => {
    const meta = JSON.parse('{"__proto__":"x","other":"y"}') as Record<string, string>;
    const instance = createInstance({ ...base, meta }, 0);
    expect(Object.keys(instance.meta)).toEqual(['__proto__', 'other']);
    expect(Object.getOwnPropertyDescriptor(instance.meta, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(instance.meta)).toBe(Object.prototype);
    expect((JSON.parse(JSON.stringify(instance)) as { meta: unknown }).meta).toEqual(meta);
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
