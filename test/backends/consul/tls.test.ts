/**
 * HTTPS to Consul with a private CA (option or CONSUL_CACERT), client certificates for agents
 * with verify_incoming, and clear errors when the certificate cannot be trusted. The PKI is made
 * at test time with openssl.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRollcallError } from '../../../src/core/errors.js';
import { createTestPki, hasOpenssl, type TestPki } from '../../helpers/consul-double/index.js';
import { instance, useConsulHarness } from '../../helpers/consul-double/harness.js';

const start = useConsulHarness();
let pki: TestPki;

beforeAll(() => {
  if (!hasOpenssl()) throw new Error('the TLS tests need the openssl CLI (apt-get install openssl)');
  pki = createTestPki();
});

afterAll(() => {
  pki.remove();
});

describe('TLS', () => {
  it('talks to an HTTPS agent signed by a private CA given as tls.ca', async () => {
    const { double, backend } = await start({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    expect(double.url).toMatch(/^https:/);
    const consul = backend({ tls: { ca: pki.ca } });
    const registered = instance();
    await consul.register(registered, { ttlMs: 15_000 });
    expect((await consul.instances('orders')).map((i) => i.id)).toEqual([registered.id]);
  });

  it('reads CONSUL_HTTP_ADDR, CONSUL_HTTP_SSL and CONSUL_CACERT as Consul tools do', async () => {
    const { double, backend } = await start({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    const consul = backend({
      address: undefined,
      env: { CONSUL_HTTP_ADDR: double.address, CONSUL_HTTP_SSL: 'true', CONSUL_CACERT: join(pki.dir, 'ca.pem') },
    });
    await expect(consul.services()).resolves.toEqual(['consul']);
  });

  it('refuses a certificate it cannot trust, saying how to trust it', async () => {
    const { backend } = await start({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    const error = await backend().instances('orders').catch((e: unknown) => e);
    expect(isRollcallError(error) && error.code).toBe('REGISTRY_UNAVAILABLE');
    expect(String(error)).toMatch(/certificate/i);
    expect(String(error)).toContain('pass tls.ca or set CONSUL_CACERT');
    const wrongName = await backend({ tls: { ca: pki.ca, servername: 'other.example' } }).services().catch((e: unknown) => e);
    expect(isRollcallError(wrongName) && wrongName.code).toBe('REGISTRY_UNAVAILABLE');
  });

  it('presents a client certificate to an agent that requires one', async () => {
    const { backend } = await start({ tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true } });
    const anonymous = await backend({ tls: { ca: pki.ca } }).services().catch((e: unknown) => e);
    expect(isRollcallError(anonymous) && anonymous.code).toBe('REGISTRY_UNAVAILABLE');
    await expect(backend({ tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } }).services()).resolves.toEqual(['consul']);
    const fromEnv = backend({
      env: { CONSUL_CACERT: join(pki.dir, 'ca.pem'), CONSUL_CLIENT_CERT: join(pki.dir, 'client.pem'), CONSUL_CLIENT_KEY: join(pki.dir, 'client-key.pem') },
    });
    await expect(fromEnv.services()).resolves.toEqual(['consul']);
  });
});
