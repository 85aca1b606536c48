#!/usr/bin/env node
// Installs Debian's etcd-server (and etcd-client for etcdctl) when missing: tests and the bench
// start their own etcd members on free loopback ports. Fails loudly when it cannot: a missing
// server is never a skip.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { aptInstall, has } from './apt.mjs';

export function ensureEtcd() {
  if (has('etcd') && has('etcdctl')) return;
  aptInstall(['etcd-server', 'etcd-client'], 'etcd');
  // Debian starts a system etcd on 2379; ours run on free ports, so stop it.
  spawnSync('sh', ['-c', 'service etcd stop || true'], { stdio: 'ignore' });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) ensureEtcd();
