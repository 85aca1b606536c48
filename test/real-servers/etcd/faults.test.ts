/**
 * The etcd backend through real faults on a real etcd: disconnects (resumed from the last
 * revision), compaction (listed again), kill -9 with the data kept, a restart from a wiped data
 * dir (every instance back within one heartbeat, the loss reported, no resolve failing), and a
 * SIGKILLed process whose lease expires on its own.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EtcdBackend, type EtcdBackendOptions } from '../../../src/backends/etcd/index.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { autoRegister, type Registration, type RegistrationStats } from '../../../src/registration/registration.js';
import { createResolver, type Resolver } from '../../../src/resolution/resolver.js';
import { etcdctl, startEtcd, startTcpProxy, type EtcdMember } from '../../helpers/etcd-server.js';

const cleanups: (() => Promise<void>)[] = [];
let sequence = 0;
let member: EtcdMember;

beforeAll(async () => {
  member = await startEtcd();
});

afterAll(async () => {
  await member?.stop();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function backend(options: EtcdBackendOptions): EtcdBackend {
  const created = new EtcdBackend({ env: {}, watchRetryInitialDelayMs: 100, watchRetryMaxDelayMs: 500, requestTimeoutMs: 1_000, ...options });
  cleanups.push(() => created.close());
  return created;
}

const namespace = (): string => `faults-${process.pid}-${++sequence}`;
const instance = (id: string): ServiceInstance => createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080 }, Date.now());
const ids = (list: readonly ServiceInstance[]): string[] => list.map((i) => i.id).sort();

/** The heartbeats a registration made between two of its stats() snapshots, by outcome. */
function heartbeatsSince(before: RegistrationStats | undefined, after: RegistrationStats): RegistrationStats['heartbeats'] {
  const { ok, lost, failed } = before?.heartbeats ?? { ok: 0, lost: 0, failed: 0 };
  return { ok: after.heartbeats.ok - ok, lost: after.heartbeats.lost - lost, failed: after.heartbeats.failed - failed };
}

function currentRevision(): number {
  const [status] = JSON.parse(etcdctl([member.clientUrl], undefined, 'endpoint', 'status', '-w', 'json')) as { Status: { header: { revision: number } } }[];
  return Number(status?.Status.header.revision);
}

function watchList(reader: EtcdBackend): { latest(): string[]; errors: number; stop(): void } {
  let latest: readonly ServiceInstance[] = [];
  const state = { errors: 0 };
  const stop = reader.watch('orders', { onChange: (list) => (latest = list), onError: () => state.errors++ });
  cleanups.push(() => Promise.resolve(stop()));
  return {
    latest: () => ids(latest),
    get errors() {
      return state.errors;
    },
    stop,
  };
}

async function registerAll(writer: EtcdBackend, count: number, ttlMs: number, heartbeatMs: number): Promise<Registration[]> {
  const registrations = await Promise.all(
    Array.from({ length: count }, (_, n) =>
      autoRegister({
        backend: writer,
        service: 'orders',
        id: `orders-${n + 1}`,
        host: '10.0.0.1',
        port: 8081 + n,
        ttlMs,
        heartbeatIntervalMs: heartbeatMs,
        retryInitialDelayMs: heartbeatMs,
        retryMaxDelayMs: heartbeatMs,
        operationTimeoutMs: Math.min(heartbeatMs, 1_000),
        required: true,
      }),
    ),
  );
  cleanups.push(async () => {
    await Promise.all(registrations.map((registration) => registration.stop()));
  });
  return registrations;
}

/** Resolves `orders` on every resolver every 20 ms; records failures. */
function resolveContinuously(resolvers: readonly Resolver[]): { failures: string[]; answers: number; stop(): Promise<void> } {
  const state = { failures: [] as string[], answers: 0, running: true };
  const loop = (async () => {
    while (state.running) {
      for (const resolver of resolvers) {
        await resolver.resolve('orders').then(
          () => state.answers++,
          (error: unknown) => state.failures.push(String(error)),
        );
      }
      await new Promise((done) => setTimeout(done, 20));
    }
  })();
  return {
    get failures() {
      return state.failures;
    },
    get answers() {
      return state.answers;
    },
    stop: async () => {
      state.running = false;
      await loop;
    },
  };
}

