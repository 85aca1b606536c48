import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EtcdBackend } from '../../../src/backends/etcd/index.js';
import { resolveSettings } from '../../../src/backends/etcd/options.js';
import { InvalidArgumentError } from '../../../src/core/errors.js';

const invalid = (run: () => unknown): InvalidArgumentError => {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error('expected an InvalidArgumentError');
};

describe('EtcdBackend options', () => {
  it('defaults to one local member, namespace "default", 5 s attempts', () => {
    const settings = resolveSettings({ env: {} });
    expect(settings.endpoints).toEqual(['http://127.0.0.1:2379']);
    expect(settings.namespace).toBe('default');
    expect(settings.requestTimeoutMs).toBe(5_000);
    expect(settings.credentials).toBeUndefined();
    expect(settings.tls).toBeUndefined();
  });

  it('reads ETCD_ENDPOINTS as a comma-separated list; the option wins over it', () => {
    const env = { ETCD_ENDPOINTS: 'http://10.0.0.1:2379, 10.0.0.2:2379,http://10.0.0.1:2379' };
    expect(resolveSettings({ env }).endpoints).toEqual(['http://10.0.0.1:2379', 'http://10.0.0.2:2379']);
    expect(resolveSettings({ env, endpoints: ['http://10.0.0.9:2379'] }).endpoints).toEqual(['http://10.0.0.9:2379']);
    expect(resolveSettings({ env: { ETCD_ENDPOINTS: '' } }).endpoints).toEqual(['http://127.0.0.1:2379']);
  });

  it('takes https for endpoints without a scheme when TLS is configured', () => {
    expect(resolveSettings({ env: {}, endpoints: '10.0.0.1:2379', tls: { rejectUnauthorized: true } }).endpoints).toEqual(['https://10.0.0.1:2379']);
  });

  it('names the bad endpoint and never echoes credentials in a URL', () => {
    const withPassword = invalid(() => resolveSettings({ env: {}, endpoints: ['http://10.0.0.1:2379', 'http://root:hunter2@10.0.0.2:2379'] }));
    expect(withPassword.field).toBe('endpoints[1]');
    expect(withPassword.message).not.toContain('hunter2');
    const fromEnv = invalid(() => resolveSettings({ env: { ETCD_ENDPOINTS: 'ftp://10.0.0.1' } }));
    expect(fromEnv.field).toBe('ETCD_ENDPOINTS');
    expect(invalid(() => resolveSettings({ env: {}, endpoints: 'http://10.0.0.1:2379/v3' })).expected).toContain('without a path');
    expect(invalid(() => resolveSettings({ env: {}, endpoints: [] })).field).toBe('endpoints');
  });

  it('reads ETCD_USERNAME and ETCD_PASSWORD, requires both, and never echoes the password', () => {
    expect(resolveSettings({ env: { ETCD_USERNAME: 'app', ETCD_PASSWORD: 's3cret' } }).credentials).toEqual({ username: 'app', password: 's3cret' });
    expect(resolveSettings({ env: { ETCD_USERNAME: 'app', ETCD_PASSWORD: 's3cret' }, username: 'other', password: 'x' }).credentials).toEqual({ username: 'other', password: 'x' });
    expect(invalid(() => resolveSettings({ env: {}, username: 'app' })).field).toBe('ETCD_PASSWORD');
    expect(invalid(() => resolveSettings({ env: {}, password: 's3cret' })).message).not.toContain('s3cret');
    const bad = invalid(() => resolveSettings({ env: {}, username: 'app', password: 5 as unknown as string }));
    expect(bad.field).toBe('password');
    expect(bad.message).toContain('[redacted]');
  });

  it('checks the namespace, durations and TLS pairs', () => {
    expect(invalid(() => resolveSettings({ env: {}, namespace: 'a/b' })).field).toBe('namespace');
    expect(invalid(() => resolveSettings({ env: {}, namespace: '.hidden' })).field).toBe('namespace');
    expect(invalid(() => resolveSettings({ env: {}, requestTimeoutMs: 0 })).field).toBe('requestTimeoutMs');
    expect(invalid(() => resolveSettings({ env: {}, watchRetryInitialDelayMs: 500, watchRetryMaxDelayMs: 100 })).field).toBe('watchRetryMaxDelayMs');
    expect(invalid(() => resolveSettings({ env: {}, tls: { cert: 'x' } })).field).toBe('tls');
    expect(invalid(() => resolveSettings({ env: { ETCD_CACERT: '/nonexistent/ca.pem' } })).field).toBe('ETCD_CACERT');
    expect(invalid(() => resolveSettings(null as never)).field).toBe('options');
  });

  it('shows no credentials through util.inspect or JSON.stringify', () => {
    const backend = new EtcdBackend({ env: {}, username: 'app', password: 'hunter2-secret' });
    expect(inspect(backend, { depth: 10, showHidden: true })).not.toContain('hunter2-secret');
    expect(JSON.stringify(backend)).not.toContain('hunter2-secret');
    return backend.close();
  });
});
