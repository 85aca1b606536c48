import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { Redis } from 'ioredis';
import { autoRegister, createResolver, type Resolver } from '../../src/index.js';
import { attach } from '../../src/integrations/express.js';
import { rollcall } from '../../src/integrations/fastify.js';
import { ROLLCALL_LIFESPAN, RollcallModule, type RollcallHandle } from '../../src/integrations/nest/index.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { expectNoNewHandles, get, openHandles, within } from './helpers.js';

// The same lifecycle as the memory-backed tests, against a real Redis: the registry is another
// process, the drain travels through Redis pub/sub, and the backends the integrations create
// from a factory hold real connections that must be closed.
let redis: RedisServer;
let observer: RedisBackend;
let client: Resolver;

beforeAll(async () => {
  redis = await startRedis();
  observer = new RedisBackend({ url: redis.url });
  client = createResolver({ backend: observer });
  // Opens the observer's connections (commands, and watches) now, so that each test's open-handles
  // count only sees the connections of the app under test.
  await expect(client.resolve('warm-up')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
});

afterAll(async () => {
  await client.close();
  await observer.close();
  await redis.stop();
});

interface Booted {
  readonly port: number;
  readonly handle: RollcallHandle;
  close(): Promise<void>;
}

const frameworks: ReadonlyArray<readonly [string, (service: string) => Promise<Booted>]> = [
  [
    'Fastify',
    async (service) => {
      const app = Fastify({ return503OnClosing: false });
      await app.register(rollcall, { backend: () => new RedisBackend({ url: redis.url }), service, drainWaitMs: 1_000 });
      app.get('/', () => 'fastify');
      await app.listen({ port: 0, host: '127.0.0.1' });
      await app.rollcall.ready();
      return { port: (app.server.address() as AddressInfo).port, handle: app.rollcall, close: () => app.close() };
    },
  ],
  [
    'Express',
    async (service) => {
      const app = express();
      app.get('/', (_req, res) => {
        res.send('express');
      });
      const server: Server = app.listen(0, '127.0.0.1');
      const life = attach(server, { backend: () => new RedisBackend({ url: redis.url }), service, drainWaitMs: 1_000 });
      await life.ready();
      return { port: (server.address() as AddressInfo).port, handle: life, close: () => life.shutdown() };
    },
  ],
  [
    'NestJS',
    async (service) => {
      const app: INestApplication = await NestFactory.create(
        { module: class AppModule {}, imports: [RollcallModule.forRoot({ backend: () => new RedisBackend({ url: redis.url }), service, drainWaitMs: 1_000 })] },
        { logger: false },
      );
      app.getHttpAdapter().get('/', (_req: unknown, res: { send(body: string): void }) => res.send('nest'));
      await app.listen(0, '127.0.0.1');
      const handle = app.get<RollcallHandle>(ROLLCALL_LIFESPAN);
      await handle.ready();
      return { port: ((app.getHttpServer() as Server).address() as AddressInfo).port, handle, close: () => app.close() };
    },
  ],
];

describe.each(frameworks)('%s on Redis', (name, boot) => {
  it('registers the bound port in Redis, stops being picked as soon as it drains, is gone after close, and leaves nothing open', async () => {
    const service = `redis-${name.toLowerCase()}`;
    const before = openHandles();
    const app = await boot(service);

    expect(await observer.instances(service)).toEqual([expect.objectContaining({ host: '127.0.0.1', port: app.port, status: 'passing' })]);
    expect(await client.resolveUrl(service)).toBe(`http://127.0.0.1:${app.port}`);

    const closing = app.close();
    await within(300, async () => (await client.resolveAll(service).catch(() => [])).length === 0);
    expect(await observer.instances(service)).toEqual([expect.objectContaining({ status: 'draining' })]);
    expect(await get(`http://127.0.0.1:${app.port}/`)).toMatchObject({ status: 200, body: name === 'NestJS' ? 'nest' : name.toLowerCase() });
    await closing;

    expect(await observer.instances(service)).toEqual([]);
    expect(app.handle.state).toBe('stopped');
    await expectNoNewHandles(before);
  });
});

describe('a health check that pings Redis', () => {
  it('counts ioredis PONG as passing, and a failing ping as critical after failuresBeforeCritical rounds', async () => {
    const pinger = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    const registration = await autoRegister({
      backend: observer,
      service: 'redis-pinged',
      host: '127.0.0.1',
      port: 9000,
      ttlMs: 1_000,
      failuresBeforeCritical: 2,
      healthChecks: { redis: () => pinger.ping() },
    });
    expect(registration.health.checks.redis).toEqual({ status: 'passing' });
    expect(await observer.instances('redis-pinged')).toEqual([expect.objectContaining({ status: 'passing' })]);

    pinger.disconnect();
    await within(3_000, async () => (await observer.instances('redis-pinged'))[0]?.status === 'critical');
    expect(registration.health.checks.redis).toEqual({ status: 'critical', output: expect.stringMatching(/closed/i) as unknown });
    await registration.stop();
  });
});
