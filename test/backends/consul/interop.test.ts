/**
 * rollcall and the widely used `consul` npm client (silas/node-consul) against the same double:
 * what one registers the other reads, check updates and maintenance made by one are what the
 * other sees, and neither sends a field Consul would silently drop.
 */
import Consul from 'consul';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ServiceInstance } from '../../../src/core/instance.js';
import { instance, useConsulHarness } from '../../helpers/consul-double/harness.js';

const start = useConsulHarness();
const clients: Consul[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

interface ClientEntry {
  Service: { ID: string; Address: string; Port: number; Tags: string[]; Meta: Record<string, string> };
  Checks: { CheckID: string; Status: string }[];
}

function consulClient(url: string): Consul {
  const { hostname, port } = new URL(url);
  const client = new Consul({ host: hostname, port: Number(port) });
  clients.push(client);
  return client;
}

/** What the npm client sees: id, address, port and the worst check status. */
function seenByClient(entries: ClientEntry[]): [string, string, number, string][] {
  const worst = (checks: ClientEntry['Checks']): string =>
    checks.some((c) => c.Status === 'critical') ? 'critical' : checks.some((c) => c.Status === 'warning') ? 'warning' : 'passing';
  return entries.map((e): [string, string, number, string] => [e.Service.ID, e.Service.Address, e.Service.Port, worst(e.Checks)]).sort();
}

function seenByRollcall(instances: ServiceInstance[]): [string, string, number, string][] {
  return instances.map((i): [string, string, number, string] => [`orders:${i.id}`, i.host, i.port, i.status === 'draining' ? 'critical' : i.status]).sort();
}

describe('interop with the consul npm client', () => {
  it('reads what the other registered, and agrees on every change', async () => {
    const { double, backend } = await start();
    const client = consulClient(double.url);
    const rollcall = backend();
    const ours = instance({ id: 'ours', host: '10.0.0.1', port: 8080 });
    await rollcall.register(ours, { ttlMs: 15_000 });
    // `orders:theirs` follows rollcall's id scheme, so rollcall can renew and deregister it too.
    await client.agent.service.register({
      name: 'orders',
      id: 'orders:theirs',
      address: '10.0.0.2',
      port: 9090,
      tags: ['npm'],
      meta: { owner: 'node-consul' },
      // The client's types ask for a timeout; it only sends it for interval checks.
      check: { name: 'node-consul heartbeat', ttl: '15s', timeout: '1s', status: 'passing', deregistercriticalserviceafter: '1m' },
    });
    const agree = async (): Promise<void> => {
      const theirs = seenByClient((await client.health.service({ service: 'orders' })) as ClientEntry[]);
      expect(seenByRollcall(await rollcall.instances('orders'))).toEqual(theirs);
    };
    await agree();
    expect((await rollcall.instances('orders')).find((i) => i.id === 'theirs')).toMatchObject({ tags: ['npm'], meta: { owner: 'node-consul' }, protocol: 'http' });
    expect(Object.keys((await client.catalog.service.list()) as object)).toEqual(await rollcall.services());

    await client.agent.check.fail({ id: 'service:orders:theirs', note: 'down' });
    await rollcall.renew(ours, 'warning');
    await agree();
    expect((await rollcall.instances('orders')).map((i) => i.status).sort()).toEqual(['critical', 'warning']);

    await client.agent.service.maintenance({ id: 'orders:ours', enable: true, reason: 'operator' });
    await client.agent.check.pass('service:orders:theirs');
    await agree();
    expect((await rollcall.instances('orders')).map((i) => [i.id, i.status])).toEqual([
      ['ours', 'draining'],
      ['theirs', 'passing'],
    ]);
    const passing = (await client.health.service({ service: 'orders', passing: true })) as ClientEntry[];
    expect(passing.map((e) => e.Service.ID)).toEqual(['orders:theirs']);

    await rollcall.deregister({ service: 'orders', id: 'theirs' });
    await client.agent.service.deregister('orders:ours');
    await agree();
    await expect(rollcall.instances('orders')).resolves.toEqual([]);
    // Neither client sent anything Consul would have ignored.
    expect(double.ignoredFields).toEqual([]);
  });

  it('pushes registrations made by the npm client to a rollcall watch', async () => {
    const { double, backend } = await start();
    const client = consulClient(double.url);
    const lists: string[][] = [];
    backend().watch('orders', { onChange: (list) => lists.push(list.map((i) => i.id)) });
    await vi.waitFor(() => expect(lists).toEqual([[]]));
    await client.agent.service.register({ name: 'orders', id: 'orders-npm', port: 7000, check: { name: 'heartbeat', ttl: '15s', timeout: '1s', status: 'passing' } });
    await vi.waitFor(() => expect(lists.at(-1)).toEqual(['orders-npm']));
    await client.agent.service.deregister('orders-npm');
    await vi.waitFor(() => expect(lists.at(-1)).toEqual([]));
  });
});
