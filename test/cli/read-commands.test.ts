import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { ConsulBackend } from '../../src/backends/consul/index.js';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { ConsulDouble } from '../helpers/consul-double/index.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { FLEET_SERVICES_TABLE, registerFleet } from './fleet.js';
import { executable, rollcall, rollcallJson } from './helpers.js';

let redis: RedisServer;
let owner: RedisBackend;
let consul: ConsulDouble;
let consulOwner: ConsulBackend;

beforeAll(async () => {
  redis = await startRedis();
  owner = new RedisBackend({ url: redis.url });
  await registerFleet(owner);
  consul = await ConsulDouble.start();
  consulOwner = new ConsulBackend({ address: consul.url, env: {} });
  await registerFleet(consulOwner);
});

afterAll(async () => {
  await owner?.close();
  await consulOwner?.close();
  await consul?.close();
  await redis?.stop();
});

describe(`rollcall read commands on real Redis (${executable.kind})`, () => {
  it('services lists every service with its health and instance counts', async () => {
    const result = await rollcall(['services', '--redis', redis.url]);
    expect(result).toEqual({
      code: 0,
      stdout: FLEET_SERVICES_TABLE,
      stderr: '',
    });
  });

  it('services --json gives each service its health and counts per status', async () => {
    const { code, json } = await rollcallJson(['services', '--redis', redis.url]);
    expect(code).toBe(0);
    expect(json).toEqual({
      backend: 'redis',
      readAt: expect.any(Number) as number,
      services: [
        { service: 'auth_service', health: 'critical', instances: 1, counts: { passing: 0, warning: 0, critical: 1, draining: 0 } },
        { service: 'orders', health: 'passing', instances: 3, counts: { passing: 2, warning: 0, critical: 1, draining: 0 } },
        { service: 'payments', health: 'warning', instances: 1, counts: { passing: 0, warning: 1, critical: 0, draining: 0 } },
      ],
    });
  });

  it('instances shows each instance with address, status, zone, version, age and last heartbeat', async () => {
    const { code, stdout, stderr } = await rollcall(['instances', 'orders', '--redis', redis.url]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^ID +ADDRESS +STATUS +ZONE +VERSION +AGE +LAST HEARTBEAT$/);
    expect(lines.slice(1, 4).map((line) => line.split(/ {2,}/))).toEqual([
      ['orders-1', 'http://127.0.0.1:3001', 'passing', 'eu-west-1a', '1.4.2', '3h', expect.stringMatching(/^\d+s ago$/)],
      ['orders-2', 'http://127.0.0.1:3002', 'passing', 'eu-west-1b', '1.4.2', '3h', expect.stringMatching(/^\d+s ago$/)],
      ['orders-3', 'http://127.0.0.1:3003', 'critical', 'eu-west-1a', '1.5.0-rc.1', '3h', expect.stringMatching(/^\d+s ago$/)],
    ]);
    expect(lines.slice(4)).toEqual(['', 'orders: 3 instances, 2 passing, 1 critical', '']);
  });

  it('instances --json carries every field and when each instance last renewed its lease', async () => {
    const renewedFrom = Date.now();
    await owner.renew({ service: 'payments', id: 'pay-1' }, 'warning');
    const { code, json } = await rollcallJson<{ instances: Array<Record<string, unknown>> }>(['instances', 'payments', '--redis', redis.url]);
    expect(code).toBe(0);
    expect(json).toEqual({
      service: 'payments',
      readAt: expect.any(Number) as number,
      counts: { passing: 0, warning: 1, critical: 0, draining: 0 },
      instances: [expect.objectContaining({ id: 'pay-1', service: 'payments', host: '127.0.0.1', port: 4001, protocol: 'http', status: 'warning', tags: [], meta: {}, weight: 1 })],
    });
    const lastHeartbeatAt = json.instances[0]?.['lastHeartbeatAt'] as number;
    // Converted through the server's clock, so it may be off by the conversion's rounding, never by more.
    expect(lastHeartbeatAt).toBeGreaterThanOrEqual(renewedFrom - 50);
    expect(lastHeartbeatAt).toBeLessThanOrEqual(Date.now() + 50);
  });

  it('status exits 1 and names the services without a passing instance', async () => {
    const { code, stdout } = await rollcall(['status', '--redis', redis.url]);
    expect(code).toBe(1);
    expect(stdout).toBe(
      [
        'SERVICE       HEALTH    PASSING  WARNING  CRITICAL  DRAINING',
        'auth_service  critical        0        0         1         0',
        'orders        passing         2        0         1         0',
        'payments      warning         0        1         0         0',
        '',
        '3 services: 1 passing, 1 warning, 1 critical; 2 services without a passing instance: auth_service, payments',
        '',
      ].join('\n'),
    );
  });

  it('status of named services exits 0 when they all pass, 1 when one is not listed at all', async () => {
    expect((await rollcall(['status', 'orders', '--redis', redis.url])).code).toBe(0);
    const { code, json } = await rollcallJson(['status', 'orders', 'nobody', '--redis', redis.url]);
    expect(code).toBe(1);
    expect(json).toEqual({
      backend: 'redis',
      readAt: expect.any(Number) as number,
      healthy: false,
      unhealthy: ['nobody'],
      healthCounts: { passing: 1, warning: 0, critical: 0, 'no-instances': 1, unknown: 0 },
      services: [
        { service: 'nobody', health: 'no-instances', counts: { passing: 0, warning: 0, critical: 0, draining: 0 } },
        { service: 'orders', health: 'passing', counts: { passing: 2, warning: 0, critical: 1, draining: 0 } },
      ],
    });
  });

  it('reads REDIS_URL and the namespace from --namespace or ROLLCALL_NAMESPACE', async () => {
    const staging = new RedisBackend({ url: redis.url, namespace: 'staging' });
    try {
      await staging.register((await import('./fleet.js')).fleetInstance('billing', 'bill-1', 6001, 'passing'), { ttlMs: 60_000 });
      const names = async (args: string[], env: Record<string, string>): Promise<unknown> =>
        (await rollcallJson<{ services: { service: string }[] }>(['services', ...args], { env })).json.services.map((s) => s.service);
      expect(await names([], { REDIS_URL: redis.url })).toEqual(['auth_service', 'orders', 'payments']);
      expect(await names(['--namespace', 'staging'], { REDIS_URL: redis.url })).toEqual(['billing']);
      expect(await names([], { REDIS_URL: redis.url, ROLLCALL_NAMESPACE: 'staging' })).toEqual(['billing']);
    } finally {
      await staging.close();
    }
  });

  it('colours only on request when the output is not a terminal', async () => {
    const plain = await rollcall(['status', '--redis', redis.url]);
    const coloured = await rollcall(['status', '--redis', redis.url, '--color']);
    expect(plain.stdout).not.toContain('\u001b[');
    expect(coloured.stdout).toContain('\u001b[31m\u001b[1mcritical');
    expect(stripVTControlCharacters(coloured.stdout)).toBe(plain.stdout);
  });
});

