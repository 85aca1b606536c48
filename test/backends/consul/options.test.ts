/** Option resolution: explicit options, then CONSUL_* variables as Consul's tools read them, then defaults. */
import { describe, expect, it } from 'vitest';
import { ConsulBackend } from '../../../src/backends/consul/index.js';
import { resolveSettings } from '../../../src/backends/consul/options.js';
import { InvalidArgumentError } from '../../../src/core/errors.js';

describe('ConsulBackend options', () => {
  it('defaults to the local agent over HTTP with documented defaults', () => {
    expect(resolveSettings({ env: {} })).toMatchObject({
      origin: 'http://127.0.0.1:8500',
      socketPath: undefined,
      token: undefined,
      tokenTransport: 'header',
      tls: undefined,
      namespace: undefined,
      passingOnly: false,
      tags: [],
      deregisterCriticalAfterMs: 60_000,
      requestTimeoutMs: 5_000,
      watchWaitMs: 60_000,
      watchRetryInitialDelayMs: 500,
      watchRetryMaxDelayMs: 30_000,
      watchRateBurst: 5,
      watchRateIntervalMs: 1_000,
    });
  });

  it("parses Consul's address forms", () => {
    const origin = (address: string, env: Record<string, string> = {}): unknown => {
      const settings = resolveSettings({ address, env });
      return [settings.origin, settings.socketPath];
    };
    expect(origin('consul.service:8500')).toEqual(['http://consul.service:8500', undefined]);
    expect(origin('consul.service:8501', { CONSUL_HTTP_SSL: 'true' })).toEqual(['https://consul.service:8501', undefined]);
    expect(origin('http://10.0.0.2:8500/')).toEqual(['http://10.0.0.2:8500', undefined]);
    expect(origin('https://[::1]:8501')).toEqual(['https://[::1]:8501', undefined]);
    expect(origin('unix:///var/run/consul.sock')).toEqual(['http://localhost', '/var/run/consul.sock']);
  });

  it('lets options win over CONSUL_* variables', () => {
    const env = { CONSUL_HTTP_ADDR: 'https://from-env:8501', CONSUL_HTTP_TOKEN: 'env-token', CONSUL_NAMESPACE: 'env-ns', CONSUL_PARTITION: 'env-p' };
    expect(resolveSettings({ env })).toMatchObject({ origin: 'https://from-env:8501', token: 'env-token', consulNamespace: 'env-ns', partition: 'env-p' });
    expect(resolveSettings({ env, address: 'opt:1', token: 'opt-token', consulNamespace: 'opt-ns' })).toMatchObject({
      origin: 'http://opt:1',
      token: 'opt-token',
      consulNamespace: 'opt-ns',
    });
    expect(resolveSettings({ env: { CONSUL_HTTP_SSL_VERIFY: 'false' } }).tls).toEqual({ rejectUnauthorized: false });
  });

  it('rejects invalid options with INVALID_ARGUMENT, never echoing credentials', () => {
    const invalid: [Parameters<typeof resolveSettings>[0], RegExp][] = [
      [{ env: {}, address: 'ftp://host:21' }, /Invalid address/],
      [{ env: {}, address: 'http://host:1/prefix' }, /without a path/],
      [{ env: { CONSUL_HTTP_ADDR: 'unix://relative.sock' } }, /Invalid CONSUL_HTTP_ADDR/],
      [{ env: {}, tokenTransport: 'query' as never }, /tokenTransport/],
      [{ env: {}, namespace: 'has.dot' }, /Invalid namespace/],
      [{ env: {}, tags: ['two words'] }, /Invalid tags/],
      [{ env: {}, watchWaitMs: 700_000 }, /Invalid watchWaitMs/],
      [{ env: {}, deregisterCriticalAfterMs: 10 }, /Invalid deregisterCriticalAfterMs/],
      [{ env: { CONSUL_HTTP_SSL: 'yes' } }, /Invalid CONSUL_HTTP_SSL/],
      [{ env: { CONSUL_CACERT: '/nonexistent/ca.pem' } }, /Invalid CONSUL_CACERT: expected a readable file/],
      [{ env: {}, tls: { cert: 'x' } }, /cert and key together/],
      [{ env: { CONSUL_TLS_SERVER_NAME: 'consul server' } }, /Invalid CONSUL_TLS_SERVER_NAME: expected a host name/],
      [{ env: {}, tls: { servername: 'consul/1' } }, /Invalid tls.servername: expected a host name/],
    ];
    for (const [options, message] of invalid) {
      expect(() => resolveSettings(options), String(message)).toThrow(message);
      expect(() => resolveSettings(options)).toThrow(InvalidArgumentError);
    }
    const withCredentials = (): unknown => resolveSettings({ env: {}, address: 'http://admin:hunter2@consul:8500' });
    expect(withCredentials).toThrow(/without credentials/);
    expect(withCredentials).not.toThrow(/hunter2/);
    const badToken = (): unknown => resolveSettings({ env: {}, token: 'has a space-s3cr3t' });
    expect(badToken).toThrow(/Invalid token/);
    expect(badToken).not.toThrow(/s3cr3t/);
  });

  it('validates in the constructor, before any connection is made', () => {
    expect(() => new ConsulBackend({ env: {}, requestTimeoutMs: 0 })).toThrow(InvalidArgumentError);
  });
});
