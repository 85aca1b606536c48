/**
 * DNS failures on a real server (Knot DNS) and a relay that turns the same names' answers into
 * failures: NXDOMAIN and NODATA are answers (no instance), SERVFAIL, REFUSED and silence are
 * REGISTRY_UNAVAILABLE, and a resolver serves what it knew (stale tier) through the latter but
 * not through the former.
 */
import { describe, expect, it, vi } from 'vitest';
import { isRollcallError } from '../../../src/core/errors.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { useDnsServer } from '../../helpers/dns-fixture.js';
import { BROKEN_ZONE, startDnsSwitch, startSilentServer } from '../../helpers/dns-server.js';

const knot = useDnsServer();
const backend = knot.backend;

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRollcallError(error), String(error)).toBe(true);
  return error as { code: string; message: string };
}

describe('DNS answers and failures', () => {
  it('lists no instance for NXDOMAIN and for a name without SRV records', async () => {
    await knot.server.setRaw('nodata', ['_http._tcp.nodata 1 TXT "not a service"']);
    const subject = backend({});
    await expect(subject.instances('nobody')).resolves.toEqual([]);
    await expect(subject.instances('nodata')).resolves.toEqual([]);
  });

  it('maps SERVFAIL, REFUSED and a server that never answers to REGISTRY_UNAVAILABLE, naming the name and the cause', async () => {
    const servfail = await failure(backend({ name: `{service}.${BROKEN_ZONE}` }).instances('orders'));
    expect(servfail.code).toBe('REGISTRY_UNAVAILABLE');
    expect(servfail.message).toContain(`orders.${BROKEN_ZONE}`);
    expect(servfail.message).toContain('SERVFAIL');

    const refused = await failure(backend({ name: '{service}.elsewhere.example' }).instances('orders'));
    expect(refused.code).toBe('REGISTRY_UNAVAILABLE');
    expect(refused.message).toContain('REFUSED');

    const silent = await startSilentServer();
    knot.defer(() => silent.stop());
    // Bounded by timeoutMs: asked at the same moment, a lookup given 200 ms gives up before one given 1600 ms.
    const order: string[] = [];
    const settled = (name: string) => (error: { code: string; message: string }) => {
      order.push(name);
      return error;
    };
    const [timeout] = await Promise.all([
      failure(backend({ servers: [silent.server], timeoutMs: 200, tries: 1 }).instances('orders')).then(settled('200 ms')),
      failure(backend({ servers: [silent.server], timeoutMs: 1_600, tries: 1 }).instances('orders')).then(settled('1600 ms')),
    ]);
    expect(timeout.code).toBe('REGISTRY_UNAVAILABLE');
    expect(timeout.message).toContain('no DNS server answered in time');
    expect(order).toEqual(['200 ms', '1600 ms']);
  });

  it('fails the whole lookup when a target cannot be resolved now, rather than dropping it', async () => {
    await knot.server.setRaw('half', [`_http._tcp.half 1 SRV 10 1 8080 half-1.${BROKEN_ZONE}.`, '_http._tcp.half 1 SRV 10 1 8081 half-2.test.', 'half-2 1 A 10.9.0.2']);
    expect((await failure(backend({}).instances('half'))).message).toContain(`half-1.${BROKEN_ZONE}`);
  });
});

describe('DNS failures and the resolver', () => {
  it('serves the stale answer through SERVFAIL, REFUSED and timeouts, and nothing once the name is gone (NXDOMAIN)', async () => {
    await knot.server.setService('catalog', [{ host: '10.8.0.1', port: 8080 }]);
    const relay = await startDnsSwitch(knot.server.server);
    knot.defer(() => relay.stop());
    const subject = backend({ servers: [relay.server], timeoutMs: 200, tries: 1, minTtlMs: 0, maxTtlMs: 1 });
    const resolver = createResolver({ backend: subject, watch: false, cacheTtlMs: 50, degradedRetryMs: 50, envFallback: false, registryTimeoutMs: 1_000 });
    knot.defer(() => resolver.close());
    expect((await resolver.resolve('catalog')).host).toBe('10.8.0.1');

    for (const mode of ['servfail', 'refused', 'silent'] as const) {
      relay.mode = mode;
      await vi.waitFor(
        async () => {
          expect((await resolver.resolve('catalog')).host, mode).toBe('10.8.0.1');
          expect(resolver.status('catalog')?.source, mode).toBe('stale');
        },
        { timeout: 5_000, interval: 50 },
      );
      relay.mode = 'forward';
      await vi.waitFor(
        async () => {
          await resolver.resolve('catalog');
          expect(resolver.status('catalog')?.source).toBe('cache');
        },
        { timeout: 5_000, interval: 50 },
      );
    }

    relay.mode = 'nxdomain';
    await vi.waitFor(async () => expect((await failure(resolver.resolve('catalog'))).code).toBe('SERVICE_UNAVAILABLE'), { timeout: 5_000, interval: 50 });
  });
});
