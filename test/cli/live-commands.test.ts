import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsulBackend } from '../../src/backends/consul/index.js';
import { RedisBackend } from '../../src/backends/redis/index.js';
import type { ServiceInstance } from '../../src/index.js';
import { ConsulDouble } from '../helpers/consul-double/index.js';
import { freePort, startRedis, until, type RedisServer } from '../helpers/redis-server.js';
import { fleetInstance, registerFleet } from './fleet.js';
import { executable, rollcall, rollcallJson, spawnRollcall, type RunningCli } from './helpers.js';

let redis: RedisServer;
let owner: RedisBackend;
let consul: ConsulDouble;
let consulOwner: ConsulBackend;
const running: RunningCli[] = [];

beforeAll(async () => {
  redis = await startRedis();
  owner = new RedisBackend({ url: redis.url });
  await registerFleet(owner);
  consul = await ConsulDouble.start();
  consulOwner = new ConsulBackend({ address: consul.url, env: {} });
  await registerFleet(consulOwner);
});

afterEach(async () => {
  for (const cli of running.splice(0)) await cli.stop('SIGKILL');
});

afterAll(async () => {
  await owner?.close();
  await consulOwner?.close();
  await consul?.close();
  await redis?.stop();
});

function watch(args: string[]): RunningCli {
  const cli = spawnRollcall(['watch', ...args]);
  running.push(cli);
  return cli;
}

type WatchEvent = { type: string; service: string; instance?: ServiceInstance; instances?: ServiceInstance[]; fields?: string[]; message?: string };

/**
 * Waits for a `--json` watch line that `match` accepts, within `timeoutMs`, among the lines from
 * index `after` on (by default: lines still to come).
 */
async function nextEvent(cli: RunningCli, match: (event: WatchEvent) => boolean, timeoutMs: number, after = cli.lines.length): Promise<WatchEvent> {
  const line = await cli.nextLine((text) => match(JSON.parse(text) as WatchEvent), { timeoutMs, after });
  return JSON.parse(line) as WatchEvent;
}

describe(`rollcall watch (${executable.kind})`, () => {
  it('prints the instances, then sees each change on Redis within 1 s, and exits 0 on Ctrl-C', async () => {
    const cli = watch(['orders', '--json', '--redis', redis.url]);
    const snapshot = JSON.parse(await cli.nextLine((line) => line.includes('"snapshot"'))) as WatchEvent;
    expect(snapshot.instances?.map((i) => [i.id, i.status])).toEqual([
      ['orders-1', 'passing'],
      ['orders-2', 'passing'],
      ['orders-3', 'critical'],
    ]);

    const added = fleetInstance('orders', 'orders-4', 3004, 'passing');
    let seen = nextEvent(cli, (event) => event.type === 'added', 1_000);
    await owner.register(added, { ttlMs: 60_000 });
    expect((await seen).instance).toMatchObject({ id: 'orders-4', port: 3004, status: 'passing' });

    seen = nextEvent(cli, (event) => event.type === 'changed', 1_000);
    await owner.renew(added, 'critical');
    expect(await seen).toMatchObject({ service: 'orders', instance: { id: 'orders-4', status: 'critical' }, fields: ['status'] });

    seen = nextEvent(cli, (event) => event.type === 'removed', 1_000);
    await owner.deregister(added);
    expect((await seen).instance?.id).toBe('orders-4');

    expect(await cli.stop('SIGINT')).toBe(0);
    expect(cli.stderr()).toBe('');
  });

  it('sees a status change on Consul within 1 s, one human line per change', async () => {
    const cli = watch(['payments', '--consul', consul.url]);
    await cli.nextLine((line) => line.includes('+ pay-1'));
    expect(cli.lines).toEqual([
      expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} {2}payments: 1 instance, 1 warning$/),
      expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} {2}\+ pay-1 {2}http:\/\/127\.0\.0\.1:4001 {2}warning$/),
    ]);
    const changed = cli.nextLine((line) => line.includes('pay-1'), { timeoutMs: 1_000, after: cli.lines.length });
    await consulOwner.renew({ service: 'payments', id: 'pay-1' }, 'passing');
    expect(await changed).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}~ pay-1 {2}status warning → passing$/);
    await consulOwner.renew({ service: 'payments', id: 'pay-1' }, 'warning');
    expect(await cli.stop('SIGTERM')).toBe(0);
    expect(cli.stderr()).toBe(`watching payments on consul at ${consul.url}; Ctrl-C to stop\n`);
  });

  it('reports a lost registry, keeps running, and prints the differences once it is back', async () => {
    const own = await startRedis();
    const writer = new RedisBackend({ url: own.url });
    try {
      await writer.register(fleetInstance('search', 'search-1', 7001, 'passing'), { ttlMs: 60_000 });
      const cli = watch(['search', '--json', '--redis', own.url]);
      await cli.nextLine((line) => line.includes('"snapshot"'));

      const afterSnapshot = cli.lines.length;
      const lost = nextEvent(cli, (event) => event.type === 'error', 5_000);
      await own.kill();
      expect((await lost).message).toMatch(/redis/i);

      // Back empty (no persistence); a new instance registers, the old one is gone.
      await own.restart();
      const replacement = fleetInstance('search', 'search-2', 7002, 'passing');
      await until(async () => (await writer.register(replacement, { ttlMs: 60_000 }), true), 5_000, 'the writer reconnects');
      // The first list after the loss may or may not include the new instance yet: both are fine.
      await nextEvent(cli, (event) => event.type === 'added' && event.instance?.id === 'search-2', 10_000, afterSnapshot);
      const events = cli.lines.slice(afterSnapshot).map((line) => JSON.parse(line) as WatchEvent).map((event) => [event.type, event.instance?.id]);
      expect(events.slice(0, 3)).toEqual([['error', undefined], ['resumed', undefined], ['removed', 'search-1']]);
      expect(events).toContainEqual(['added', 'search-2']);
      expect(await cli.stop('SIGINT')).toBe(0);
    } finally {
      await writer.close();
      await own.stop();
    }
  });

  it('exits 3 when the registry cannot be reached when it starts', async () => {
    const result = await rollcall(['watch', 'orders', '--redis', `redis://127.0.0.1:${await freePort()}`, '--timeout', '300']);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
  });
});

