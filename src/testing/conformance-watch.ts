/**
 * The watch section of the backend conformance suite: first delivery, every change, expiry,
 * several subscribers, no cross-talk. What must not arrive is checked against a witness: a second
 * subscriber, or a later change, whose delivery shows the backend had every chance to deliver it.
 */
import assert from 'node:assert/strict';
import type { ServiceInstance } from '../core/instance.js';
import type { ConformanceKit } from './conformance-kit.js';
import { eventually, skipTest } from './runner.js';

const NO_WATCH = 'this backend has no watch';

export function describeWatch(kit: ConformanceKit): void {
  const { runner, fresh, open, instance, alive, watchTimeoutMs, expiryGraceMs } = kit;
  const ids = (list: readonly ServiceInstance[] | undefined): string[] => (list ?? []).map((i) => i.id);

  runner.describe('watch', () => {
    runner.it('delivers the current list first, then every change, until unsubscribed', async (...context: unknown[]) => {
      const { backend, namespace } = await fresh();
      if (backend.watch === undefined) return skipTest(context, NO_WATCH);
      const writer = await open(namespace);
      const first = instance();
      await writer.register(first, { ttlMs: 30_000 });
      const seen: ServiceInstance[][] = [];
      const stop = backend.watch('orders', { onChange: (list) => seen.push([...list]) });
      let witnessed: readonly ServiceInstance[] = [];
      const stopWitness = backend.watch('orders', { onChange: (list) => (witnessed = list) });
      const latest = (): ServiceInstance[] => seen.at(-1) ?? [];
      await eventually(() => assert.deepEqual(ids(latest()), [first.id]), watchTimeoutMs);

      const second = instance();
      await writer.register(second, { ttlMs: 30_000 });
      await eventually(() => assert.deepEqual(ids(latest()).sort(), [first.id, second.id].sort()), watchTimeoutMs);

      await writer.renew(second, 'draining');
      await eventually(() => assert.equal(latest().find((i) => i.id === second.id)?.status, 'draining'), watchTimeoutMs);

      await writer.deregister(first);
      await eventually(() => assert.deepEqual(ids(latest()), [second.id]), watchTimeoutMs);

      stop();
      stop();
      const deliveries = seen.length;
      const later = instance();
      await writer.register(later, { ttlMs: 30_000 });
      // The subscriber still watching sees the change: the one that stopped would have by now.
      await eventually(() => assert.ok(ids(witnessed).includes(later.id)), watchTimeoutMs);
      assert.equal(seen.length, deliveries);
      stopWitness();
    });

    runner.it('reports an expired instance', async (...context: unknown[]) => {
      const { backend, namespace } = await fresh();
      if (backend.watch === undefined) return skipTest(context, NO_WATCH);
      const writer = await open(namespace);
      const expiring = instance();
      await writer.register(expiring, { ttlMs: 1_000 });
      let latest: readonly ServiceInstance[] = [];
      const stop = backend.watch('orders', { onChange: (list) => (latest = list) });
      await eventually(() => assert.ok(alive(latest, expiring.id)), watchTimeoutMs);
      await eventually(() => assert.ok(!alive(latest, expiring.id)), 1_000 + expiryGraceMs + watchTimeoutMs);
      stop();
    });

    runner.it('serves several subscribers of one service, each with its own unsubscribe', async (...context: unknown[]) => {
      const { backend } = await fresh();
      if (backend.watch === undefined) return skipTest(context, NO_WATCH);
      const a: number[] = [];
      const b: number[] = [];
      const stopA = backend.watch('orders', { onChange: (list) => a.push(list.length) });
      const stopB = backend.watch('orders', { onChange: (list) => b.push(list.length) });
      await eventually(() => assert.deepEqual([a.at(-1), b.at(-1)], [0, 0]), watchTimeoutMs);
      stopA();
      await backend.register(instance(), { ttlMs: 30_000 });
      await eventually(() => assert.equal(b.at(-1), 1), watchTimeoutMs);
      assert.equal(a.at(-1), 0);
      stopB();
    });

    runner.it('does not deliver changes of other services or namespaces', async (...context: unknown[]) => {
      const { backend, namespace } = await fresh();
      if (backend.watch === undefined) return skipTest(context, NO_WATCH);
      const writer = await open(namespace);
      const { backend: elsewhere } = await fresh();
      const seen: ServiceInstance[][] = [];
      const stop = backend.watch('orders', { onChange: (list) => seen.push([...list]) });
      await eventually(() => assert.ok(seen.length > 0), watchTimeoutMs);
      await writer.register(instance({ service: 'payments' }), { ttlMs: 30_000 });
      await elsewhere.register(instance({ service: 'orders' }), { ttlMs: 30_000 });
      // A change of the watched service, written last: once it arrives, the others had their chance.
      const witness = instance();
      await writer.register(witness, { ttlMs: 30_000 });
      await eventually(() => assert.deepEqual(ids(seen.at(-1)), [witness.id]), watchTimeoutMs);
      assert.deepEqual(
        seen.filter((list) => list.some((i) => i.id !== witness.id)),
        [],
      );
      stop();
    });
  });
}