describe('etcd watch through disconnects', () => {
  it('resumes from the last revision it applied after a disconnect, without listing again', async () => {
    const proxy = await startTcpProxy(member.clientUrl);
    cleanups.push(() => proxy.stop());
    const ns = namespace();
    const writer = backend({ endpoints: member.clientUrl, namespace: ns });
    const reader = backend({ endpoints: proxy.url, namespace: ns });
    await writer.register(instance('first'), { ttlMs: 30_000 });
    const watched = watchList(reader);
    await vi.waitFor(() => expect(watched.latest()).toEqual(['first']));

    proxy.cut();
    await vi.waitFor(() => expect(watched.errors).toBeGreaterThan(0));
    await writer.register(instance('second'), { ttlMs: 30_000 });
    await writer.deregister({ service: 'orders', id: 'first' });
    proxy.release();

    await vi.waitFor(() => expect(watched.latest()).toEqual(['second']), { timeout: 5_000 });
    expect(reader.stats()).toMatchObject({ watchRelists: 0, resetsDetected: 0 });
    expect(reader.stats().watchReconnects).toBeGreaterThan(0);
  });

  it('lists the service again when the revision to resume from was compacted', async () => {
    const proxy = await startTcpProxy(member.clientUrl);
    cleanups.push(() => proxy.stop());
    const ns = namespace();
    const writer = backend({ endpoints: member.clientUrl, namespace: ns });
    const reader = backend({ endpoints: proxy.url, namespace: ns });
    await writer.register(instance('first'), { ttlMs: 30_000 });
    const watched = watchList(reader);
    await vi.waitFor(() => expect(watched.latest()).toEqual(['first']));

    proxy.cut();
    await writer.register(instance('second'), { ttlMs: 30_000 });
    await writer.deregister({ service: 'orders', id: 'first' });
    etcdctl([member.clientUrl], undefined, 'compact', String(currentRevision()));
    proxy.release();

    await vi.waitFor(() => expect(watched.latest()).toEqual(['second']), { timeout: 5_000 });
    expect(reader.stats()).toMatchObject({ watchRelists: 1, resetsDetected: 0 });
  });
});

describe('etcd data changed behind the backend', () => {
  it('answers lost when the key was deleted or its lease revoked by hand, and registers again', async () => {
    const ns = namespace();
    const writer = backend({ endpoints: member.clientUrl, namespace: ns });
    await writer.register(instance('by-hand'), { ttlMs: 30_000 });
    const ref = { service: 'orders', id: 'by-hand' };
    await expect(writer.renew(ref, 'passing')).resolves.toBe('renewed');

    // The key goes while its lease lives on: only the lease-guarded transaction can tell.
    etcdctl([member.clientUrl], undefined, 'del', `/rollcall/${ns}/orders/instances/by-hand`);
    await expect(writer.renew(ref, 'passing')).resolves.toBe('lost');
    await writer.register(instance('by-hand'), { ttlMs: 30_000 });
    await expect(writer.renew(ref, 'draining')).resolves.toBe('renewed');

    const leases = etcdctl([member.clientUrl], undefined, 'lease', 'list').match(/[0-9a-f]{16}/g) ?? [];
    for (const lease of leases) etcdctl([member.clientUrl], undefined, 'lease', 'revoke', lease);
    await expect(writer.renew(ref, 'passing')).resolves.toBe('lost');
    expect(await writer.instances('orders')).toEqual([]);
  });
});