describe('rollcall deregister', () => {
  it('removes an instance from Consul with --yes and proves it is gone', async () => {
    await consulOwner.register(fleetInstance('reports', 'reports-1', 8001, 'critical'), { ttlMs: 600_000 });
    await consulOwner.register(fleetInstance('reports', 'reports-2', 8002, 'passing'), { ttlMs: 600_000 });
    const result = await rollcall(['deregister', 'reports', 'reports-1', '--yes', '--consul', consul.url]);
    expect(result).toEqual({ code: 0, stdout: 'deregistered reports/reports-1 (was critical at http://127.0.0.1:8001)\n', stderr: '' });
    expect((await consulOwner.instances('reports')).map((i) => i.id)).toEqual(['reports-2']);
  });

  it('asks first, and only y or yes confirms', async () => {
    await consulOwner.register(fleetInstance('mailer', 'mailer-1', 8101, 'critical'), { ttlMs: 600_000 });
    for (const answer of ['n\n', '', 'yep\n']) {
      const declined = await rollcall(['deregister', 'mailer', 'mailer-1', '--consul', consul.url], { input: answer });
      expect(declined.code).toBe(6);
      expect(declined.stderr).toContain(`Deregister mailer/mailer-1 at http://127.0.0.1:8101 (critical, registered 3h ago) from consul at ${consul.url}? [y/N] `);
      expect(declined.stderr).toContain('rollcall: error: mailer/mailer-1 was not deregistered');
    }
    expect((await consulOwner.instances('mailer')).map((i) => i.id)).toEqual(['mailer-1']);
    const confirmed = await rollcallJson(['deregister', 'mailer', 'mailer-1', '--consul', consul.url], { input: 'YES\n' });
    expect(confirmed.code).toBe(0);
    expect(confirmed.json).toMatchObject({ deregistered: { service: 'mailer', id: 'mailer-1' }, instance: { port: 8101, status: 'critical' } });
    expect(await consulOwner.instances('mailer')).toEqual([]);
  });

  it('exits 4 when Consul keeps listing the instance (registered with another agent)', async () => {
    await consulOwner.register(fleetInstance('ledger', 'ledger-1', 8201, 'critical'), { ttlMs: 600_000 });
    // What an agent answers for a service registered with another agent.
    const remove = consul.injectFault({ method: 'PUT', path: '/v1/agent/service/deregister/', status: 404, body: 'Unknown service ID "ledger:ledger-1"' });
    try {
      const result = await rollcall(['deregister', 'ledger', 'ledger-1', '--yes', '--consul', consul.url]);
      expect(result.code).toBe(4);
      expect(result.stderr).toContain('the registry accepted the deregistration but still lists ledger/ledger-1');
    } finally {
      remove();
    }
  });

  it('exits 4 on Redis for a live instance another process owns, saying when its lease ends', async () => {
    const result = await rollcall(['deregister', 'orders', 'orders-3', '--yes', '--redis', redis.url]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/instance orders\/orders-3 belongs to another RedisBackend .* its lease ends in \d+ ms/);
    expect((await owner.instances('orders')).map((i) => i.id)).toContain('orders-3');
  });

  it('exits 5 for an instance the registry does not list, 2 for an invalid id', async () => {
    const missing = await rollcall(['deregister', 'orders', 'orders-99', '--yes', '--redis', redis.url]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain(`the registry lists no instance orders/orders-99 (redis at ${redis.url}); see rollcall instances orders`);
    const invalid = await rollcall(['deregister', 'orders', 'orders 1', '--yes', '--redis', redis.url]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('Invalid id: expected an instance id');
  });
});

describe('rollcall resolve', () => {
  it('answers from the registry with the eligible instances', async () => {
    const { code, json } = await rollcallJson<{ eligible: ServiceInstance[]; instance: ServiceInstance }>(['resolve', 'orders', '--redis', redis.url]);
    expect(code).toBe(0);
    expect(json).toMatchObject({ service: 'orders', answered: true, tier: 'registry', listed: 3, warningPolicy: 'fallback', envVariable: 'ORDERS_URL' });
    expect(json.eligible.map((i) => i.id)).toEqual(['orders-1', 'orders-2']);
    expect(['orders-1', 'orders-2']).toContain(json.instance.id);
    const human = await rollcall(['resolve', 'orders', '--redis', redis.url]);
    expect(human.stdout).toMatch(/^orders → http:\/\/127\.0\.0\.1:300[12] \(orders-[12]\)\nanswered by the registry: 2 eligible instances of 3 listed \(warning instances: fallback\)\n/);
  });

  it('falls back to the environment when no instance is eligible, and says why', async () => {
    const env = { AUTH_SERVICE_URL: 'http://10.0.0.5:8080' };
    const { code, stdout } = await rollcall(['resolve', 'auth_service', '--redis', redis.url], { env });
    expect(code).toBe(0);
    expect(stdout).toContain('auth_service → http://10.0.0.5:8080\nanswered by the environment ($AUTH_SERVICE_URL): 1 eligible instance (warning instances: fallback)\n');
    expect(stdout).toContain('degraded: using AUTH_SERVICE_URL (registry: the registry listed 1 instance(s), none passing or warning');

    const skipped = await rollcall(['resolve', 'auth_service', '--no-env', '--redis', redis.url], { env });
    expect(skipped.code).toBe(1);
    expect(skipped.stdout).toBe(
      [
        'auth_service: no instance available',
        'TIER      WHY IT GAVE NO ANSWER',
        'registry  the registry listed 1 instance(s), none passing or warning',
        'stale     not used: the registry answered',
        'env       disabled (envFallback: false)',
        '',
      ].join('\n'),
    );
  });

  it('answers from the environment when the registry cannot be reached, and exits 1 when nothing answers', async () => {
    const unreachable = `redis://127.0.0.1:${await freePort()}`;
    const fromEnv = await rollcallJson<{ tier: string; instance: ServiceInstance; reason: string }>(['resolve', 'orders', '--redis', unreachable, '--timeout', '300'], {
      env: { ORDERS_URL: 'http://10.1.2.3:9000' },
    });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.json).toMatchObject({ tier: 'env', instance: { host: '10.1.2.3', port: 9000 } });
    expect(fromEnv.json.reason).toMatch(/^using ORDERS_URL \(registry: redis registry: instances failed: .*ECONNREFUSED/);

    const nothing = await rollcallJson<{ answered: boolean; attempts: { tier: string; reason: string }[] }>(['resolve', 'orders', '--redis', unreachable, '--timeout', '300']);
    expect(nothing.code).toBe(1);
    expect(nothing.json.answered).toBe(false);
    expect(nothing.json.attempts.map((a) => a.tier)).toEqual(['registry', 'stale', 'env']);
    expect(nothing.json.attempts[2]?.reason).toBe('ORDERS_URL is not set');
  });

  it('applies --warning: warning instances answer only when the policy lets them', async () => {
    expect((await rollcallJson<{ tier: string }>(['resolve', 'payments', '--redis', redis.url])).json.tier).toBe('registry');
    const excluded = await rollcallJson<{ answered: boolean }>(['resolve', 'payments', '--warning', 'exclude', '--redis', redis.url]);
    expect(excluded).toMatchObject({ code: 1, json: { answered: false } });
    const bad = await rollcall(['resolve', 'payments', '--warning', 'sometimes', '--redis', redis.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid --warning: expected include, fallback, exclude, got "sometimes"');
  });
});
