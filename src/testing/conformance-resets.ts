/**
 * The reset section of the backend conformance suite, for backends that implement `onReset`: a
 * loss is reported before the first listing read after it (returned or pushed), once, and never
 * on normal churn.
 */
import assert from 'node:assert/strict';
import type { RegistryBackend, RegistryReset, Unsubscribe } from '../backends/backend.js';
import type { ServiceInstance } from '../core/instance.js';
import type { ConformanceKit } from './conformance-kit.js';
import { eventually, skipTest } from './runner.js';

export function describeResets(kit: ConformanceKit, loseData: (options: { namespace: string }) => Promise<void>): void {
  const { runner, fresh, open, instance, alive, watchTimeoutMs, expiryGraceMs } = kit;

  function onReset(backend: RegistryBackend): (listener: (reset: RegistryReset) => void) => Unsubscribe {
    assert.equal(typeof backend.onReset, 'function', 'a target with loseData must implement onReset');
    return (listener) => (backend.onReset as (listener: (reset: RegistryReset) => void) => Unsubscribe).call(backend, listener);
  }

  const ids = (list: readonly ServiceInstance[]): string => list.map((i) => i.id).sort().join(',');
  /** A reader and a writer in a fresh namespace, the writer's two instances listed by the reader. */
  const twoListed = async (): Promise<{ backend: RegistryBackend; namespace: string; writer: RegistryBackend; first: ServiceInstance }> => {
    const { backend, namespace } = await fresh();
    const writer = await open(namespace);
    const first = instance();
    await writer.register(first, { ttlMs: 30_000 });
    await writer.register(instance(), { ttlMs: 30_000 });
    assert.equal((await backend.instances('orders')).length, 2);
    return { backend, namespace, writer, first };
  };

  runner.describe('resets (onReset)', () => {
    runner.it('reports a loss before returning the first listing read after it', async () => {
      const { backend, namespace, writer, first } = await twoListed();
      const events: string[] = [];
      const resets: RegistryReset[] = [];
      onReset(backend)((reset) => {
        resets.push(reset);
        events.push('reset');
      });

      await loseData({ namespace });
      const afterLoss = await backend.instances('orders');
      events.push(`listing:${ids(afterLoss)}`);
      assert.deepEqual(events, ['reset', 'listing:']);
      assert.ok(resets[0]?.service === 'orders' || resets[0]?.service === undefined, 'the reset names orders, or no service');
      assert.equal(typeof resets[0]?.reason, 'string');

      // The loss is told once: the registration coming back is not another one.
      await writer.register(first, { ttlMs: 30_000 });
      assert.equal(ids(await backend.instances('orders')), first.id);
      assert.equal(resets.length, 1);
    });

    runner.it('reports a loss before returning a listing in which instances came back first', async () => {
      const { backend, namespace, writer, first } = await twoListed();
      const events: string[] = [];
      onReset(backend)(() => events.push('reset'));

      await loseData({ namespace });
      await writer.register(first, { ttlMs: 30_000 });
      const afterLoss = await backend.instances('orders');
      events.push(`listing:${ids(afterLoss)}`);
      assert.deepEqual(events, ['reset', `listing:${first.id}`]);
    });

    runner.it('reports a loss before pushing the first list read after it', async (...context: unknown[]) => {
      const { backend, namespace } = await fresh();
      if (backend.watch === undefined) return skipTest(context, 'this backend has no watch');
      const writer = await open(namespace);
      const first = instance();
      const second = instance();
      await writer.register(first, { ttlMs: 30_000 });
      await writer.register(second, { ttlMs: 30_000 });
      const events: string[] = [];
      onReset(backend)(() => events.push('reset'));
      const stop = backend.watch('orders', { onChange: (list) => events.push(`push:${ids(list)}`) });
      const before = `push:${ids([first, second])}`;
      await eventually(() => assert.ok(events.includes(before)), watchTimeoutMs);

      await loseData({ namespace });
      await writer.register(first, { ttlMs: 30_000 });
      await eventually(() => assert.equal(events.at(-1), `push:${first.id}`), watchTimeoutMs);
      const afterLoss = events.slice(events.lastIndexOf(before) + 1);
      assert.equal(afterLoss[0], 'reset');
      assert.equal(afterLoss.filter((event) => event === 'reset').length, 1);
      stop();
    });

    runner.it('reports nothing on registration, status change, deregistration and expiry', async () => {
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
      await eventually(async () => assert.ok(!alive(await backend.instances('orders'), expiring.id)), 1_000 + expiryGraceMs, 100);
      const later = instance();
      await writer.register(later, { ttlMs: 30_000 });
      assert.ok(ids(await backend.instances('orders')).includes(later.id));
      if (stop !== undefined) {
        await eventually(() => assert.ok(alive(watched, later.id)), watchTimeoutMs);
        stop();
      }
      assert.deepEqual(resets, []);
    });
  });
}
