#!/usr/bin/env node
// The README's test command (`npm test`): installs what the suite needs, then builds, checks and
// runs every test. Debian's redis-server and redis-sentinel are installed when missing; in CI a
// server that cannot be installed fails the run, it is never skipped.
import { execFileSync, spawnSync } from 'node:child_process';

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function run(command, args, options = {}) {
  console.log(`\n$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(`\n${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

function ensureRedis() {
  if (has('redis-server') && has('redis-sentinel')) return;
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && !has('sudo')) {
    console.error('redis-server is missing and cannot be installed without root: apt-get install redis-server redis-sentinel');
    process.exit(1);
  }
  const prefix = asRoot ? [] : ['sudo'];
  const apt = (...args) => run(prefix[0] ?? 'apt-get', prefix.length ? ['apt-get', ...args] : args, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  apt('update', '-qq');
  apt('install', '-y', '-qq', '--no-install-recommends', 'redis-server', 'redis-sentinel');
  // Debian starts a system redis on 6379; the tests start their own on free ports.
  spawnSync('sh', ['-c', 'service redis-server stop || true; service redis-sentinel stop || true'], { stdio: 'ignore' });
}

ensureRedis();
console.log(execFileSync('redis-server', ['--version']).toString().trim());
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
run(npm, ['run', '-s', 'build']);
run(npm, ['run', '-s', 'typecheck']);
run(npm, ['run', '-s', 'lint']);
run('npx', ['vitest', 'run', ...process.argv.slice(2)]);
