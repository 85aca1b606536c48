#!/usr/bin/env node
// Installs Debian's chromium when missing: the dashboard's browser test (test/cli/dashboard.test.ts)
// drives it headless through playwright-core, which brings no browser of its own. Fails loudly when
// it cannot: a missing browser is never a skip. CHROMIUM_PATH names another chromium to use.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { aptInstall } from './apt.mjs';

export function ensureChromium() {
  const chosen = process.env.CHROMIUM_PATH;
  if (chosen) {
    if (existsSync(chosen)) return;
    console.error(`CHROMIUM_PATH names ${chosen}, which does not exist`);
    process.exit(1);
  }
  if (!existsSync('/usr/bin/chromium')) aptInstall(['chromium'], 'chromium');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) ensureChromium();