describe('rollcall read commands on Consul (the double)', () => {
  it('reads CONSUL_HTTP_ADDR and shows no heartbeat, which Consul does not record', async () => {
    const env = { CONSUL_HTTP_ADDR: consul.url };
    const services = await rollcallJson<{ services: { service: string; health: string }[] }>(['services'], { env });
    expect(services.json.services.map((s) => [s.service, s.health])).toEqual([
      ['auth_service', 'critical'],
      ['consul', 'passing'],
      ['orders', 'passing'],
      ['payments', 'warning'],
    ]);
    const { code, stdout } = await rollcall(['instances', 'orders'], { env });
    expect(code).toBe(0);
    expect(stdout.split('\n').slice(1, 4).map((line) => line.split(/ {2,}/))).toEqual([
      ['orders-1', 'http://127.0.0.1:3001', 'passing', 'eu-west-1a', '1.4.2', '3h', '-'],
      ['orders-2', 'http://127.0.0.1:3002', 'passing', 'eu-west-1b', '1.4.2', '3h', '-'],
      ['orders-3', 'http://127.0.0.1:3003', 'critical', 'eu-west-1a', '1.5.0-rc.1', '3h', '-'],
    ]);
    const json = await rollcallJson<{ instances: { lastHeartbeatAt: unknown }[] }>(['instances', 'orders'], { env });
    expect(json.json.instances.map((i) => i.lastHeartbeatAt)).toEqual([null, null, null]);
    expect((await rollcall(['status', '--consul', consul.url])).code).toBe(1);
  });

  it('sends CONSUL_HTTP_TOKEN, and exits 4 when Consul refuses it', async () => {
    const token = 'operator-read-token';
    const guarded = await ConsulDouble.start({
      acl: { defaultPolicy: 'deny', tokens: { [token]: { accessorId: 'acc-operator', policy: { servicePrefix: { '': 'read' }, nodePrefix: { '': 'read' } } } } },
    });
    try {
      const allowed = await rollcallJson<{ services: unknown[] }>(['services', '--consul', guarded.url], { env: { CONSUL_HTTP_TOKEN: token } });
      expect(allowed.code).toBe(0);
      expect(guarded.requests.every((request) => request.headers['x-consul-token'] === token)).toBe(true);
      const refused = await rollcall(['services', '--consul', guarded.url], { env: { CONSUL_HTTP_TOKEN: 'not-the-token' } });
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/rollcall: error: consul registry: services was refused: .*ACL not found/);
      expect(refused.stderr).not.toContain('not-the-token');
      expect(refused.stderr).toContain(`rollcall: registry: consul at ${guarded.url}`);
    } finally {
      await guarded.close();
    }
  });
});

