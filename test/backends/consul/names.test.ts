/**
 * Real service names (issue #11.1) on Consul: the names of the gateway seed (`auth_service`,
 * `Orders`, `orders.api`) work end to end; names rollcall cannot address are skipped when listing,
 * logged once and counted, never fatal.
 */
import { describe, expect, it, vi } from 'vitest';
import type { ServiceInstance } from '../../../src/core/instance.js';
import { instance, useConsulHarness } from '../../helpers/consul-double/harness.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const start = useConsulHarness();
const SEED_NAMES = ['auth_service', 'model_service', 'osint_service', 'Orders', 'orders.api', 'ip-intel'];

describe('real service names', () => {
  for (const namespace of [undefined, 'shop']) {
    it(`registers, lists, resolves and watches seed-style names${namespace === undefined ? '' : ' in a namespace'}`, async () => {
      const { double, backend } = await start();
      const consul = backend({ namespace });
      const watched: Record<string, string[]> = {};
      for (const service of SEED_NAMES) {
        consul.watch(service, { onChange: (list: readonly ServiceInstance[]) => (watched[service] = list.map((i) => i.id)) });
      }
      for (const service of SEED_NAMES) await consul.register(instance({ service, id: `${service}-1` }), { ttlMs: 15_000 });
      for (const service of SEED_NAMES) {
        expect((await consul.instances(service)).map((i) => [i.service, i.id])).toEqual([[service, `${service}-1`]]);
      }
      const listed = await consul.services();
      expect(listed.filter((name) => name !== 'consul')).toEqual([...SEED_NAMES].sort());
      await vi.waitFor(() => expect(Object.keys(watched).sort()).toEqual([...SEED_NAMES].sort()));
      await vi.waitFor(() => expect(Object.values(watched).every((ids) => ids.length === 1)).toBe(true));
      // `orders.api` in namespace `shop` and a namespace-less `shop.orders.api` cannot share a Consul id.
      const ids = Object.keys((await (await fetch(`${double.url}/v1/agent/services`)).json()) as object);
      expect(ids).toContain(namespace === undefined ? 'orders.api:orders.api-1' : 'shop~orders.api:orders.api-1');
      for (const service of SEED_NAMES) await consul.deregister({ service, id: `${service}-1` });
      await vi.waitFor(() => expect(Object.values(watched).every((ids) => ids.length === 0)).toBe(true));
    });
  }

  it('keeps a dotted name in one namespace apart from the same text without a namespace', async () => {
    const { backend } = await start();
    await backend({ namespace: 'shop' }).register(instance({ service: 'orders.api', id: 'x' }), { ttlMs: 15_000 });
    await backend().register(instance({ service: 'shop.orders.api', id: 'x' }), { ttlMs: 15_000 });
    expect((await backend({ namespace: 'shop' }).instances('orders.api')).map((i) => i.id)).toEqual(['x']);
    expect((await backend().instances('shop.orders.api')).map((i) => i.id)).toEqual(['x']);
  });

  it('skips catalog names rollcall cannot address, logging each once and counting every skip', async () => {
    const { backend, call } = await start();
    const logger = recordingLogger();
    const consul = backend({ logger });
    await consul.register(instance({ service: 'auth_service' }), { ttlMs: 15_000 });
    const unaddressable = ['bad name', 'svc:x', 'über', '-lead', 'x'.repeat(129)];
    for (const name of unaddressable) await call('PUT', '/v1/agent/service/register', { body: { Name: name, Port: 1 } });
    await expect(consul.services()).resolves.toEqual(['auth_service', 'consul']);
    await expect(consul.services()).resolves.toEqual(['auth_service', 'consul']);
    expect(consul.stats().skippedServiceNames).toBe(2 * unaddressable.length);
    const warnings = logger.at('warn').map((line) => line.msg ?? '');
    expect(warnings).toHaveLength(unaddressable.length);
    expect(warnings.some((text) => text.includes('"bad name"'))).toBe(true);
    // A long name is cut short in the log line.
    expect(warnings.every((text) => text.length < 300)).toBe(true);
    await expect(consul.instances('bad name')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'service' });
  });
});
