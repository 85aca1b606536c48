/**
 * The read-only part of the conformance suite, for backends that only read a registry someone
 * else writes (DNS SRV records kept by Consul, Kubernetes or a zone file): listing, changes seen
 * within a bound, watches, typed refusals of every write, closing. Runs under vitest.
 *
 * The target publishes records the way the real registry's owner would; the suite checks what the
 * backend reads back. Only what every such registry carries is compared: address, port, weight.
 *
 * @example
 * describeReadOnlyBackendConformance('my DNS backend', {
 *   create: () => new DnsBackend({ servers: [server], name: '_http._tcp.{service}.test' }),
 *   publish: (service, instances) => zone.setService(service, instances),
 * });
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RegistryBackend } from '../backends/backend.js';
import { INSTANCE_ID_PATTERN, createInstance, type ServiceInstance } from '../core/instance.js';
import { expectCode } from './expect-code.js';

/** One instance as the registry's owner publishes it. */
export interface PublishedInstance {
  /** IP address the instance listens on. */
  readonly host: string;
  readonly port: number;
  /** Relative share of traffic, 1 to 10000. @default 1 */
  readonly weight?: number | undefined;
}

export interface ReadOnlyConformanceTarget {
  /** Creates a backend reading the registry under test. */
  create(): RegistryBackend | Promise<RegistryBackend>;
  /**
   * Makes the registry list exactly `instances` for `service` (none: the service disappears).
   * Each test uses service names of its own: DNS labels such as `ro-1234-5`.
   */
  publish(service: string, instances: readonly PublishedInstance[]): Promise<void>;
  /** How long after `publish` a read (or a watch) may still show the previous records. @default 3000 */
  changeTimeoutMs?: number | undefined;
  /**
   * Services the backend was configured to list in `services()`; the suite publishes into the first
   * of them. Without it, `services()` must list nothing. @default none
   */
  listedServices?: readonly string[] | undefined;
}

let sequence = 0;

