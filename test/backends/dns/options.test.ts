import { describe, expect, it } from 'vitest';
import { DnsBackend, ReadOnlyRegistryError, consulDnsName, kubernetesDnsName } from '../../../src/backends/dns/index.js';
import { assertDnsServiceName, srvName } from '../../../src/backends/dns/names.js';
import { resolveSettings } from '../../../src/backends/dns/options.js';
import { InvalidArgumentError, isRollcallError } from '../../../src/core/errors.js';
import { autoRegister } from '../../../src/registration/registration.js';

const invalid = (run: () => unknown): InvalidArgumentError => {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error('expected an InvalidArgumentError');
};

describe('DnsBackend options', () => {
  it('defaults to the system resolvers, the plain service name, the lowest priority, 1-5 s reuse', () => {
    const settings = resolveSettings({ env: {} });
    expect(settings).toMatchObject({ servers: undefined, template: '{service}', priorities: 'lowest', family: 'any', minTtlMs: 1_000, maxTtlMs: 5_000, services: [] });
  });

  it('reads DNS_SERVERS and DNS_NAME_TEMPLATE; options win', () => {
    const env = { DNS_SERVERS: '10.0.0.53, 10.0.0.54:5353,[fd00::53]:53', DNS_NAME_TEMPLATE: '{service}.service.consul.' };
    expect(resolveSettings({ env })).toMatchObject({ servers: ['10.0.0.53', '10.0.0.54:5353', '[fd00::53]:53'], template: '{service}.service.consul' });
    expect(resolveSettings({ env, servers: ['127.0.0.1:8600'], name: '_api._tcp.{service}.local' })).toMatchObject({ servers: ['127.0.0.1:8600'], template: '_api._tcp.{service}.local' });
  });

  it('names the bad value', () => {
    expect(invalid(() => resolveSettings({ env: { DNS_SERVERS: 'dns.example.com' } })).field).toBe('DNS_SERVERS');
    expect(invalid(() => resolveSettings({ env: {}, servers: ['10.0.0.1', '10.0.0.2:99999'] })).field).toBe('servers[1]');
    expect(invalid(() => resolveSettings({ env: {}, name: 'orders.consul' })).field).toBe('name');
    expect(invalid(() => resolveSettings({ env: {}, name: '{service}.{service}' })).field).toBe('name');
    expect(invalid(() => resolveSettings({ env: { DNS_NAME_TEMPLATE: 'has space.{service}' } })).field).toBe('DNS_NAME_TEMPLATE');
    expect(invalid(() => resolveSettings({ env: {}, services: ['ok', 'not_ok'] })).field).toBe('services[1]');
    expect(invalid(() => resolveSettings({ env: {}, priorities: 'first' as never })).field).toBe('priorities');
    expect(invalid(() => resolveSettings({ env: {}, minTtlMs: 5_000, maxTtlMs: 1_000 })).field).toBe('maxTtlMs');
    expect(invalid(() => resolveSettings({ env: {}, tries: 0 })).field).toBe('tries');
  });
});

describe('DNS names', () => {
  it('builds the Consul and Kubernetes templates', () => {
    expect(consulDnsName()).toBe('{service}.service.consul');
    expect(consulDnsName({ datacenter: 'dc1', tag: 'primary' })).toBe('primary.{service}.service.dc1.consul');
    expect(kubernetesDnsName({ port: 'http', namespace: 'shop' })).toBe('_http._tcp.{service}.shop.svc.cluster.local');
    expect(srvName(kubernetesDnsName({ port: 'grpc', protocol: 'tcp', domain: 'k8s.internal' }), 'orders')).toBe('_grpc._tcp.orders.default.svc.k8s.internal');
  });

  it('accepts DNS labels only, saying what is wrong', () => {
    for (const name of ['orders', 'Orders-2', 'a', 'x'.repeat(63)]) expect(() => assertDnsServiceName(name)).not.toThrow();
    expect(invalid(() => assertDnsServiceName('auth_service')).problem).toBe('character "_" at position 5 cannot be part of a DNS label');
    expect(invalid(() => assertDnsServiceName('orders.api')).problem).toContain('"."');
    expect(invalid(() => assertDnsServiceName('orders-')).problem).toContain('neither starts nor ends');
    expect(invalid(() => assertDnsServiceName('x'.repeat(64))).problem).toContain('64 characters');
    expect(invalid(() => assertDnsServiceName('bad name')).field).toBe('service');
  });
});

describe('writes to the DNS backend', () => {
  it('are refused with a ReadOnlyRegistryError (INVALID_ARGUMENT) saying DNS is read-only', async () => {
    const backend = new DnsBackend({ env: {}, servers: ['127.0.0.1:9'] });
    const error: unknown = await backend.deregister({ service: 'orders', id: 'i-1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReadOnlyRegistryError);
    expect(isRollcallError(error) && error.code).toBe('INVALID_ARGUMENT');
    expect((error as ReadOnlyRegistryError).operation).toBe('deregister');
    expect((error as Error).message).toContain('read-only');
    await backend.close();
  });

  it('make autoRegister fail at once with the reason instead of retrying', async () => {
    const backend = new DnsBackend({ env: {}, servers: ['127.0.0.1:9'] });
    const error: unknown = await autoRegister({ backend, service: 'orders', host: '127.0.0.1', port: 8080 }).catch((e: unknown) => e);
    expect(isRollcallError(error) && error.code).toBe('REGISTRATION_FAILED');
    expect((error as Error).message).toContain('read-only');
    await backend.close();
  });
});