describe('rollcall errors and exit codes', () => {
  it('exits 3 when the registry cannot be reached, and says which registry', async () => {
    const closedPort = await freePort();
    const fromRedis = await rollcall(['services', '--redis', `redis://127.0.0.1:${closedPort}`, '--timeout', '500']);
    expect(fromRedis.code).toBe(3);
    expect(fromRedis.stdout).toBe('');
    expect(fromRedis.stderr).toMatch(/rollcall: error: redis registry: services failed: .*ECONNREFUSED/);
    expect(fromRedis.stderr).toContain(`rollcall: registry: redis at redis://127.0.0.1:${closedPort}\n`);
    const consulRun = await rollcall(['status', '--json'], { env: { CONSUL_HTTP_ADDR: `127.0.0.1:${closedPort}` } });
    expect(consulRun.code).toBe(3);
    expect(JSON.parse(consulRun.stderr)).toEqual({
      error: {
        code: 'REGISTRY_UNAVAILABLE',
        exitCode: 3,
        message: expect.stringContaining('consul registry') as string,
        registry: `consul at 127.0.0.1:${closedPort} from $CONSUL_HTTP_ADDR`,
      },
    });
  });

  it('exits 4 when Redis refuses the credentials, without showing them', async () => {
    const guarded = await startRedis({ password: 'right-password' });
    try {
      const refused = await rollcall(['services', '--redis', `redis://:wrong-password@127.0.0.1:${guarded.port}`]);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/WRONGPASS|invalid password/i);
      expect(refused.stderr).not.toContain('wrong-password');
      expect(refused.stderr).toContain(`redis at redis://***@127.0.0.1:${guarded.port}`);
      const allowed = await rollcall(['services', '--redis', `redis://:right-password@127.0.0.1:${guarded.port}`]);
      expect(allowed).toEqual({ code: 0, stdout: `the registry lists no service (redis at redis://***@127.0.0.1:${guarded.port})\n`, stderr: '' });
    } finally {
      await guarded.stop();
    }
  });

  it('exits 5 for a service the registry does not list', async () => {
    const result = await rollcall(['instances', 'nobody', '--redis', redis.url]);
    expect(result).toEqual({ code: 5, stdout: '', stderr: `rollcall: error: the registry lists no instance of nobody (redis at ${redis.url}); see rollcall services\n` });
  });

  it.each([
    [['services'], 'no registry given: pass --redis URL or --consul ADDR or --etcd ENDPOINTS or --dns SERVERS, or set REDIS_URL or CONSUL_HTTP_ADDR or ETCD_ENDPOINTS or DNS_SERVERS'],
    [['services', '--redis', 'redis://a', '--consul', 'b:8500'], 'give one registry, not --redis and --consul'],
    [['teleport', '--redis', 'redis://a'], 'unknown command "teleport"; commands: services, instances, status'],
    [['instances', '--redis', 'redis://a'], 'usage: rollcall instances <service> (see rollcall help instances)'],
    [['instances', 'a', 'b', '--redis', 'redis://a'], 'usage: rollcall instances <service>'],
    [['instances', 'orders/1', '--redis', 'redis://a'], 'character "/" (U+002F) at position 7 is not allowed'],
    [['status', '--redis', 'redis://a', '--timeout', 'soon'], 'Invalid --timeout: expected a whole number of milliseconds from 100 to 60000, got "soon"'],
    [['status', '--redis', 'redis://a', '--frobnicate'], "Unknown option '--frobnicate'"],
    [['status', '--redis', 'redis://a', '--yes'], 'status does not take --yes (only deregister)'],
  ])('exits 2 for a usage mistake: %j', async (args, message) => {
    const result = await rollcall(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
  });

  it('prints help with every command and exit code, and the version', async () => {
    const help = await rollcall(['--help']);
    expect(help.code).toBe(0);
    for (const text of ['services', 'instances <service>', 'status [service...]', '--redis URL', '--consul ADDR', 'Exit codes:', '70  unexpected failure']) {
      expect(help.stdout).toContain(text);
    }
    expect((await rollcall([])).code).toBe(2);
    expect((await rollcall(['help', 'status'])).stdout).toContain('Usage: rollcall status [service...] [options]');
    expect(await rollcall(['--version'])).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: '' });
  });
});

describe('rollcall without the optional ioredis package', () => {
  // A resolve hook that makes `ioredis` unresolvable, as in a project that did not install the peer.
  const hook = `export async function resolve(specifier, context, next) {
    if (specifier !== 'ioredis') return next(specifier, context);
    throw Object.assign(new Error("Cannot find package 'ioredis' imported from " + context.parentURL), { code: 'ERR_MODULE_NOT_FOUND' });
  }`;
  const loader = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  const withoutIoredis = { nodeOptions: ['--import', `data:text/javascript,${encodeURIComponent(loader)}`] };

  it('reads Consul, and asks for ioredis only when Redis is chosen', async () => {
    const fromConsul = await rollcall(['status', 'orders', '--consul', consul.url], withoutIoredis);
    expect(fromConsul.code).toBe(0);
    const fromRedis = await rollcall(['services', '--redis', redis.url], withoutIoredis);
    expect(fromRedis).toEqual({ code: 2, stdout: '', stderr: 'rollcall: error: the redis registry needs the ioredis package: npm install ioredis\n' });
  });
});