/** Registers the read-only conformance tests in the current vitest file. */
export function describeReadOnlyBackendConformance(name: string, target: ReadOnlyConformanceTarget): void {
  const changeTimeoutMs = target.changeTimeoutMs ?? 3_000;
  const opened: RegistryBackend[] = [];

  async function open(): Promise<RegistryBackend> {
    const backend = await target.create();
    opened.push(backend);
    return backend;
  }

  const service = (): string => `ro-${process.pid}-${++sequence}`;
  const addresses = (list: readonly ServiceInstance[]): string[] => list.map((i) => `${i.host}:${i.port}`).sort();

  describe(`read-only backend conformance: ${name}`, () => {
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((backend) => backend.close()));
    });

    it('lists published instances with their address, port and weight, as passing', async () => {
      const backend = await open();
      const svc = service();
      await target.publish(svc, [
        { host: '10.0.0.1', port: 8080, weight: 3 },
        { host: '10.0.0.2', port: 8081, weight: 7 },
      ]);
      const listed = (await backend.instances(svc)).sort((a, b) => a.port - b.port);
      expect(listed.map((i) => ({ service: i.service, host: i.host, port: i.port, weight: i.weight, status: i.status }))).toEqual([
        { service: svc, host: '10.0.0.1', port: 8080, weight: 3, status: 'passing' },
        { service: svc, host: '10.0.0.2', port: 8081, weight: 7, status: 'passing' },
      ]);
      for (const instance of listed) {
        expect(instance.id).toMatch(INSTANCE_ID_PATTERN);
        expect(typeof instance.registeredAt).toBe('number');
        expect(typeof instance.updatedAt).toBe('number');
      }
      expect(new Set(listed.map((i) => i.id)).size).toBe(2);
    });

    it('returns an empty list for a service nobody published', async () => {
      const backend = await open();
      await expect(backend.instances(service())).resolves.toEqual([]);
    });

    it('sees instances come and go within the change bound', async () => {
      const backend = await open();
      const svc = service();
      await target.publish(svc, [{ host: '10.0.1.1', port: 9000 }]);
      expect(addresses(await backend.instances(svc))).toEqual(['10.0.1.1:9000']);
      await target.publish(svc, [
        { host: '10.0.1.1', port: 9000 },
        { host: '10.0.1.2', port: 9001 },
      ]);
      await vi.waitFor(async () => expect(addresses(await backend.instances(svc))).toEqual(['10.0.1.1:9000', '10.0.1.2:9001']), {
        timeout: changeTimeoutMs,
        interval: 100,
      });
      await target.publish(svc, []);
      await vi.waitFor(async () => expect(await backend.instances(svc)).toEqual([]), { timeout: changeTimeoutMs, interval: 100 });
    });

    it(target.listedServices === undefined ? 'lists no services when none were configured' : 'lists the configured services that have instances', async () => {
      const backend = await open();
      const listed = target.listedServices?.[0];
      if (listed === undefined) {
        await expect(backend.services()).resolves.toEqual([]);
        return;
      }
      await target.publish(listed, [{ host: '10.0.2.1', port: 8080 }]);
      await vi.waitFor(async () => expect(await backend.services()).toContain(listed), { timeout: changeTimeoutMs, interval: 100 });
      const names = await backend.services();
      expect(names).toEqual([...names].sort());
      expect(names.every((listedName) => target.listedServices?.includes(listedName))).toBe(true);
    });

    it('rejects every write with INVALID_ARGUMENT (so callers do not retry) and still reads', async () => {
      const backend = await open();
      const svc = service();
      await target.publish(svc, [{ host: '10.0.3.1', port: 8080 }]);
      const written = createInstance({ id: 'w-1', service: svc, host: '10.0.3.9', port: 8080 }, Date.now());
      await expectCode(backend.register(written, { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await expectCode(backend.renew(written, 'passing'), 'INVALID_ARGUMENT');
      await expectCode(backend.deregister(written), 'INVALID_ARGUMENT');
      expect(addresses(await backend.instances(svc))).toEqual(['10.0.3.1:8080']);
    });

    it('rejects malformed service names with INVALID_ARGUMENT', async () => {
      const backend = await open();
      await expectCode(backend.instances('orders*'), 'INVALID_ARGUMENT');
      await expectCode(backend.instances('../orders'), 'INVALID_ARGUMENT');
      await expectCode(backend.instances(''), 'INVALID_ARGUMENT');
    });

    it('rejects calls after close with CLOSED, and closes idempotently', async () => {
      const backend = await open();
      await backend.close();
      await backend.close();
      await expectCode(backend.instances(service()), 'CLOSED');
    });

    describe('watch', () => {
      it('delivers the current list first, then every change, until unsubscribed', async (context) => {
        const backend = await open();
        if (backend.watch === undefined) return context.skip('this backend has no watch');
        const svc = service();
        await target.publish(svc, [{ host: '10.0.4.1', port: 8080 }]);
        const seen: ServiceInstance[][] = [];
        const stop = backend.watch(svc, { onChange: (list) => seen.push([...list]) });
        const latest = (): string[] => addresses(seen.at(-1) ?? []);
        await vi.waitFor(() => expect(latest()).toEqual(['10.0.4.1:8080']), { timeout: changeTimeoutMs });
        await target.publish(svc, [{ host: '10.0.4.2', port: 8080 }]);
        await vi.waitFor(() => expect(latest()).toEqual(['10.0.4.2:8080']), { timeout: changeTimeoutMs });
        stop();
        stop();
        const deliveries = seen.length;
        await target.publish(svc, []);
        await new Promise((resolve) => setTimeout(resolve, Math.min(changeTimeoutMs, 1_500)));
        expect(seen.length).toBe(deliveries);
      });

      it('serves several subscribers of one service, each with its own unsubscribe', async (context) => {
        const backend = await open();
        if (backend.watch === undefined) return context.skip('this backend has no watch');
        const svc = service();
        const a: number[] = [];
        const b: number[] = [];
        const stopA = backend.watch(svc, { onChange: (list) => a.push(list.length) });
        const stopB = backend.watch(svc, { onChange: (list) => b.push(list.length) });
        await vi.waitFor(() => expect([a.at(-1), b.at(-1)]).toEqual([0, 0]), { timeout: changeTimeoutMs });
        stopA();
        await target.publish(svc, [{ host: '10.0.5.1', port: 8080 }]);
        await vi.waitFor(() => expect(b.at(-1)).toBe(1), { timeout: changeTimeoutMs });
        expect(a.at(-1)).toBe(0);
        stopB();
      });
    });
  });
}
