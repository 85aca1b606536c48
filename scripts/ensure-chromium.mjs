#!/usr/bin/env node
// Installs Debian's chromium when missing: the dashboard's browser test (test/cli/dashboard.test.ts)
// drives it headless through playwright-core, which brings no browser of its own. Fails loudly when
// it cannot: a missing browser is never a skip. CHROMIUM_PATH names another chromium to use.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const DEBIAN_CHROMIUM = '/usr/bin/chromium';

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

export function ensureChromium() {
  const chosen = process.env.CHROMIUM_PATH;
  if (chosen) {
    if (existsSync(chosen)) return;
    console.error(`CHROMIUM_PATH names ${chosen}, which does not exist`);
    process.exit(1);
  }
  if (existsSync(DEBIAN_CHROMIUM)) return;
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && !has('sudo')) {
    console.error('chromium is missing and cannot be installed without root: apt-get install chromium');
    process.exit(1);
  }
  const apt = (...args) => (asRoot ? run('apt-get', args) : run('sudo', ['apt-get', ...args]));
  apt('update', '-qq');
  apt('install', '-y', '-qq', '--no-install-recommends', 'chromium');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) ensureChromium();
