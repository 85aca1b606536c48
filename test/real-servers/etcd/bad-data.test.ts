/**
 * What others planted under rollcall's keys in a real etcd is input, not truth: records without a
 * lease, that are not JSON, describe another instance, or sit at keys rollcall never writes are
 * skipped, counted and logged once, by reads and watches alike; the valid instances still come.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EtcdBackend } from '../../../src/backends/etcd/index.js';
import { createInstance, type ServiceInstance } from '../../../src/core/instance.js';
import { etcdctl, startEtcd, type EtcdMember } from '../../helpers/etcd-server.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

let member: EtcdMember;

beforeAll(async () => {
  member = await startEtcd();
});

afterAll(async () => {
  await member?.stop();
});

const instance = (id: string): ServiceInstance => createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080 }, Date.now());

describe('planted etcd data', () => {
  it('skips, counts and logs once what is not a valid leased instance of its key', async () => {
    const ctl = (...args: string[]): string => etcdctl([member.clientUrl], undefined, ...args);
    const logger = recordingLogger();
    const backend = new EtcdBackend({ endpoints: member.clientUrl, namespace: 'planted', env: {}, logger });
    try {
      await backend.register(instance('good'), { ttlMs: 30_000 });
      const lease = /lease ([0-9a-f]+) granted/.exec(ctl('lease', 'grant', '60'))?.[1] as string;
      const root = '/rollcall/planted/orders/instances/';
      ctl('put', `${root}no-lease`, JSON.stringify(instance('no-lease')));
      ctl('put', `${root}not-json`, '{"id": "not-json", \u001b[31m', `--lease=${lease}`);
      ctl('put', `${root}elsewhere`, JSON.stringify(instance('someone-else')), `--lease=${lease}`);
      ctl('put', `${root}bad-port`, JSON.stringify({ ...instance('bad-port'), port: 0 }), `--lease=${lease}`);
      ctl('put', '/rollcall/planted/orders/unknown', 'x', `--lease=${lease}`);

      const listed: string[][] = [];
      const stop = backend.watch('orders', { onChange: (list) => listed.push(list.map((i) => i.id)) });
      expect((await backend.instances('orders')).map((i) => i.id)).toEqual(['good']);
      await expect(backend.services()).resolves.toEqual(['orders']);
      await vi.waitFor(() => expect(listed.at(-1)).toEqual(['good']));
      // A planted overwrite of a valid instance removes it from watchers rather than passing it on.
      ctl('put', `${root}good`, '[]', `--lease=${lease}`);
      await vi.waitFor(() => expect(listed.at(-1)).toEqual([]));
      stop();

      expect(backend.stats().malformedRecords).toBeGreaterThanOrEqual(4 + 1 + 4 + 1);
      const warnings = logger.at('warn').map((line) => line.msg ?? '');
      for (const key of ['no-lease', 'not-json', 'elsewhere', 'bad-port']) expect(warnings.filter((w) => w.includes(`${root}${key}`))).toHaveLength(1);
      expect(warnings.some((w) => w.includes('not attached to a lease'))).toBe(true);
      expect(warnings.join('\n')).not.toContain('\u001b');
    } finally {
      await backend.close();
    }
  });
});
