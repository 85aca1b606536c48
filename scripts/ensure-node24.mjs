#!/usr/bin/env node
// Node 24 for the suite's second run: the `node` package from the npm registry, installed into
// .tmp/node24 and never as a dev dependency (its bin would come first on every npm script's PATH
// and run the whole project on 24). Fails loudly when it cannot: a missing runtime is never a skip.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const NODE_24_RANGE = '24';

/** The path of a Node 24 executable, installed on first use. */
export function ensureNode24() {
  const prefix = resolve('.tmp/node24');
  const executable = resolve(prefix, 'node_modules/node/bin/node');
  if (!existsSync(executable) || !versionOf(executable).startsWith(`v${NODE_24_RANGE}.`)) {
    console.log(`installing node@${NODE_24_RANGE} from the npm registry into ${prefix} ...`);
    execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', prefix, `node@${NODE_24_RANGE}`], { stdio: 'inherit' });
  }
  const version = versionOf(executable);
  if (!version.startsWith(`v${NODE_24_RANGE}.`)) throw new Error(`${executable} reports ${version}, expected Node ${NODE_24_RANGE}`);
  return executable;
}

function versionOf(executable) {
  try {
    return execFileSync(executable, ['--version']).toString().trim();
  } catch {
    return 'no version (not runnable)';
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(ensureNode24());
