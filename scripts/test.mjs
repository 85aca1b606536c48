#!/usr/bin/env node
// The README's test command (`npm test`): installs what the suite needs that npm cannot, then
// builds, checks and runs every test.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { ensureChromium } from './ensure-chromium.mjs';
import { ensureDns } from './ensure-dns.mjs';
import { ensureEtcd } from './ensure-etcd.mjs';
import { ensureRedis } from './ensure-redis.mjs';

function run(command, args, { exitOnFailure = true } = {}) {
  console.log(`\n$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0 && exitOnFailure) {
    console.error(`\n${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
  return result.status ?? 1;
}

ensureRedis();
ensureEtcd();
ensureDns();
ensureChromium();
console.log(execFileSync('redis-server', ['--version']).toString().trim());
console.log(execFileSync('etcd', ['--version']).toString().split('\n')[0]);
run('npm', ['run', '-s', 'build']);
run('npm', ['run', '-s', 'typecheck']);
run('npm', ['run', '-s', 'lint']);
mkdirSync('.tmp', { recursive: true });
const report = '.tmp/vitest-report.json';
const status = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  exitOnFailure: false,
});
// One plain closing line, so that whoever reads the log counts the tests the same way we do.
try {
  const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = JSON.parse(readFileSync(report, 'utf8'));
  console.log(`\ntests: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped`);
} catch (error) {
  console.error(`could not read the vitest report: ${error.message}`);
}
process.exit(status);
