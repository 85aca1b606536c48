/** The command line on the backends added after it: etcd and (read-only) DNS, on real servers. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdBackend } from '../../src/backends/etcd/index.js';
import type { ServiceInstance } from '../../src/index.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { startEtcd, type EtcdMember } from '../helpers/etcd-server.js';
import { FLEET_SERVICES_TABLE, fleetInstance, registerFleet } from './fleet.js';
import { executable, rollcall, rollcallJson, spawnRollcall } from './helpers.js';

let etcd: EtcdMember;
let owner: EtcdBackend;
let dns: DnsServer;

beforeAll(async () => {
  [etcd, dns] = await Promise.all([startEtcd(), startDnsServer()]);
  owner = new EtcdBackend({ endpoints: [etcd.clientUrl], env: {} });
  await registerFleet(owner);
  await dns.setService('orders', [
    { host: '127.0.0.1', port: 3001 },
    { host: '127.0.0.1', port: 3002 },
  ]);
});

afterAll(async () => {
  await owner?.close();
  await etcd?.stop();
  await dns?.stop();
});

describe(`rollcall on etcd (${executable.kind})`, () => {
  it('lists services, instances and health from --etcd or ETCD_ENDPOINTS', async () => {
    const result = await rollcall(['services', '--etcd', etcd.clientUrl]);
    expect(result).toEqual({
      code: 0,
      stdout: FLEET_SERVICES_TABLE,
      stderr: '',
    });
    const status = await rollcallJson<{ unhealthy: string[] }>(['status'], { env: { ETCD_ENDPOINTS: etcd.clientUrl } });
    expect(status).toMatchObject({ code: 1, json: { unhealthy: ['auth_service', 'payments'] } });
  });

  it('watch sees a change within 1 s', async () => {
    const cli = spawnRollcall(['watch', 'orders', '--json', '--etcd', etcd.clientUrl]);
    try {
      await cli.nextLine((line) => line.includes('"snapshot"'));
      const after = cli.lines.length;
      const added = cli.nextLine((line) => line.includes('"added"'), { timeoutMs: 1_000, after });
      await owner.register(fleetInstance('orders', 'orders-7', 3007, 'passing'), { ttlMs: 60_000 });
      expect((JSON.parse(await added) as { instance: ServiceInstance }).instance.id).toBe('orders-7');
      expect(await cli.stop('SIGINT')).toBe(0);
    } finally {
      await cli.stop('SIGKILL');
      await owner.deregister({ service: 'orders', id: 'orders-7' });
    }
  });
});

describe('rollcall on DNS SRV records (read-only)', () => {
  const env = (): Record<string, string> => ({ DNS_NAME_TEMPLATE: dns.template });

  it('reads the instances and the health of named services, which DNS cannot list', async () => {
    const instances = await rollcallJson<{ instances: ServiceInstance[] }>(['instances', 'orders', '--dns', dns.server], { env: env() });
    expect(instances.code).toBe(0);
    expect(instances.json.instances.map((i) => [i.host, i.port, i.status])).toEqual([
      ['127.0.0.1', 3001, 'passing'],
      ['127.0.0.1', 3002, 'passing'],
    ]);
    expect((await rollcall(['status', 'orders', '--dns', dns.server], { env: env() })).code).toBe(0);
    const missing = await rollcallJson<{ unhealthy: string[] }>(['status', 'orders', 'payments'], { env: { ...env(), DNS_SERVERS: dns.server } });
    expect(missing).toMatchObject({ code: 1, json: { unhealthy: ['payments'] } });
    expect(await rollcall(['services', '--dns', dns.server], { env: env() })).toEqual({ code: 0, stdout: `the registry lists no service (dns at ${dns.server})\n`, stderr: '' });
  });

  it('refuses writes and namespaces with the reason', async () => {
    const [id] = (await rollcallJson<{ instances: ServiceInstance[] }>(['instances', 'orders', '--dns', dns.server], { env: env() })).json.instances.map((i) => i.id);
    const refused = await rollcall(['deregister', 'orders', id as string, '--yes', '--dns', dns.server], { env: env() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('the DNS backend is read-only');
    const namespaced = await rollcall(['services', '--dns', dns.server, '--namespace', 'prod'], { env: env() });
    expect(namespaced.code).toBe(2);
    expect(namespaced.stderr).toContain('the dns registry has no namespaces');
  });
});
