/**
 * The backend conformance suite: every behaviour rollcall relies on, run against any backend that
 * accepts writes. A backend (ours or a third party's) is done when this passes unchanged. Runs
 * under vitest. Read-only backends (DNS) run `describeReadOnlyBackendConformance` instead.
 *
 * @example
 * describeBackendConformance('my backend', {
 *   create: ({ namespace }) => new MyBackend({ url, namespace }),
 * });
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RegistryBackend, RegistryReset, Unsubscribe } from '../backends/backend.js';
import { createInstance, type InstanceInput, type ServiceInstance } from '../core/instance.js';
import { expectCode } from './expect-code.js';

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

/** Registers the conformance tests in the current vitest file. */
export function describeBackendConformance(name: string, target: ConformanceTarget): void {
  const expiry = target.expiry ?? 'absent';
  const expiryGraceMs = target.expiryGraceMs ?? 1_500;
  const watchTimeoutMs = target.watchTimeoutMs ?? 2_000;
  const opened: RegistryBackend[] = [];

  async function open(namespace: string): Promise<RegistryBackend> {
    const backend = await target.create({ namespace });
    opened.push(backend);
    return backend;
  }

  async function fresh(): Promise<{ backend: RegistryBackend; namespace: string }> {
    const namespace = `conf-${process.pid}-${Date.now().toString(36)}-${++sequence}`;
    return { backend: await open(namespace), namespace };
  }

  function instance(overrides: Partial<InstanceInput> = {}): ServiceInstance {
    const id = overrides.id ?? `i-${++sequence}`;
    return createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080, ...overrides }, Date.now());
  }

  const alive = (list: readonly ServiceInstance[], id: string): boolean =>
    list.some((i) => i.id === id && i.status !== 'critical');

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
      expect(rest).toEqual([]);
      expect(listed).toMatchObject({
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
      });
      expect(typeof listed?.registeredAt).toBe('number');
      expect(typeof listed?.updatedAt).toBe('number');
    });

    it('returns an empty list for a service nobody registered', async () => {
      const { backend } = await fresh();
      await expect(backend.instances('nobody-here')).resolves.toEqual([]);
    });

    it('lists services that have live instances, sorted', async () => {
      const { backend } = await fresh();
      await backend.register(instance({ service: 'payments' }), { ttlMs: 30_000 });
      await backend.register(instance({ service: 'orders' }), { ttlMs: 30_000 });
      await backend.register(instance({ service: 'orders' }), { ttlMs: 30_000 });
      await expect(backend.services()).resolves.toEqual(['orders', 'payments']);
    });

    it('overwrites an instance registered twice under one id', async () => {
      const { backend } = await fresh();
      await backend.register(instance({ id: 'same', port: 8080 }), { ttlMs: 30_000 });
      await backend.register(instance({ id: 'same', port: 9090 }), { ttlMs: 30_000 });
      const listed = await backend.instances('orders');
      expect(listed.map((i) => [i.id, i.port])).toEqual([['same', 9090]]);
    });

    it('renews a known instance and records its status', async () => {
      const { backend } = await fresh();
      const registered = instance();
      await backend.register(registered, { ttlMs: 30_000 });
      for (const status of ['warning', 'critical', 'draining', 'passing'] as const) {
        await expect(backend.renew(registered, status)).resolves.toBe('renewed');
        const [listed] = await backend.instances('orders');
        expect(listed?.status).toBe(status);
      }
    });

    it('answers lost when renewing an instance it does not know', async () => {
      const { backend } = await fresh();
      await expect(backend.renew({ service: 'orders', id: 'never-registered' }, 'passing')).resolves.toBe('lost');
      const registered = instance();
      await backend.register(registered, { ttlMs: 30_000 });
      await backend.deregister(registered);
      await expect(backend.renew(registered, 'passing')).resolves.toBe('lost');
    });

    it('keeps a renewed instance alive past its TTL', async () => {
      const { backend } = await fresh();
      const registered = instance();
      await backend.register(registered, { ttlMs: 1_000 });
      const until = Date.now() + 2_200;
      while (Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(await backend.renew(registered, 'passing')).toBe('renewed');
      }
      expect(alive(await backend.instances('orders'), registered.id)).toBe(true);
    });

    it(`stops listing an instance as alive once its TTL passes without renewal (${expiry})`, async () => {
      const { backend } = await fresh();
      const kept = instance();
      const expiring = instance();
      await backend.register(kept, { ttlMs: 60_000 });
      await backend.register(expiring, { ttlMs: 1_000 });
      await vi.waitFor(
        async () => {
          const listed = await backend.instances('orders');
          expect(alive(listed, expiring.id)).toBe(false);
          if (expiry === 'absent') expect(listed.map((i) => i.id)).toEqual([kept.id]);
        },
        { timeout: 1_000 + expiryGraceMs, interval: 100 },
      );
      expect(alive(await backend.instances('orders'), kept.id)).toBe(true);
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
      expect((await backend.instances('orders')).map((i) => i.id)).toEqual([stays.id]);
    });

    it('keeps every one of many concurrent registrations', async () => {
      const { backend } = await fresh();
      const many = Array.from({ length: 25 }, (_, n) => instance({ id: `concurrent-${n}`, port: 9000 + n }));
      await Promise.all(many.map((i) => backend.register(i, { ttlMs: 30_000 })));
      const ids = (await backend.instances('orders')).map((i) => i.id).sort();
      expect(ids).toEqual(many.map((i) => i.id).sort());
    });

    it('isolates namespaces and shares one namespace between clients', async () => {
      const { backend: a, namespace } = await fresh();
      const sameNamespace = await open(namespace);
      const { backend: other } = await fresh();
      const registered = instance();
      await a.register(registered, { ttlMs: 30_000 });
      expect((await sameNamespace.instances('orders')).map((i) => i.id)).toEqual([registered.id]);
      await expect(other.instances('orders')).resolves.toEqual([]);
      await expect(other.services()).resolves.toEqual([]);
      await other.deregister(registered);
      expect(await a.instances('orders')).toHaveLength(1);
    });

    it('rejects malformed input with INVALID_ARGUMENT', async () => {
      const { backend } = await fresh();
      const valid = instance();
      const bad = (patch: Record<string, unknown>): ServiceInstance => ({ ...valid, ...patch });
      await expectCode(backend.register(bad({ service: 'Bad Name' }), { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await expectCode(backend.register(bad({ port: 70_000 }), { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await expectCode(backend.register(bad({ id: '../../etc' }), { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await expectCode(backend.register(bad({ meta: { key: 5 } }), { ttlMs: 30_000 }), 'INVALID_ARGUMENT');
      await expectCode(backend.register(valid, { ttlMs: 10 }), 'INVALID_ARGUMENT');
      await expectCode(backend.renew(valid, 'sleepy' as never), 'INVALID_ARGUMENT');
      await expectCode(backend.instances('orders*'), 'INVALID_ARGUMENT');
      await expectCode(backend.instances('../orders'), 'INVALID_ARGUMENT');
      await expectCode(backend.deregister({ service: 'orders', id: '' }), 'INVALID_ARGUMENT');
      await expect(backend.services()).resolves.toEqual([]);
    });

    it('rejects calls after close with CLOSED, and closes idempotently', async () => {
      const { backend } = await fresh();
      await backend.close();
      await backend.close();
      await expectCode(backend.instances('orders'), 'CLOSED');
      await expectCode(backend.register(instance(), { ttlMs: 30_000 }), 'CLOSED');
    });

    describe('watch', () => {
      it('delivers the current list first, then every change, until unsubscribed', async (context) => {
        const { backend, namespace } = await fresh();
        if (backend.watch === undefined) return context.skip('this backend has no watch');
        const writer = await open(namespace);
        const first = instance();
        await writer.register(first, { ttlMs: 30_000 });
        const seen: ServiceInstance[][] = [];
        const stop = backend.watch('orders', { onChange: (list) => seen.push([...list]) });
        const latest = (): ServiceInstance[] => seen.at(-1) ?? [];
        await vi.waitFor(() => expect(latest().map((i) => i.id)).toEqual([first.id]), { timeout: watchTimeoutMs });

        const second = instance();
        await writer.register(second, { ttlMs: 30_000 });
        await vi.waitFor(() => expect(latest().map((i) => i.id).sort()).toEqual([first.id, second.id].sort()), {
          timeout: watchTimeoutMs,
        });

        await writer.renew(second, 'draining');
        await vi.waitFor(() => expect(latest().find((i) => i.id === second.id)?.status).toBe('draining'), {
          timeout: watchTimeoutMs,
        });

        await writer.deregister(first);
        await vi.waitFor(() => expect(latest().map((i) => i.id)).toEqual([second.id]), { timeout: watchTimeoutMs });

        stop();
        stop();
        const deliveries = seen.length;
        await writer.register(instance(), { ttlMs: 30_000 });
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(seen.length).toBe(deliveries);
      });

      it('reports an expired instance', async (context) => {
        const { backend, namespace } = await fresh();
        if (backend.watch === undefined) return context.skip('this backend has no watch');
        const writer = await open(namespace);
        const expiring = instance();
        await writer.register(expiring, { ttlMs: 1_000 });
        let latest: readonly ServiceInstance[] = [];
        const stop = backend.watch('orders', { onChange: (list) => (latest = list) });
        await vi.waitFor(() => expect(alive(latest, expiring.id)).toBe(true), { timeout: watchTimeoutMs });
        await vi.waitFor(() => expect(alive(latest, expiring.id)).toBe(false), { timeout: 1_000 + expiryGraceMs + watchTimeoutMs });
        stop();
      });

      it('serves several subscribers of one service, each with its own unsubscribe', async (context) => {
        const { backend } = await fresh();
        if (backend.watch === undefined) return context.skip('this backend has no watch');
        const a: number[] = [];
        const b: number[] = [];
        const stopA = backend.watch('orders', { onChange: (list) => a.push(list.length) });
        const stopB = backend.watch('orders', { onChange: (list) => b.push(list.length) });
        await vi.waitFor(() => expect([a.at(-1), b.at(-1)]).toEqual([0, 0]), { timeout: watchTimeoutMs });
        stopA();
        await backend.register(instance(), { ttlMs: 30_000 });
        await vi.waitFor(() => expect(b.at(-1)).toBe(1), { timeout: watchTimeoutMs });
        expect(a.at(-1)).toBe(0);
        stopB();
      });

      it('does not deliver changes of other services or namespaces', async (context) => {
        const { backend, namespace } = await fresh();
        if (backend.watch === undefined) return context.skip('this backend has no watch');
        const writer = await open(namespace);
        const { backend: elsewhere } = await fresh();
        const seen: ServiceInstance[][] = [];
        const stop = backend.watch('orders', { onChange: (list) => seen.push([...list]) });
        await vi.waitFor(() => expect(seen.length).toBeGreaterThan(0), { timeout: watchTimeoutMs });
        await writer.register(instance({ service: 'payments' }), { ttlMs: 30_000 });
        await elsewhere.register(instance({ service: 'orders' }), { ttlMs: 30_000 });
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(seen.every((list) => list.length === 0)).toBe(true);
        stop();
      });
    });

    if (target.loseData !== undefined) describeResets(target.loseData);
  });

  function describeResets(loseData: (options: { namespace: string }) => Promise<void>): void {
    function onReset(backend: RegistryBackend): (listener: (reset: RegistryReset) => void) => Unsubscribe {
      expect(typeof backend.onReset, 'a target with loseData must implement onReset').toBe('function');
      return (listener) => (backend.onReset as (listener: (reset: RegistryReset) => void) => Unsubscribe).call(backend, listener);
    }

    const ids = (list: readonly ServiceInstance[]): string => list.map((i) => i.id).sort().join(',');

    describe('resets (onReset)', () => {
      it('reports a loss before returning the first listing read after it', async () => {
        const { backend, namespace } = await fresh();
        const writer = await open(namespace);
        const first = instance();
        await writer.register(first, { ttlMs: 30_000 });
        await writer.register(instance(), { ttlMs: 30_000 });
        expect(await backend.instances('orders')).toHaveLength(2);
        const events: string[] = [];
        const resets: RegistryReset[] = [];
        onReset(backend)((reset) => {
          resets.push(reset);
          events.push('reset');
        });

        await loseData({ namespace });
        const afterLoss = await backend.instances('orders');
        events.push(`listing:${ids(afterLoss)}`);
        expect(events).toEqual(['reset', 'listing:']);
        expect(resets[0]?.service === 'orders' || resets[0]?.service === undefined).toBe(true);
        expect(resets[0]?.reason).toEqual(expect.any(String));

        // The loss is told once: the registration coming back is not another one.
        await writer.register(first, { ttlMs: 30_000 });
        expect(ids(await backend.instances('orders'))).toBe(first.id);
        expect(resets).toHaveLength(1);
      });

      it('reports a loss before returning a listing in which instances came back first', async () => {
        const { backend, namespace } = await fresh();
        const writer = await open(namespace);
        const first = instance();
        await writer.register(first, { ttlMs: 30_000 });
        await writer.register(instance(), { ttlMs: 30_000 });
        expect(await backend.instances('orders')).toHaveLength(2);
        const events: string[] = [];
        onReset(backend)(() => events.push('reset'));

        await loseData({ namespace });
        await writer.register(first, { ttlMs: 30_000 });
        const afterLoss = await backend.instances('orders');
        events.push(`listing:${ids(afterLoss)}`);
        expect(events).toEqual(['reset', `listing:${first.id}`]);
      });

      it('reports a loss before pushing the first list read after it', async (context) => {
        const { backend, namespace } = await fresh();
        if (backend.watch === undefined) return context.skip('this backend has no watch');
        const writer = await open(namespace);
        const first = instance();
        const second = instance();
        await writer.register(first, { ttlMs: 30_000 });
        await writer.register(second, { ttlMs: 30_000 });
        const events: string[] = [];
        onReset(backend)(() => events.push('reset'));
        const stop = backend.watch('orders', { onChange: (list) => events.push(`push:${ids(list)}`) });
        const before = `push:${ids([first, second])}`;
        await vi.waitFor(() => expect(events).toContain(before), { timeout: watchTimeoutMs });

        await loseData({ namespace });
        await writer.register(first, { ttlMs: 30_000 });
        await vi.waitFor(() => expect(events.at(-1)).toBe(`push:${first.id}`), { timeout: watchTimeoutMs });
        const afterLoss = events.slice(events.lastIndexOf(before) + 1);
        expect(afterLoss[0]).toBe('reset');
        expect(afterLoss.filter((event) => event === 'reset')).toHaveLength(1);
        stop();
      });

      it('reports nothing on registration, status change, deregistration and expiry', async () => {
        const { backend, namespace } = await fresh();
        const writer = await open(namespace);
        const resets: RegistryReset[] = [];
        onReset(backend)((reset) => resets.push(reset));
        let watched: readonly ServiceInstance[] = [];
        const stop = backend.watch?.('orders', { onChange: (list) => (watched = list) });
        const kept = instance();
        const expiring = instance();
        await writer.register(kept, { ttlMs: 30_000 });
        await backend.instances('orders');
        await writer.register(expiring, { ttlMs: 1_000 });
        await backend.instances('orders');
        await writer.renew(kept, 'draining');
        await backend.instances('orders');
        await writer.deregister(kept);
        await backend.instances('orders');
        await vi.waitFor(async () => expect(alive(await backend.instances('orders'), expiring.id)).toBe(false), {
          timeout: 1_000 + expiryGraceMs,
          interval: 100,
        });
        const later = instance();
        await writer.register(later, { ttlMs: 30_000 });
        expect(ids(await backend.instances('orders'))).toContain(later.id);
        if (stop !== undefined) {
          await vi.waitFor(() => expect(alive(watched, later.id)).toBe(true), { timeout: watchTimeoutMs });
          stop();
        }
        expect(resets).toEqual([]);
      });
    });
  }
}
