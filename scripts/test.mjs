#!/usr/bin/env node
// The README's test command (`npm test`): installs what the suite needs that npm cannot, then
// builds, checks and runs every test, on the Node running this script (20) and again on Node 24.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';
import { ensureChromium } from './ensure-chromium.mjs';
import { ensureDns } from './ensure-dns.mjs';
import { ensureEtcd } from './ensure-etcd.mjs';
import { ensureNode24 } from './ensure-node24.mjs';
import { ensureRedis } from './ensure-redis.mjs';

function run(command, args, { exitOnFailure = true, env = process.env } = {}) {
  console.log(`\n$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env });
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
const node24 = ensureNode24();

/** Runs the whole suite on `node`; prints one plain closing line so whoever reads the log counts tests as we do. */
function vitest(node, label) {
  const version = execFileSync(node, ['--version']).toString().trim();
  const report = `.tmp/vitest-report-${label}.json`;
  // First on PATH too, so that what the tests start (the packed package's install, the CLI) runs on it.
  const env = { ...process.env, PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}` };
  const status = run(node, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], {
    exitOnFailure: false,
    env,
  });
  try {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = JSON.parse(readFileSync(report, 'utf8'));
    console.log(`\ntests on Node ${version}: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped`);
  } catch (error) {
    console.error(`could not read the vitest report: ${error.message}`);
  }
  return status;
}

const statuses = [vitest(process.execPath, 'node20'), vitest(node24, 'node24')];
process.exit(statuses.find((status) => status !== 0) ?? 0);
