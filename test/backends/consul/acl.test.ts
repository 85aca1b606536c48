/**
 * ACL tokens: sent in a header (X-Consul-Token or bearer), read from CONSUL_HTTP_TOKEN(_FILE),
 * refusals typed as REGISTRY_AUTH with a clear hint, and the token never in an error or a log.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { isRollcallError } from '../../../src/core/errors.js';
import type { AclOptions } from '../../helpers/consul-double/index.js';
import { instance, useConsulHarness } from '../../helpers/consul-double/harness.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const start = useConsulHarness();
const WRITER = 'b1gs3cret-writer-token';
const READER = 'b1gs3cret-reader-token';

const acl: AclOptions = {
  defaultPolicy: 'deny',
  tokens: {
    [WRITER]: { accessorId: 'acc-writer', policy: { servicePrefix: { orders: 'write' }, nodePrefix: { '': 'read' } } },
    [READER]: { accessorId: 'acc-reader', policy: { servicePrefix: { '': 'read' }, nodePrefix: { '': 'read' } } },
  },
};

describe('ACL tokens', () => {
  for (const tokenTransport of ['header', 'bearer'] as const) {
    it(`works end to end with a token sent as ${tokenTransport === 'header' ? 'X-Consul-Token' : 'Authorization: Bearer'}`, async () => {
      const { double, backend } = await start({ acl });
      const consul = backend({ token: WRITER, tokenTransport });
      const registered = instance();
      await consul.register(registered, { ttlMs: 15_000 });
      await expect(consul.renew(registered, 'draining')).resolves.toBe('renewed');
      expect((await consul.instances('orders')).map((i) => [i.id, i.status])).toEqual([[registered.id, 'draining']]);
      await expect(consul.services()).resolves.toEqual(['orders']);
      await consul.deregister(registered);
      const headers = double.requests.map((r) => (tokenTransport === 'header' ? r.headers['x-consul-token'] : r.headers['authorization']));
      expect(new Set(headers)).toEqual(new Set([tokenTransport === 'header' ? WRITER : `Bearer ${WRITER}`]));
      expect(double.requests.some((r) => r.query.has('token'))).toBe(false);
    });
  }

  it('reads the token from CONSUL_HTTP_TOKEN, or from the file named by CONSUL_HTTP_TOKEN_FILE', async () => {
    const { double, backend } = await start({ acl });
    await backend({ env: { CONSUL_HTTP_TOKEN: WRITER } }).register(instance(), { ttlMs: 15_000 });
    const dir = mkdtempSync(join(tmpdir(), 'rollcall-token-'));
    try {
      writeFileSync(join(dir, 'token'), `${READER}\n`);
      await expect(backend({ env: { CONSUL_HTTP_TOKEN_FILE: join(dir, 'token') } }).services()).resolves.toEqual(['consul', 'orders']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const tokens = double.requests.map((r) => r.headers['x-consul-token']);
    expect([...new Set(tokens)]).toEqual([WRITER, READER]);
    expect(double.requestsTo('/v1/agent/service/register').map((r) => r.headers['x-consul-token'])).toEqual([WRITER]);
  });

  it('turns an unknown token into REGISTRY_AUTH everywhere, without ever showing the token', async () => {
    const { backend } = await start({ acl });
    const secret = 'n0t-a-real-t0ken-42';
    const logger = recordingLogger();
    const consul = backend({ token: secret, logger, watchRetryInitialDelayMs: 20 });
    const errors: unknown[] = [];
    consul.watch('orders', { onChange: () => {}, onError: (error) => errors.push(error) });
    for (const call of [() => consul.register(instance(), { ttlMs: 15_000 }), () => consul.renew(instance(), 'passing'), () => consul.instances('orders'), () => consul.services()]) {
      errors.push(await call().catch((e: unknown) => e));
    }
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(6));
    for (const error of errors) {
      expect(isRollcallError(error) && error.code).toBe('REGISTRY_AUTH');
      expect(String(error)).toContain('ACL not found');
      expect(String(error)).toContain('the ACL token is unknown to Consul');
      expect(inspect(error, { depth: 10 })).not.toContain(secret);
    }
    expect(logger.text()).toContain('ACL not found');
    expect(logger.text()).not.toContain(secret);
  });

  it('explains a token that lacks a permission', async () => {
    const { backend } = await start({ acl });
    const error = await backend({ token: READER }).register(instance(), { ttlMs: 15_000 }).catch((e: unknown) => e);
    expect(isRollcallError(error) && error.code).toBe('REGISTRY_AUTH');
    expect(String(error)).toContain(`Permission denied: token with AccessorID 'acc-reader' lacks permission 'service:write' on "orders"`);
    expect(String(error)).toContain('rollcall needs service:write');
  });

  it('sees an empty list where the token may not read, as Consul filters instead of refusing', async () => {
    const { backend } = await start({ acl });
    await backend({ token: WRITER }).register(instance(), { ttlMs: 15_000 });
    await expect(backend().instances('orders')).resolves.toEqual([]);
    await expect(backend({ token: READER }).instances('orders')).resolves.toHaveLength(1);
  });
});
