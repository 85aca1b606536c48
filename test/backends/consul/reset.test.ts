/**
 * onReset: the Consul backend tells readers when Consul lost data, from the two signals Consul
 * gives (an X-Consul-Index that goes backwards, the local agent's node id changing), before it
 * returns or pushes the first listing read after the loss, and never on a normal deregistration.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RegistryReset } from '../../../src/backends/backend.js';
import { ResetSignals } from '../../../src/backends/consul/reset.js';
import { silentLogger } from '../../../src/core/logger.js';
import { instance, useConsulHarness } from '../../helpers/consul-double/harness.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

const start = useConsulHarness();

/** Everything that happened, in order: resets and listings. */
function timeline(): { events: string[]; resets: RegistryReset[]; onReset: (reset: RegistryReset) => void } {
  const events: string[] = [];
  const resets: RegistryReset[] = [];
  return {
    events,
    resets,
    onReset: (reset) => {
      resets.push(reset);
      events.push('reset');
    },
  };
}

describe('onReset', () => {
  it('reports Consul restarted empty (index back to the start) before instances() returns the first listing after it', async () => {
    const { double, backend } = await start();
    const consul = backend();
    const seen = timeline();
    consul.onReset(seen.onReset);
    const registered = instance();
    for (let n = 0; n < 5; n++) await consul.register(registered, { ttlMs: 15_000 });
    seen.events.push(`listing ${(await consul.instances('orders')).length}`);
    double.restart({ keepData: false });
    // The restart dropped pooled connections; the first request after it may find one closed.
    await vi.waitFor(async () => seen.events.push(`listing ${(await consul.instances('orders')).length}`));
    expect(seen.events.slice(0, 3)).toEqual(['listing 1', 'reset', 'listing 0']);
    expect(seen.resets).toHaveLength(1);
    expect(seen.resets[0]?.service).toBeUndefined();
    expect(seen.resets[0]?.reason).toMatch(/X-Consul-Index of \/v1\/health\/service\/orders went backwards \(\d+ to \d+\)/);
    expect(consul.stats().resets).toBe(1);
  });

  it('reports it before the watch pushes the first list read after it, then keeps delivering', async () => {
    const { double, backend } = await start();
    const consul = backend({ watchRetryInitialDelayMs: 20 });
    const writer = backend();
    const seen = timeline();
    consul.onReset(seen.onReset);
    for (let n = 0; n < 5; n++) await writer.register(instance({ id: 'kept' }), { ttlMs: 15_000 });
    consul.watch('orders', { onChange: (list) => seen.events.push(`change ${list.map((i) => i.id).join(',')}`) });
    await vi.waitFor(() => expect(double.blockingQueries('/v1/health/service/orders')).toBe(1));
    double.restart({ keepData: false });
    await vi.waitFor(() => expect(seen.events).toEqual(['change kept', 'reset', 'change ']));
    // The dropped long poll made the backend check the agent: its node id changed too, one reset says both.
    expect(seen.resets[0]?.reason).toMatch(/went backwards.*; the local Consul agent restarted without its data \(node id \S+ became \S+\)/);
    await writer.register(instance({ id: 'back' }), { ttlMs: 15_000 });
    await vi.waitFor(() => expect(seen.events.at(-1)).toBe('change back'));
    expect(seen.resets).toHaveLength(1);
  });

  it('reports a snapshot restore seen by a watch', async () => {
    const { double, backend } = await start();
    const consul = backend();
    const seen = timeline();
    consul.onReset(seen.onReset);
    await consul.register(instance({ id: 'a' }), { ttlMs: 15_000 });
    consul.watch('orders', { onChange: (list) => seen.events.push(`change ${list.length}`) });
    await vi.waitFor(() => expect(double.blockingQueries('/v1/health/service/orders')).toBe(1));
    double.state.restoreSnapshot(3);
    await vi.waitFor(() => expect(seen.events).toEqual(['change 1', 'reset']));
    expect(seen.resets[0]?.reason).toContain('restored from a snapshot');
  });

  it('reports an agent restarted without its data, found after a renewal answered lost', async () => {
    const { double, backend } = await start();
    const consul = backend();
    const seen = timeline();
    consul.onReset(seen.onReset);
    const registered = instance();
    await consul.register(registered, { ttlMs: 15_000 });
    const before = double.state.nodeId;
    double.state.forgetLocalServices();
    await expect(consul.renew(registered, 'passing')).resolves.toBe('lost');
    expect(seen.resets).toEqual([]);
    seen.events.push(`listing ${(await consul.instances('orders')).length}`);
    expect(seen.events).toEqual(['reset', 'listing 0']);
    expect(seen.resets[0]?.reason).toBe(
      `the local Consul agent restarted without its data (node id ${before} became ${double.state.nodeId}) and forgot every service registered through it`,
    );
    // The next reads need no check: the new node id is known.
    const selfReads = double.requestsTo('/v1/agent/self').length;
    await consul.instances('orders');
    expect(double.requestsTo('/v1/agent/self')).toHaveLength(selfReads);
  });

  it('stays quiet for a restart that kept the data, and for deregistrations, expiries and reaping', async () => {
    const { double, backend } = await start({ reapIntervalMs: 50, deregisterCriticalMinMs: 100 });
    const consul = backend({ watchRetryInitialDelayMs: 20, deregisterCriticalAfterMs: 1_000 });
    const onReset = vi.fn();
    consul.onReset(onReset);
    const lists: number[] = [];
    consul.watch('orders', { onChange: (list) => lists.push(list.length) });
    const a = instance({ id: 'a' });
    await consul.register(a, { ttlMs: 15_000 });
    await consul.register(instance({ id: 'b' }), { ttlMs: 1_000 });
    await vi.waitFor(() => expect(lists.at(-1)).toBe(2));
    await vi.waitFor(() => expect(double.blockingQueries('/v1/health/service/orders')).toBe(1));
    double.restart({ keepData: true });
    await consul.deregister(a);
    await vi.waitFor(() => expect(double.state.reaped).toEqual(['orders:b']), { timeout: 3_000 });
    await vi.waitFor(() => expect(lists.at(-1)).toBe(0));
    await expect(consul.instances('orders')).resolves.toEqual([]);
    await expect(consul.services()).resolves.toEqual(['consul']);
    // The dropped poll made it check the agent's node id, which had not changed.
    expect(double.requestsTo('/v1/agent/self').length).toBeGreaterThanOrEqual(2);
    expect(onReset).not.toHaveBeenCalled();
  });

  it('turns agent-restart detection off, saying so once, without agent:read', async () => {
    const { backend } = await start({
      acl: { defaultPolicy: 'deny', tokens: { app: { accessorId: 'acc-app', policy: { servicePrefix: { '': 'write' }, nodePrefix: { '': 'read' } } } } },
    });
    const logger = recordingLogger();
    const consul = backend({ token: 'app', logger });
    await consul.register(instance(), { ttlMs: 15_000 });
    await expect(consul.instances('orders')).resolves.toHaveLength(1);
    await expect(consul.instances('orders')).resolves.toHaveLength(1);
    expect(logger.lines.filter((line) => line.msg?.includes('agent restarts without data will not be detected')).map((line) => line.level)).toEqual(['info']);
  });
});

describe('ResetSignals', () => {
  it('takes a lower index from a read already in flight for a race, not a loss', () => {
    const signals = new ResetSignals(silentLogger);
    const older = signals.ticket();
    const newer = signals.ticket();
    expect(signals.observeIndex('k', 20n, newer, 'k')).toBeUndefined();
    expect(signals.observeIndex('k', 10n, older, 'k')).toBeUndefined();
    expect(signals.observeIndex('k', 9n, signals.ticket(), 'k')).toMatch(/went backwards \(20 to 9\)/);
    expect(signals.observeIndex('other', 5n, signals.ticket(), 'other')).toBeUndefined();
  });

  it('calls every listener even when one throws, and stops calling an unsubscribed one', () => {
    const logger = recordingLogger();
    const signals = new ResetSignals(logger);
    const calls: string[] = [];
    signals.subscribe(() => {
      throw new Error('listener bug');
    });
    const stop = signals.subscribe((reset) => calls.push(reset.reason));
    signals.report({ reason: 'first' });
    stop();
    stop();
    signals.report({ reason: 'second' });
    expect(calls).toEqual(['first']);
    expect(logger.at('error')).toHaveLength(2);
    expect(signals.count).toBe(2);
  });
});
