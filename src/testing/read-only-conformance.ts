/**
 * The read-only part of the conformance suite, for backends that only read a registry someone
 * else writes (DNS SRV records kept by Consul, Kubernetes or a zone file): listing, changes seen
 * within a bound, watches, typed refusals of every write, closing. Registers its tests through the
runner you pass (vitest, `node:test`, jest), as `describeBackendConformance` does.
 *
 * The target publishes records the way the real registry's owner would; the suite checks what the
 * backend reads back. Only what every such registry carries is compared: address, port, weight.
 *
 * @example
 * describeReadOnlyBackendConformance('my DNS backend', {
 *   create: () => new DnsBackend({ servers: [server], name: '_http._tcp.{service}.test' }),
 *   publish: (service, instances) => zone.setService(service, instances),
 * }, { describe, it, afterEach });
 */
import assert from 'node:assert/strict';
import type { RegistryBackend } from '../backends/backend.js';
import { InvalidArgumentError } from '../core/errors.js';
import { INSTANCE_ID_PATTERN, createInstance, type ServiceInstance } from '../core/instance.js';
import { detectRunner, eventually, rejectsWithCode, runnerOption, skipTest, type TestRunner } from './runner.js';

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
const NO_WATCH = 'this backend has no watch';

/**
 * Registers the read-only conformance tests with `runner`: `{ describe, it, afterEach }` from
 * vitest, `node:test` or jest.
 * @param runner @default the runner it runs under: jest's globals, vitest, else `node:test`
 */
export function describeReadOnlyBackendConformance(name: string, target: ReadOnlyConformanceTarget, runner: TestRunner = detectRunner()): void {
  const given = target as Partial<Record<keyof ReadOnlyConformanceTarget, unknown>> | undefined;
  if (typeof given?.create !== 'function') throw new InvalidArgumentError('target.create', 'a function creating a backend', given?.create);
  if (typeof given.publish !== 'function') throw new InvalidArgumentError('target.publish', 'a function publishing records', given.publish);
  const { describe, it, afterEach } = runnerOption(runner, 'runner');
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
      assert.deepEqual(
        listed.map((i) => ({ service: i.service, host: i.host, port: i.port, weight: i.weight, status: i.status })),
        [
          { service: svc, host: '10.0.0.1', port: 8080, weight: 3, status: 'passing' },
          { service: svc, host: '10.0.0.2', port: 8081, weight: 7, status: 'passing' },
        ],
      );
      for (const instance of listed) {
        assert.match(instance.id, INSTANCE_ID_PATTERN);
        assert.equal(typeof instance.registeredAt, 'number');
        assert.equal(typeof instance.updatedAt, 'number');
      }
      assert.equal(new Set(listed.map((i) => i.id)).size, 2);
    });

    it('returns an empty list for a service nobody published', async () => {
      const backend = await open();
      assert.deepEqual(await backend.instances(service()), []);
    });

    it('sees instances come and go within the change bound', async () => {
      const backend = await open();
      const svc = service();
      await target.publish(svc, [{ host: '10.0.1.1', port: 9000 }]);
      assert.deepEqual(addresses(await backend.instances(svc)), ['10.0.1.1:9000']);
      await target.publish(svc, [
        { host: '10.0.1.1', port: 9000 },
        { host: '10.0.1.2', port: 9001 },
      ]);
      await eventually(async () => assert.deepEqual(addresses(await backend.instances(svc)), ['10.0.1.1:9000', '10.0.1.2:9001']), changeTimeoutMs, 100);
      await target.publish(svc, []);
      await eventually(async () => assert.deepEqual(await backend.instances(svc), []), changeTimeoutMs, 100);
    });

    it(target.listedServices === undefined ? 'lists no services when none were configured' : 'lists the configured services that have instances', async () => {
      const backend = await open();
      const listed = target.listedServices?.[0];
      if (listed === undefined) {
        assert.deepEqual(await backend.services(), []);
        return;
      }
      await target.publish(listed, [{ host: '10.0.2.1', port: 8080 }]);
      await eventually(async () => assert.ok((await backend.services()).includes(listed)), changeTimeoutMs, 100);
      const names = await backend.services();
      assert.deepEqual(names, [...names].sort());
      assert.ok(names.every((listedName) => target.listedServices?.includes(listedName)));
    });

    it('rejects every write with INVALID_ARGUMENT (so callers do not retry) and still reads', async () => {
      const backend = await open();
      const svc = service();
      await target.publish(svc, [{ host: '10.0.3.1', port: 8080 }]);
      const written = createInstance({ id: 'w-1', service: svc, host: '10.0.3.9', port: 8080 }, Date.now());
      await rejectsWithCode(backend.register(written, { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.renew(written, 'passing'), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.deregister(written), 'INVALID_ARGUMENT');
      assert.deepEqual(addresses(await backend.instances(svc)), ['10.0.3.1:8080']);
    });

    it('rejects malformed service names with INVALID_ARGUMENT', async () => {
      const backend = await open();
      await rejectsWithCode(backend.instances('orders*'), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.instances('../orders'), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.instances(''), 'INVALID_ARGUMENT');
    });

    it('rejects calls after close with CLOSED, and closes idempotently', async () => {
      const backend = await open();
      await backend.close();
      await backend.close();
      await rejectsWithCode(backend.instances(service()), 'CLOSED');
    });

    describe('watch', () => {
      it('delivers the current list first, then every change, until unsubscribed', async (...context: unknown[]) => {
        const backend = await open();
        if (backend.watch === undefined) return skipTest(context, NO_WATCH);
        const svc = service();
        await target.publish(svc, [{ host: '10.0.4.1', port: 8080 }]);
        const seen: ServiceInstance[][] = [];
        const stop = backend.watch(svc, { onChange: (list) => seen.push([...list]) });
        let witnessed: readonly ServiceInstance[] | undefined;
        const stopWitness = backend.watch(svc, { onChange: (list) => (witnessed = list) });
        const latest = (): string[] => addresses(seen.at(-1) ?? []);
        await eventually(() => assert.deepEqual(latest(), ['10.0.4.1:8080']), changeTimeoutMs);
        await target.publish(svc, [{ host: '10.0.4.2', port: 8080 }]);
        await eventually(() => assert.deepEqual(latest(), ['10.0.4.2:8080']), changeTimeoutMs);
        stop();
        stop();
        const deliveries = seen.length;
        await target.publish(svc, []);
        // The subscriber still watching sees the change: the one that stopped would have by now.
        await eventually(() => assert.deepEqual(witnessed, []), changeTimeoutMs);
        assert.equal(seen.length, deliveries);
        stopWitness();
      });

      it('serves several subscribers of one service, each with its own unsubscribe', async (...context: unknown[]) => {
        const backend = await open();
        if (backend.watch === undefined) return skipTest(context, NO_WATCH);
        const svc = service();
        const a: number[] = [];
        const b: number[] = [];
        const stopA = backend.watch(svc, { onChange: (list) => a.push(list.length) });
        const stopB = backend.watch(svc, { onChange: (list) => b.push(list.length) });
        await eventually(() => assert.deepEqual([a.at(-1), b.at(-1)], [0, 0]), changeTimeoutMs);
        stopA();
        await target.publish(svc, [{ host: '10.0.5.1', port: 8080 }]);
        await eventually(() => assert.equal(b.at(-1), 1), changeTimeoutMs);
        assert.equal(a.at(-1), 0);
        stopB();
      });
    });
  });
}
