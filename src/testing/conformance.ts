/**
 * The backend conformance suite: every behaviour rollcall relies on, run against any backend that
 * accepts writes. A backend (ours or a third party's) is done when this passes unchanged. It
 * registers its tests through the runner you pass (vitest, `node:test`, jest) and asserts with
 * `node:assert`. Read-only backends (DNS) run `describeReadOnlyBackendConformance` instead.
 *
 * @example
 * import { afterEach, describe, it } from 'vitest'; // or 'node:test'
 * describeBackendConformance('my backend', {
 *   create: ({ namespace }) => new MyBackend({ url, namespace }),
 * }, { describe, it, afterEach }); // optional: found on its own under jest, vitest and node:test
 */
import assert from 'node:assert/strict';
import type { RegistryBackend } from '../backends/backend.js';
import { InvalidArgumentError } from '../core/errors.js';
import { createInstance, type ServiceInstance } from '../core/instance.js';
import type { ConformanceKit } from './conformance-kit.js';
import { describeResets } from './conformance-resets.js';
import { describeWatch } from './conformance-watch.js';
import { detectRunner, eventually, rejectsWithCode, runnerOption, type TestRunner } from './runner.js';

export interface ConformanceTarget {
  /**
   * Creates a backend client of the registry under test, in `namespace`. Each test uses fresh
   * namespaces; clients with the same namespace must see each other's instances.
   */
  create(options: { namespace: string }): RegistryBackend | Promise<RegistryBackend>;
  /**
   * What the registry does with an instance whose lease ran out: `absent` drops it,
   * `critical` keeps listing it with status critical for a while (Consul). @default 'absent'
   */
  expiry?: 'absent' | 'critical' | undefined;
  /** How long after its TTL an unrenewed instance may still look alive. @default 1500 */
  expiryGraceMs?: number | undefined;
  /** How long a watch may take to deliver a change. @default 2000 */
  watchTimeoutMs?: number | undefined;
  /**
   * Makes the registry lose every instance of `namespace` the way a real fault does (for Redis:
   * the namespace's keys deleted, as by a flush). Given, the reset section runs: the backend must
   * implement `onReset`, report the loss before the first listing read after it, and report
   * nothing on normal changes. @default none: the section is not registered
   */
  loseData?: ((options: { namespace: string }) => Promise<void>) | undefined;
}

let sequence = 0;

/**
 * Registers the conformance tests with `runner`: `{ describe, it, afterEach }` from vitest,
 * `node:test` or jest. Uses real time (TTLs of one second): do not install fake timers around it.
 * @param runner @default the runner it runs under: jest's globals, vitest, else `node:test`
 */
