import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { EtcdBackend } from '../../src/backends/etcd/index.js';
import { describeBackendConformance } from '../../src/testing/index.js';
import { etcdctl, startEtcd, type EtcdMember } from '../helpers/etcd-server.js';

let member: EtcdMember | undefined;

beforeAll(async () => {
  member = await startEtcd();
});

afterAll(async () => {
  await member?.stop();
});

function running(): EtcdMember {
  if (member === undefined) throw new Error('etcd did not start');
  return member;
}

describeBackendConformance('EtcdBackend (etcd-server)', {
  create: ({ namespace }) => new EtcdBackend({ endpoints: running().clientUrl, namespace, env: {} }),
  // What a wiped data dir does to one namespace, without touching the other tests' namespaces:
  // every key gone at once, epochs included.
  loseData: ({ namespace }) => {
    etcdctl([running().clientUrl], undefined, 'del', '--prefix', `/rollcall/${namespace}/`);
    return Promise.resolve();
  },
}, { describe, it, afterEach });
