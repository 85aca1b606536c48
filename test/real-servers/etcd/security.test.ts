/**
 * TLS (with client certificates) and etcd's user/password auth, on real etcd members: what works
 * with the right settings, the typed error for each wrong one, the token fetched again after a
 * member forgot it, and credentials never reaching messages or logs.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdBackend, type EtcdBackendOptions } from '../../../src/backends/etcd/index.js';
import { isRollcallError } from '../../../src/core/errors.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { etcdctl, startEtcd, type EtcdMember } from '../../helpers/etcd-server.js';
import { recordingLogger } from '../../helpers/recording-logger.js';
import { createTlsFiles } from '../../helpers/redis-server.js';

const PASSWORD = 'app-secret-9f3e1';
const ROOT = 'root:root-secret-77aa';
const opened: EtcdBackend[] = [];

function backend(options: EtcdBackendOptions): EtcdBackend {
  const created = new EtcdBackend({ env: {}, requestTimeoutMs: 2_000, ...options });
  opened.push(created);
  return created;
}

const instance = (id: string): ServiceInstance => createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080 }, Date.now());

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRollcallError(error), String(error)).toBe(true);
  return error as { code: string; message: string };
}

/** Registers, renews, lists and watches: everything a process does with its backend. */
async function exercise(subject: EtcdBackend): Promise<void> {
  await subject.register(instance('i-1'), { ttlMs: 10_000 });
  await expect(subject.renew({ service: 'orders', id: 'i-1' }, 'warning')).resolves.toBe('renewed');
  expect((await subject.instances('orders')).map((i) => [i.id, i.status])).toEqual([['i-1', 'warning']]);
  await expect(subject.services()).resolves.toEqual(['orders']);
  const pushed = await new Promise<readonly ServiceInstance[]>((resolve) => {
    const stop = subject.watch('orders', {
      onChange: (list) => {
        stop();
        resolve(list);
      },
    });
  });
  expect(pushed.map((i) => i.id)).toEqual(['i-1']);
  await subject.deregister({ service: 'orders', id: 'i-1' });
}

describe('etcd over TLS with client certificates', () => {
  let member: EtcdMember;
  let tls: ReturnType<typeof createTlsFiles>;

  beforeAll(async () => {
    tls = createTlsFiles();
    member = await startEtcd({ tls: { ...tls, clientCertAuth: true } });
  });

  afterAll(async () => {
    await Promise.all(opened.splice(0).map((b) => b.close()));
    await member?.stop();
    await tls?.remove();
  });

  it('works with the CA and a client certificate given as options', async () => {
    const read = (path: string): string => readFileSync(path, 'utf8');
    await exercise(backend({ endpoints: member.clientUrl, namespace: 'tls-options', tls: { ca: read(tls.ca), cert: read(tls.cert), key: read(tls.key) } }));
  });

  it('reads ETCD_ENDPOINTS, ETCD_CACERT, ETCD_CERT and ETCD_KEY', async () => {
    const env = { ETCD_ENDPOINTS: member.clientUrl.replace('https://', ''), ETCD_CACERT: tls.ca, ETCD_CERT: tls.cert, ETCD_KEY: tls.key };
    const fromEnv = backend({ env, namespace: 'tls-env' });
    expect(fromEnv.endpoints).toEqual([member.clientUrl]);
    await exercise(fromEnv);
  });

  it("fails with REGISTRY_UNAVAILABLE and a hint when etcd's certificate is not trusted", async () => {
    const untrusted = backend({ endpoints: member.clientUrl, namespace: 'tls-untrusted' });
    const error = await failure(untrusted.instances('orders'));
    expect(error.code).toBe('REGISTRY_UNAVAILABLE');
    expect(error.message).toContain('tls.ca');
  });
});

describe('etcd with auth enabled', () => {
  let member: EtcdMember;
  const ctl = (...args: string[]): string => etcdctl([member.clientUrl], undefined, ...args);

  beforeAll(async () => {
    member = await startEtcd();
    ctl('user', 'add', ROOT, '--interactive=false');
    ctl('user', 'add', `app:${PASSWORD}`, '--interactive=false');
    ctl('role', 'add', 'rollcall-app');
    ctl('role', 'grant-permission', 'rollcall-app', 'readwrite', '/rollcall/app/', '--prefix=true');
    ctl('user', 'grant-role', 'app', 'rollcall-app');
    ctl('auth', 'enable');
  });

  afterAll(async () => {
    await Promise.all(opened.splice(0).map((b) => b.close()));
    await member?.stop();
  });

  it('works with a user allowed on its namespace, and logs nothing of the password', async () => {
    const logger = recordingLogger();
    await exercise(backend({ endpoints: member.clientUrl, namespace: 'app', username: 'app', password: PASSWORD, logger }));
    expect(JSON.stringify(logger.lines)).not.toContain(PASSWORD);
  });

  it('reads ETCD_USERNAME and ETCD_PASSWORD', async () => {
    await exercise(backend({ env: { ETCD_ENDPOINTS: member.clientUrl, ETCD_USERNAME: 'app', ETCD_PASSWORD: PASSWORD }, namespace: 'app' }));
  });

  it('refuses a wrong password, no credentials and a namespace outside the role with REGISTRY_AUTH, never echoing the password', async () => {
    const wrong = await failure(backend({ endpoints: member.clientUrl, namespace: 'app', username: 'app', password: 'not-the-password' }).instances('orders'));
    expect(wrong.code).toBe('REGISTRY_AUTH');
    expect(wrong.message).not.toContain('not-the-password');
    const anonymous = await failure(backend({ endpoints: member.clientUrl, namespace: 'app' }).register(instance('i-2'), { ttlMs: 10_000 }));
    expect(anonymous.code).toBe('REGISTRY_AUTH');
    const elsewhere = await failure(backend({ endpoints: member.clientUrl, namespace: 'other', username: 'app', password: PASSWORD }).register(instance('i-3'), { ttlMs: 10_000 }));
    expect(elsewhere.code).toBe('REGISTRY_AUTH');
    expect(elsewhere.message).toContain('readwrite');
    expect(`${wrong.message} ${anonymous.message} ${elsewhere.message}`).not.toContain(PASSWORD);
  });

  it('authenticates again when a restarted member forgot the token', async () => {
    const subject = backend({ endpoints: member.clientUrl, namespace: 'app', username: 'app', password: PASSWORD });
    await subject.register(instance('i-4'), { ttlMs: 30_000 });
    await member.kill();
    await member.restart();
    await expect(subject.renew({ service: 'orders', id: 'i-4' }, 'passing')).resolves.toBe('renewed');
    expect((await subject.instances('orders')).map((i) => i.id)).toEqual(['i-4']);
    await subject.deregister({ service: 'orders', id: 'i-4' });
  });
});