export function describeBackendConformance(name: string, target: ConformanceTarget, runner: TestRunner = detectRunner()): void {
  const given = target as Partial<Record<keyof ConformanceTarget, unknown>> | undefined;
  if (typeof given?.create !== 'function') throw new InvalidArgumentError('target.create', 'a function creating a backend', given?.create);
  const { describe, it, afterEach } = runnerOption(runner, 'runner');
  const expiry = target.expiry ?? 'absent';
  const opened: RegistryBackend[] = [];
  const kit: ConformanceKit = {
    runner,
    expiryGraceMs: target.expiryGraceMs ?? 1_500,
    watchTimeoutMs: target.watchTimeoutMs ?? 2_000,
    fresh: async () => {
      const namespace = `conf-${process.pid}-${Date.now().toString(36)}-${++sequence}`;
      return { backend: await kit.open(namespace), namespace };
    },
    open: async (namespace) => {
      const backend = await target.create({ namespace });
      opened.push(backend);
      return backend;
    },
    instance: (overrides = {}) => {
      const id = overrides.id ?? `i-${++sequence}`;
      return createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080, ...overrides }, Date.now());
    },
    alive: (list, id) => list.some((i) => i.id === id && i.status !== 'critical'),
  };
  const { fresh, open, instance, alive } = kit;
  const ids = (list: readonly ServiceInstance[]): string[] => list.map((i) => i.id);

  describe(`backend conformance: ${name}`, () => {
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((backend) => backend.close()));
    });

    it('lists a registered instance with every field intact', async () => {
      const { backend } = await fresh();
      const registered = instance({
        protocol: 'https',
        tags: ['primary', 'v2'],
        meta: { build: '42', owner: 'team-a' },
        weight: 7,
        zone: 'eu-west-1a',
        version: '2.4.1',
      });
      await backend.register(registered, { ttlMs: 30_000 });
      const [listed, ...rest] = await backend.instances('orders');
      assert.deepEqual(rest, []);
      assert.ok(listed !== undefined, 'the registered instance is listed');
      const { id, service, host, port, protocol, tags, meta, weight, zone, version, status } = listed;
      assert.deepEqual(
        { id, service, host, port, protocol, tags, meta: { ...meta }, weight, zone, version, status },
        {
          id: registered.id,
          service: 'orders',
          host: '10.0.0.1',
          port: 8080,
          protocol: 'https',
          tags: ['primary', 'v2'],
          meta: { build: '42', owner: 'team-a' },
          weight: 7,
          zone: 'eu-west-1a',
          version: '2.4.1',
          status: 'passing',
        },
      );
      assert.equal(typeof listed.registeredAt, 'number');
      assert.equal(typeof listed.updatedAt, 'number');
    });

    it('returns an empty list for a service nobody registered', async () => {
      const { backend } = await fresh();
      assert.deepEqual(await backend.instances('nobody-here'), []);
    });

    it('lists services that have live instances, sorted', async () => {
      const { backend } = await fresh();
      await backend.register(instance({ service: 'payments' }), { ttlMs: 30_000 });
      await backend.register(instance({ service: 'orders' }), { ttlMs: 30_000 });
      await backend.register(instance({ service: 'orders' }), { ttlMs: 30_000 });
      assert.deepEqual(await backend.services(), ['orders', 'payments']);
    });

    it('overwrites an instance registered twice under one id', async () => {
      const { backend } = await fresh();
      await backend.register(instance({ id: 'same', port: 8080 }), { ttlMs: 30_000 });
      await backend.register(instance({ id: 'same', port: 9090 }), { ttlMs: 30_000 });
      const listed = await backend.instances('orders');
      assert.deepEqual(
        listed.map((i) => [i.id, i.port]),
        [['same', 9090]],
      );
    });

    it('renews a known instance and records its status', async () => {
      const { backend } = await fresh();
      const registered = instance();
      await backend.register(registered, { ttlMs: 30_000 });
      for (const status of ['warning', 'critical', 'draining', 'passing'] as const) {
        assert.equal(await backend.renew(registered, status), 'renewed');
        const [listed] = await backend.instances('orders');
        assert.equal(listed?.status, status);
      }
    });

    it('answers lost when renewing an instance it does not know', async () => {
      const { backend } = await fresh();
      assert.equal(await backend.renew({ service: 'orders', id: 'never-registered' }, 'passing'), 'lost');
      const registered = instance();
      await backend.register(registered, { ttlMs: 30_000 });
      await backend.deregister(registered);
      assert.equal(await backend.renew(registered, 'passing'), 'lost');
    });

    it('keeps a renewed instance alive past its TTL', async () => {
      const { backend } = await fresh();
      const registered = instance();
      await backend.register(registered, { ttlMs: 1_000 });
      const until = Date.now() + 2_200;
      while (Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(await backend.renew(registered, 'passing'), 'renewed');
      }
      assert.ok(alive(await backend.instances('orders'), registered.id));
    });

    it(`stops listing an instance as alive once its TTL passes without renewal (${expiry})`, async () => {
      const { backend } = await fresh();
      const kept = instance();
      const expiring = instance();
      await backend.register(kept, { ttlMs: 60_000 });
      await backend.register(expiring, { ttlMs: 1_000 });
      await eventually(
        async () => {
          const listed = await backend.instances('orders');
          assert.ok(!alive(listed, expiring.id), 'the expired instance is no longer alive');
          if (expiry === 'absent') assert.deepEqual(ids(listed), [kept.id]);
        },
        1_000 + kit.expiryGraceMs,
        100,
      );
      assert.ok(alive(await backend.instances('orders'), kept.id));
    });

    it('deregisters one instance, idempotently', async () => {
      const { backend } = await fresh();
      const gone = instance();
      const stays = instance();
      await backend.register(gone, { ttlMs: 30_000 });
      await backend.register(stays, { ttlMs: 30_000 });
      await backend.deregister(gone);
      await backend.deregister(gone);
      await backend.deregister({ service: 'orders', id: 'never-registered' });
      await backend.deregister({ service: 'unknown-service', id: 'x' });
      assert.deepEqual(ids(await backend.instances('orders')), [stays.id]);
    });

    it('keeps every one of many concurrent registrations', async () => {
      const { backend } = await fresh();
      const many = Array.from({ length: 25 }, (_, n) => instance({ id: `concurrent-${n}`, port: 9000 + n }));
      await Promise.all(many.map((i) => backend.register(i, { ttlMs: 30_000 })));
      assert.deepEqual(ids(await backend.instances('orders')).sort(), ids(many).sort());
    });

    it('isolates namespaces and shares one namespace between clients', async () => {
      const { backend: a, namespace } = await fresh();
      const sameNamespace = await open(namespace);
      const { backend: other } = await fresh();
      const registered = instance();
      await a.register(registered, { ttlMs: 30_000 });
      assert.deepEqual(ids(await sameNamespace.instances('orders')), [registered.id]);
      assert.deepEqual(await other.instances('orders'), []);
      assert.deepEqual(await other.services(), []);
      await other.deregister(registered);
      assert.equal((await a.instances('orders')).length, 1);
    });

    it('rejects malformed input with INVALID_ARGUMENT', async () => {
      const { backend } = await fresh();
      const valid = instance();
      const bad = (patch: Record<string, unknown>): ServiceInstance => ({ ...valid, ...patch });
      await rejectsWithCode(backend.register(bad({ service: 'Bad Name' }), { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.register(bad({ port: 70_000 }), { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.register(bad({ id: '../../etc' }), { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.register(bad({ meta: { key: 5 } }), { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.register(valid, { ttlMs: 10 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.renew(valid, 'sleepy' as never), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.instances('orders*'), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.instances('../orders'), 'INVALID_ARGUMENT');
      await rejectsWithCode(backend.deregister({ service: 'orders', id: '' }), 'INVALID_ARGUMENT');
      assert.deepEqual(await backend.services(), []);
    });

    it('rejects calls after close with CLOSED, and closes idempotently', async () => {
      const { backend } = await fresh();
      await backend.close();
      await backend.close();
      await rejectsWithCode(backend.instances('orders'), 'CLOSED');
      await rejectsWithCode(backend.register(instance(), { ttlMs: 30_000 }), 'CLOSED');
    });

    describeWatch(kit);
    if (target.loseData !== undefined) describeResets(kit, target.loseData);
  });
}
