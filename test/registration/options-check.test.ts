/**
 * assertAutoRegisterOptions: what lifespan() runs at startup, before its server listens, to fail
 * on a mistake at once without building a Registration. It rejects what autoRegister() rejects,
 * naming the same option, and leaves the port and host to be checked once known.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBackend, autoRegister } from '../../src/index.js';
import { assertAutoRegisterOptions } from '../../src/registration/options.js';

const backend = new MemoryBackend();
const invalid = (field: string): unknown => expect.objectContaining({ code: 'INVALID_ARGUMENT', field });

describe('assertAutoRegisterOptions', () => {
  it('accepts options without a port or a host, which a server only knows once it listens', () => {
    expect(() => assertAutoRegisterOptions({ backend, service: 'orders' })).not.toThrow();
    expect(() => assertAutoRegisterOptions({ backend, service: 'orders', tags: ['a'], meta: { k: 'v' }, zone: 'z1', ttlMs: 3_000 })).not.toThrow();
  });

  it('checks the port and the host when they are given', () => {
    expect(() => assertAutoRegisterOptions({ backend, service: 'orders', port: 0 })).toThrow(invalid('options.port'));
    expect(() => assertAutoRegisterOptions({ backend, service: 'orders', host: 'has space' })).toThrow(invalid('options.host'));
    expect(() => assertAutoRegisterOptions({ backend, service: 'orders', port: null as never })).toThrow(invalid('port'));
  });

  const wrong: Array<[string, Record<string, unknown>, string]> = [
    ['options that are not an object', { options: 'orders' }, 'options'],
    ['a service that is not a service name', { service: 'orders/v1' }, 'options.service'],
    ['an id that is not an id', { id: ' x' }, 'options.id'],
    ['tags that are a string', { tags: 'a,b' }, 'options.tags'],
    ['a weight of 0', { weight: 0 }, 'options.weight'],
    ['a ttlMs that is a string', { ttlMs: '3000' }, 'ttlMs'],
    ['a heartbeatIntervalMs not below ttlMs', { ttlMs: 3_000, heartbeatIntervalMs: 3_000 }, 'heartbeatIntervalMs'],
    ['a health check that is not a function', { healthChecks: { db: 'SELECT 1' } }, 'healthChecks.db'],
    ['required: null', { required: null }, 'required'],
    ['a clock without now()', { clock: {} }, 'clock'],
    ['a backend without renew and deregister', { backend: { register: () => Promise.resolve() } }, 'backend'],
  ];

  it.each(wrong)('rejects %s, naming the option as autoRegister() does', async (_what, overrides, field) => {
    const options = 'options' in overrides ? overrides['options'] : { backend, service: 'orders', ...overrides };
    expect(() => assertAutoRegisterOptions(options as never)).toThrow(invalid(field));
    const complete = typeof options === 'object' ? { port: 8080, host: '127.0.0.1', ...options } : options;
    await expect(autoRegister(complete as never)).rejects.toEqual(invalid(field));
  });
});
