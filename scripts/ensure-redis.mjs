#!/usr/bin/env node
// Installs Debian's redis-server and redis-sentinel when missing (tests and the bench start their
// own servers on free loopback ports). Fails loudly when it cannot: a missing server is never a skip.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function run(command, args) {
  console.log(`\n$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.status !== 0) {
    console.error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

export function ensureRedis() {
  if (has('redis-server') && has('redis-sentinel')) return;
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && !has('sudo')) {
    console.error('redis-server is missing and cannot be installed without root: apt-get install redis-server redis-sentinel');
    process.exit(1);
  }
  const apt = (...args) => (asRoot ? run('apt-get', args) : run('sudo', ['apt-get', ...args]));
  apt('update', '-qq');
  apt('install', '-y', '-qq', '--no-install-recommends', 'redis-server', 'redis-sentinel');
  // Debian starts a system redis on 6379; ours run on free ports, so stop it.
  spawnSync('sh', ['-c', 'service redis-server stop || true; service redis-sentinel stop || true'], { stdio: 'ignore' });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) ensureRedis();
