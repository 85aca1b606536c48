#!/usr/bin/env node
// Installs Debian's redis-server and redis-sentinel when missing (tests and the bench start their
// own servers on free loopback ports). Fails loudly when it cannot: a missing server is never a skip.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { aptInstall, has } from './apt.mjs';

export function ensureRedis() {
  if (has('redis-server') && has('redis-sentinel')) return;
  aptInstall(['redis-server', 'redis-sentinel'], 'redis-server');
  // Debian starts a system redis on 6379; ours run on free ports, so stop it.
  spawnSync('sh', ['-c', 'service redis-server stop || true; service redis-sentinel stop || true'], { stdio: 'ignore' });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) ensureRedis();
