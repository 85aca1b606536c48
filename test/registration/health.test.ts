/**
 * Health checks mean what users think: a check passes when it resolves, whatever it resolves to
 * (a Redis `PONG`, a pg result, a Response), unless it says otherwise; hysteresis applies from the
 * first round, so a failing dependency at startup does not make the instance critical at once.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryBackend, autoRegister, type AutoRegisterOptions, type HealthCheck, type Registration } from '../../src/index.js';
import { HealthMonitor, toReport } from '../../src/registration/health-checks.js';

let backend: MemoryBackend;
const started: Registration[] = [];

async function start(overrides: Partial<AutoRegisterOptions>): Promise<Registration> {
  const registration = await autoRegister({ backend, service: 'orders', id: 'orders-1', host: '127.0.0.1', port: 8080, ttlMs: 3_000, random: () => 0, ...overrides });
  started.push(registration);
  return registration;
}

const listed = async (): Promise<string[]> => (await backend.instances('orders')).map((i) => i.status);
const beat = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(1_000);
};

describe('health check results', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    backend = new MemoryBackend();
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((r) => r.stop()));
    await backend.close();
    vi.useRealTimers();
  });

  it('counts whatever a check resolves to as passing: a Redis PONG, a pg result, a Response, nothing', async () => {
    const redis = { ping: (): Promise<string> => Promise.resolve('PONG') };
    const pool = { query: (_sql: string) => Promise.resolve({ command: 'SELECT', rowCount: 1, rows: [{ '?column?': 1 }], fields: [] }) };
    const registration = await start({
      failuresBeforeCritical: 1,
      healthChecks: {
        redis: () => redis.ping(),
        db: () => pool.query('SELECT 1'),
        http: () => Promise.resolve(new Response('ok', { status: 200 })),
        sync: () => 42,
        nothing: () => {},
        yes: () => true,
      },
    });

    expect(await listed()).toEqual(['passing']);
    expect(registration.health).toEqual({
      status: 'passing',
      checks: Object.fromEntries(['redis', 'db', 'http', 'sync', 'nothing', 'yes'].map((name) => [name, { status: 'passing' }])),
    });
  });

  it('fails on false or an explicit status, alone or as { status, output }', () => {
    expect(toReport(false)).toEqual({ status: 'critical', output: 'check returned false' });
    expect(toReport('critical')).toEqual({ status: 'critical' });
    expect(toReport('warning')).toEqual({ status: 'warning' });
    expect(toReport('passing')).toEqual({ status: 'passing' });
    expect(toReport({ status: 'critical', output: 'replica lag 40 s' })).toEqual({ status: 'critical', output: 'replica lag 40 s' });
    expect(toReport({ status: 'warning' })).toEqual({ status: 'warning' });
    // A status that is not a health status is just a value: a Response's numeric status, an HTTP client's.
    expect(toReport({ status: 503, statusText: 'Service Unavailable' })).toEqual({ status: 'passing' });
    expect(toReport('PONG')).toEqual({ status: 'passing' });
    expect(toReport(null)).toEqual({ status: 'passing' });
  });

  it('starts passing and turns critical only after failuresBeforeCritical failing rounds, counted from the first', async () => {
    const changes: string[] = [];
    const registration = await start({
      failuresBeforeCritical: 3,
      healthChecks: { redis: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')) },
    });
    registration.on('healthChange', ({ from, to }) => changes.push(`${from}->${to}`));

    expect(await listed()).toEqual(['passing']);
    expect(registration.health.checks.redis).toEqual({ status: 'critical', output: 'ECONNREFUSED 127.0.0.1:6379' });
    await beat();
    expect(await listed()).toEqual(['passing']);
    await beat();
    expect(await listed()).toEqual(['critical']);
    expect(changes).toEqual(['passing->critical']);
  });

  it('registers critical at once when failuresBeforeCritical is 1', async () => {
    await start({ failuresBeforeCritical: 1, healthChecks: { db: () => false } });
    expect(await listed()).toEqual(['critical']);
  });

  it('a flaky check that fails once at startup never makes the instance critical', async () => {
    let round = 0;
    const registration = await start({ healthChecks: { flaky: () => ++round !== 1 } });
    const changes: string[] = [];
    registration.on('healthChange', ({ to }) => changes.push(to));
    for (let n = 0; n < 10; n++) await beat();
    expect(await listed()).toEqual(['passing']);
    expect(changes).toEqual([]);
  });

  it('keeps a check named __proto__ as a check, and bounds what a check writes in its output', async () => {
    const checks: Record<string, HealthCheck> = {};
    Object.defineProperty(checks, '__proto__', { value: () => 'critical', enumerable: true });
    checks.chatty = () => {
      throw new Error('x'.repeat(10_000));
    };
    const registration = await start({ failuresBeforeCritical: 1, healthChecks: checks });
    expect(Object.keys(registration.health.checks)).toEqual(['__proto__', 'chatty']);
    expect(Object.getOwnPropertyDescriptor(registration.health.checks, '__proto__')?.value).toEqual({ status: 'critical' });
    expect(registration.health.checks.chatty?.output?.length).toBeLessThanOrEqual(1_025);
  });

  it('reports a check that throws something other than an Error', async () => {
    const registration = await start({
      failuresBeforeCritical: 1,
      healthChecks: {
        text: () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- what some libraries do
          throw 'redis is loading the dataset in memory';
        },
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what a careless library does
        nullish: () => Promise.reject(Object.create(null) as object),
      },
    });
    expect(registration.health.checks).toEqual({
      text: { status: 'critical', output: 'redis is loading the dataset in memory' },
      nullish: { status: 'critical', output: 'a value of type object' },
    });
  });
});

describe('a fetch check', () => {
  it('passes for any Response unless it checks the status: `.then((r) => r.ok)` fails on a 503', async () => {
    const server = createServer((_req, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
    const monitor = new HealthMonitor(
      [
        ['raw', (signal) => fetch(url, { signal })],
        ['ok', (signal) => fetch(url, { signal }).then((response) => response.ok)],
      ],
      { failuresBeforeCritical: 1, successesBeforePassing: 1, timeoutMs: 5_000 },
    );
    await monitor.run();
    server.close();
    expect(monitor.report()).toEqual({
      status: 'critical',
      checks: { raw: { status: 'passing' }, ok: { status: 'critical', output: 'check returned false' } },
    });
  });
});
