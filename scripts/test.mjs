#!/usr/bin/env node
// The README's test command (`npm test`): installs what the suite needs that npm cannot, then
// builds, checks and runs every test.
import { execFileSync, spawnSync } from 'node:child_process';
import { ensureRedis } from './ensure-redis.mjs';

function run(command, args) {
  console.log(`\n$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`\n${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

ensureRedis();
console.log(execFileSync('redis-server', ['--version']).toString().trim());
run('npm', ['run', '-s', 'build']);
run('npm', ['run', '-s', 'typecheck']);
run('npm', ['run', '-s', 'lint']);
run('npx', ['vitest', 'run', ...process.argv.slice(2)]);
