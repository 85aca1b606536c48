/**
 * Real timers, real sockets: rollcall never keeps a process alive, and after stop() and close()
 * it holds no handle. (Fake-timer tests elsewhere prove every timer, unref'd or not, is cleared.)
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { MemoryBackend, autoRegister, createResolver } from '../src/index.js';
import { FaultyBackend } from '../src/testing/index.js';
import { activeResources, grownSince } from './helpers/resources.js';

describe('resource hygiene', () => {
  it('lets a process that forgot to stop anything exit by itself', async () => {
    const fixture = resolvePath(import.meta.dirname, 'fixtures/forgotten-stop.ts');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture], { timeout: 15_000 });
    expect(stdout.trim()).toBe('registered true');
  });

  it('holds no handle after a full lifecycle, including an outage', async () => {
    const before = activeResources();
    const memory = new MemoryBackend();
    const registry = new FaultyBackend(memory);
    const server = createServer((_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const registration = await autoRegister({
      backend: registry,
      service: 'orders',
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      ttlMs: 1_000,
      healthChecks: { ok: () => true },
      retryInitialDelayMs: 50,
    });
    const resolvers = [createResolver({ backend: registry, cacheTtlMs: 50 }), createResolver({ backend: registry })];
    for (const resolver of resolvers) await resolver.resolve('orders');
    expect(memory.activeWatches).toBe(1);

    registry.fail();
    await vi.waitFor(() => expect(registration.state).toBe('standalone'));
    await resolvers[0]?.resolve('orders');
    registry.heal();
    await vi.waitFor(() => expect(registration.state).toBe('registered'));

    await registration.drain({ waitMs: 10 });
    await registration.stop();
    await new Promise((resolve) => server.close(resolve));
    for (const resolver of resolvers) await resolver.close();
    await registry.close();
    await memory.close();
    expect(memory.activeWatches).toBe(0);
    // lru-cache's coarse clock timer lasts at most its 10 ms resolution.
    expect(await grownSince(before)).toEqual([]);
  });
});
