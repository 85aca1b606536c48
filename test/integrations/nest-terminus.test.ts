/**
 * RollcallHealthIndicator in a real Nest app with @nestjs/terminus: a health endpoint built the
 * terminus way reports registration state and resolver health, and fails (503) when rollcall's
 * health route would: checks critical, draining.
 */
import { Controller, Get, Inject, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheckService, TerminusModule, type HealthIndicatorFunction } from '@nestjs/terminus';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend, ServiceUnavailableError } from '../../src/index.js';
import { ROLLCALL_LIFESPAN, RollcallHealthIndicator, RollcallModule, type RollcallHandle, type RollcallModuleOptions } from '../../src/integrations/nest/index.js';
import { FaultyBackend } from '../../src/testing/index.js';
import { eventually, get } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// What a user writes, with the decorators applied by hand (see examples/nest/main.ts for why).
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly rollcall: RollcallHealthIndicator,
  ) {}

  check(): Promise<unknown> {
    const indicators: HealthIndicatorFunction[] = [() => this.rollcall.isHealthy('rollcall')];
    return this.health.check(indicators);
  }
}
Controller('health')(HealthController);
Inject(HealthCheckService)(HealthController, undefined, 0);
Inject(RollcallHealthIndicator)(HealthController, undefined, 1);
Get()(HealthController.prototype, 'check', Object.getOwnPropertyDescriptor(HealthController.prototype, 'check') as PropertyDescriptor);

async function healthApp(options: RollcallModuleOptions): Promise<{ app: INestApplication; url: string; life: RollcallHandle }> {
  const module: DynamicModule = { module: class AppModule {}, imports: [RollcallModule.forRoot(options), TerminusModule], controllers: [HealthController] };
  const app = await NestFactory.create(module, { logger: false, abortOnError: false });
  cleanups.push(() => app.close());
  await app.listen(0, '127.0.0.1');
  const life = app.get<RollcallHandle>(ROLLCALL_LIFESPAN);
  await life.ready();
  const { port } = (app.getHttpServer() as { address(): { port: number } }).address();
  return { app, url: `http://127.0.0.1:${port}/health`, life };
}

const body = async (url: string): Promise<{ status: number; json: Record<string, unknown> }> => {
  const answer = await get(url);
  return { status: answer.status, json: JSON.parse(answer.body) as Record<string, unknown> };
};

describe('RollcallHealthIndicator with @nestjs/terminus', () => {
  it('is up while registered and passing, down once the checks turn critical, with the details', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    let dbUp = true;
    const { url, life } = await healthApp({
      backend,
      service: 'orders',
      ttlMs: 1_000,
      failuresBeforeCritical: 1,
      drainWaitMs: 0,
      healthChecks: { db: () => (dbUp ? { rows: [] } : Promise.reject(new Error('ECONNREFUSED'))) },
    });

    expect(await body(url)).toEqual({
      status: 200,
      json: {
        status: 'ok',
        info: {
          rollcall: {
            status: 'up',
            health: 'passing',
            service: 'orders',
            id: life.registration?.instance.id,
            registration: 'registered',
            checks: { db: { status: 'passing' } },
            resolver: { health: 'healthy', breaker: 'closed' },
          },
        },
        error: {},
        details: expect.any(Object) as unknown,
      },
    });

    dbUp = false;
    await eventually(async () => (await get(url)).status === 503);
    const down = await body(url);
    expect(down.json).toMatchObject({
      status: 'error',
      error: { rollcall: { status: 'down', health: 'critical', registration: 'registered', checks: { db: { status: 'critical', output: 'ECONNREFUSED' } } } },
    });
  });

  it('is down from the moment the app starts draining', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const { app, url } = await healthApp({ backend, service: 'orders', drainWaitMs: 1_000 });
    expect((await get(url)).status).toBe(200);

    const closing = app.close();
    await eventually(async () => (await get(url)).status === 503);
    // From the moment it drains: still in its one-second drain wait.
    expect(app.get<RollcallHandle>(ROLLCALL_LIFESPAN).state).toBe('draining');
    expect((await body(url)).json).toMatchObject({ error: { rollcall: { status: 'down', health: 'draining', registration: 'draining' } } });
    await closing;
  });

  it('reports a degraded resolver without going down: the registry blinking must not empty a load balancer', async () => {
    const memory = new MemoryBackend();
    const faulty = new FaultyBackend(memory);
    cleanups.push(() => memory.close());
    const { app } = await healthApp({ backend: faulty, service: 'orders', drainWaitMs: 0, resolver: { cacheTtlMs: 1, watch: false } });
    const indicator = app.get(RollcallHealthIndicator);
    const life = app.get<RollcallHandle>(ROLLCALL_LIFESPAN);
    await life.resolver.resolve('orders');

    faulty.fail();
    await eventually(async () => {
      await life.resolver.resolve('orders').catch((error: unknown) => {
        if (!(error instanceof ServiceUnavailableError)) throw error;
      });
      return life.resolver.health === 'degraded';
    });
    expect(indicator.isHealthy()).toEqual({
      rollcall: expect.objectContaining({ status: 'up', registration: expect.stringMatching(/registered|standalone/) as unknown, resolver: { health: 'degraded', breaker: 'closed' } }) as unknown,
    });
    faulty.heal();
  });

  it('names its result with the key given, and rejects a key that is not a non-empty string', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const { app } = await healthApp({ backend, service: 'orders', drainWaitMs: 0 });
    const indicator = app.get(RollcallHealthIndicator);
    expect(Object.keys(indicator.isHealthy('discovery'))).toEqual(['discovery']);
    expect(Object.keys(indicator.isHealthy())).toEqual(['rollcall']);
    expect(() => indicator.isHealthy('')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'key' }));
  });

  it('works without TerminusModule for a worker: the indicator is a plain provider', async () => {
    const backend = new MemoryBackend();
    cleanups.push(() => backend.close());
    const worker = await NestFactory.createApplicationContext({ module: class WorkerModule {}, imports: [RollcallModule.forRoot({ backend, service: 'mailer' })] }, { logger: false });
    cleanups.push(() => worker.close());
    await worker.init();
    await worker.get<RollcallHandle>(ROLLCALL_LIFESPAN).ready();
    expect(worker.get(RollcallHealthIndicator).isHealthy()).toEqual({
      rollcall: expect.objectContaining({ status: 'up', health: 'passing', registration: 'none' }) as unknown,
    });
  });
});