describe('etcd restarts', () => {
  it('kill -9 and a restart with the data kept: leases survive, nothing re-registers, no loss reported, the watch goes on', async () => {
    const ns = namespace();
    const writer = backend({ endpoints: member.clientUrl, namespace: ns });
    const reader = backend({ endpoints: member.clientUrl, namespace: ns });
    const registrations = await registerAll(writer, 2, 3_000, 500);
    let reregistered = 0;
    for (const registration of registrations) registration.on('reregistered', () => reregistered++);
    const resets: string[] = [];
    reader.onReset((reset) => resets.push(reset.reason));
    const watched = watchList(reader);
    await vi.waitFor(() => expect(watched.latest()).toEqual(['orders-1', 'orders-2']));

    await member.kill();
    // Down across a heartbeat: it fails, and the leases outlive it.
    const failed = registrations.map((registration) => registration.stats().heartbeats.failed);
    await vi.waitFor(() => expect(registrations.some((registration, n) => registration.stats().heartbeats.failed > (failed[n] ?? 0))).toBe(true), { timeout: 5_000 });
    await member.restart();

    await vi.waitFor(() => expect(registrations.every((registration) => registration.state === 'registered')).toBe(true), { timeout: 10_000 });
    expect(ids(await reader.instances('orders'))).toEqual(['orders-1', 'orders-2']);
    await writer.register(instance('after-restart'), { ttlMs: 30_000 });
    await vi.waitFor(() => expect(watched.latest()).toEqual(['after-restart', 'orders-1', 'orders-2']), { timeout: 5_000 });
    expect(reregistered).toBe(0);
    expect(resets).toEqual([]);
  });

  it('restart from a wiped data dir: every instance back within one heartbeat, the loss reported, no resolve failing', async () => {
    const ns = namespace();
    const heartbeatMs = 1_000;
    const writer = backend({ endpoints: member.clientUrl, namespace: ns });
    // The watch retries at most every 500 ms: its backoff would otherwise grow past the test's
    // windows while a loaded machine restarts the member (the reset comes with its first read back).
    const watching = backend({ endpoints: member.clientUrl, namespace: ns, watchRetryInitialDelayMs: 100, watchRetryMaxDelayMs: 500 });
    const polling = backend({ endpoints: member.clientUrl, namespace: ns });
    const registrations = await registerAll(writer, 2, 3_000, heartbeatMs);
    const resolvers = [
      createResolver({ backend: watching, envFallback: false, breakerHalfOpenAfterMs: 500 }),
      createResolver({ backend: polling, watch: false, cacheTtlMs: 200, envFallback: false, breakerHalfOpenAfterMs: 500 }),
    ];
    cleanups.push(async () => {
      await Promise.all(resolvers.map((resolver) => resolver.close()));
    });
    for (const resolver of resolvers) await resolver.resolve('orders');
    await vi.waitFor(() => expect(resolvers[0]?.status('orders')?.watching).toBe(true));
    let resets = 0;
    for (const resolver of resolvers) resolver.on('reset', () => resets++);
    const load = resolveContinuously(resolvers);

    // What each registration's heartbeats did from the restart until its instance was back.
    let atRestart: RegistrationStats[] = [];
    const untilBack: RegistrationStats['heartbeats'][] = [];
    for (const [n, registration] of registrations.entries()) {
      const back = (): void => {
        untilBack[n] ??= heartbeatsSince(atRestart[n], registration.stats());
      };
      registration.on('reregistered', back);
      registration.on('stateChange', ({ to }) => to === 'registered' && back());
    }
    await member.kill();
    await member.restart({ wipe: true });
    atRestart = registrations.map((registration) => registration.stats());
    await vi.waitFor(async () => expect(ids(await polling.instances('orders'))).toEqual(['orders-1', 'orders-2']), { timeout: 10_000, interval: 20 });

    await vi.waitFor(() => expect(resets).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
    await vi.waitFor(
      () => {
        for (const resolver of resolvers) expect(resolver.status('orders')).toMatchObject({ provisional: false, listed: 2 });
      },
      { timeout: 10_000, interval: 50 },
    );
    await load.stop();
    expect(load.failures).toEqual([]);
    expect(load.answers).toBeGreaterThan(20);
    expect(registrations.map((registration) => registration.state)).toEqual(['registered', 'registered']);
    // Within one heartbeat: no heartbeat after the restart failed, and the first one brought each
    // instance back (the one that found it lost and registered it again is not counted yet when it says so).
    expect(untilBack).toHaveLength(2);
    for (const heartbeats of untilBack) {
      expect(heartbeats.failed).toBe(0);
      expect(heartbeats.ok + heartbeats.lost).toBeLessThanOrEqual(1);
    }
  });
});

describe('a SIGKILLed process', () => {
  it('disappears from watchers within its TTL + 1 s, its lease expiring on its own', async () => {
    const ns = namespace();
    const ttlMs = 2_000;
    const reader = backend({ endpoints: member.clientUrl, namespace: ns });
    const watched = watchList(reader);
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'registered-process.ts'), member.clientUrl, ns, 'doomed', String(ttlMs)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.resolve();
    });
    await new Promise<void>((registered, failed) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('registered')) registered();
      });
      child.once('exit', (code) => failed(new Error(`the registered process exited (${code}) before registering`)));
    });
    await vi.waitFor(() => expect(watched.latest()).toEqual(['doomed']), { timeout: 5_000 });

    // Lease ids pass 2^53: read as text, not through JSON.parse.
    const [, leaseId] = /"lease":(\d+)/.exec(etcdctl([member.clientUrl], undefined, 'get', '--prefix', `/rollcall/${ns}/`, '-w', 'json')) ?? [];
    const lease = BigInt(leaseId ?? 0).toString(16);

    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await exited;
    // Its lease is etcd's to expire: granted for the TTL, and no more of it left when the process died.
    const [, granted, remaining] = /granted with TTL\((\d+)s\), remaining\((-?\d+)s\)/.exec(etcdctl([member.clientUrl], undefined, 'lease', 'timetolive', lease)) ?? [];
    expect(Number(granted)).toBe(ttlMs / 1_000);
    expect(Number(remaining)).toBeLessThanOrEqual(ttlMs / 1_000);
    // The watch reports the deletion when etcd expires it (this poll gives up 3 s past the TTL).
    await vi.waitFor(() => expect(watched.latest()).toEqual([]), { timeout: ttlMs + 3_000, interval: 10 });
  });
});
