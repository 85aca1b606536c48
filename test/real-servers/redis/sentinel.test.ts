/**
 * Sentinel: one master, one replica, three sentinels on loopback. The master is killed while an
 * instance heartbeats and a resolver resolves; after the failover both carry on against the
 * promoted replica, and the backend reports the failover through onReset before the first
 * listing it reads from the new master. The test reports the outage window it saw.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { autoRegister } from '../../../src/registration/registration.js';
import { createResolver } from '../../../src/resolution/resolver.js';
import { useCleanups } from '../../helpers/redis-fixture.js';
import { startSentinelGroup, type SentinelGroup } from '../../helpers/redis-server.js';

const HEARTBEAT_MS = 500;

let group: SentinelGroup | undefined;
const defer = useCleanups();

beforeAll(async () => {
  group = await startSentinelGroup({ downAfterMs: 1_000 });
});

afterAll(async () => {
  await group?.stop();
});

function backend(sentinels: SentinelGroup): RedisBackend {
  const created = new RedisBackend({
    redis: { sentinels: [...sentinels.sentinelAddresses], name: sentinels.masterName },
    namespace: 'sentinel',
  });
  defer(() => created.close());
  return created;
}

/** What the reader did, in order: resets it reported, listings it returned (with when they were asked for). */
type Event = { kind: 'reset'; at: number } | { kind: 'listing'; startedAt: number };

/** Calls `instances()` every 50 ms and records when calls fail and succeed, why they failed, and how long failures took. */
function probe(reader: RedisBackend, events: Event[]): { failures: number[]; reasons: string[]; successes: number[]; slowestFailureMs: number; stop(): void } {
  const state = { failures: [] as number[], reasons: [] as string[], successes: [] as number[], slowestFailureMs: 0, stopped: false };
  void (async () => {
    while (!state.stopped) {
      const started = Date.now();
      await reader.instances('orders').then(
        () => {
          state.successes.push(Date.now());
          events.push({ kind: 'listing', startedAt: started });
        },
        (error: unknown) => {
          state.failures.push(Date.now());
          state.reasons.push(String(error));
          state.slowestFailureMs = Math.max(state.slowestFailureMs, Date.now() - started);
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    failures: state.failures,
    reasons: state.reasons,
    successes: state.successes,
    get slowestFailureMs() {
      return state.slowestFailureMs;
    },
    stop: () => (state.stopped = true),
  };
}

describe('RedisBackend with Sentinel', () => {
  it('keeps registration and resolution going across a failover', async ({ annotate }) => {
    if (group === undefined) throw new Error('the Sentinel group did not start');
    const sentinels = group;
    const writer = backend(sentinels);
    const reader = backend(sentinels);
    const registration = await autoRegister({
      backend: writer,
      service: 'orders',
      host: '10.0.0.1',
      port: 8080,
      // Longer than the failover takes, so the instance outlives the outage instead of expiring.
      ttlMs: 10_000,
      heartbeatIntervalMs: HEARTBEAT_MS,
      retryInitialDelayMs: HEARTBEAT_MS,
      retryMaxDelayMs: HEARTBEAT_MS,
    });
    defer(() => registration.stop());
    const resolver = createResolver({
      backend: reader,
      cacheTtlMs: 300,
      degradedRetryMs: 200,
      // The outage opens the resolver's breaker; let it try again soon after.
      breakerHalfOpenAfterMs: 500,
      envFallback: false,
    });
    defer(() => resolver.close());
    expect((await resolver.resolve('orders')).id).toBe(registration.instance.id);
    const oldMaster = await sentinels.currentMaster();
    expect(oldMaster.port).toBe(sentinels.master.port);

    const events: Event[] = [];
    reader.onReset(() => events.push({ kind: 'reset', at: Date.now() }));
    const calls = probe(reader, events);
    const resolveFailures: unknown[] = [];
    let resolving = true;
    const resolutions = (async () => {
      while (resolving) {
        await resolver.resolve('orders').catch((error: unknown) => resolveFailures.push(error));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const killedAt = Date.now();
    await sentinels.master.kill();
    const deadAt = Date.now();
    await vi.waitFor(async () => expect((await sentinels.currentMaster()).port).toBe(sentinels.replica.port), {
      timeout: 15_000,
      interval: 100,
    });
    const promotedAt = Date.now();
    // Registration carries on against the promoted replica...
    await vi.waitFor(
      async () => {
        expect(calls.successes.some((at) => at > promotedAt), `no listing since the promotion; the last call failed with ${calls.reasons.at(-1) ?? 'nothing'}`).toBe(true);
        expect((await reader.instances('orders')).map((i) => i.id)).toEqual([registration.instance.id]);
        expect(registration.state).toBe('registered');
      },
      { timeout: 10_000, interval: 100 },
    );
    // ...a new registration is accepted there...
    const late = await autoRegister({ backend: writer, service: 'payments', host: '10.0.0.2', port: 9090, ttlMs: 3_000, required: true });
    defer(() => late.stop());
    expect(late.state).toBe('registered');
    // ...and resolution never failed: stale answers covered the outage, fresh ones follow it.
    await vi.waitFor(async () => expect((await resolver.resolve('payments')).id).toBe(late.instance.id), { timeout: 3_000 });
    await vi.waitFor(() => expect(resolver.status('orders')).toMatchObject({ source: 'cache', watching: true }), { timeout: 5_000 });
    resolving = false;
    calls.stop();
    await resolutions;
    expect(resolveFailures).toEqual([]);

    // The failover is a reset (the master's run id changed), told before the first listing asked
    // for after the master died, and only once.
    const firstListingAfter = events.findIndex((event) => event.kind === 'listing' && event.startedAt >= deadAt);
    const resets = events.filter((event) => event.kind === 'reset');
    expect(resets).toHaveLength(1);
    expect(events.indexOf(resets[0] as Event)).toBeLessThan(firstListingAfter);
    expect((resets[0] as { at: number }).at).toBeGreaterThanOrEqual(deadAt);

    const firstFailure = calls.failures.find((at) => at >= killedAt);
    const recovered = calls.successes.find((at) => at > (calls.failures.at(-1) ?? killedAt));
    expect(firstFailure).toBeDefined();
    expect(recovered).toBeDefined();
    const outageMs = (recovered ?? 0) - killedAt;
    const report = `Sentinel failover: master killed, replica promoted after ${promotedAt - killedAt} ms; backend calls failed from +${(firstFailure ?? 0) - killedAt} ms to +${outageMs} ms (outage window ${outageMs} ms; ${calls.failures.length} calls failed, the slowest in ${calls.slowestFailureMs} ms)`;
    await annotate(report);
    process.stdout.write(`${report}\n`);
    // Failing fast: no call waited for the operation timeout (1500 ms, whose error says "within"),
    // so callers fell back at once.
    expect(calls.reasons.filter((reason) => reason.includes('within'))).toEqual([]);
  });
});
