#!/usr/bin/env node
// Installs Debian's knot (Knot DNS: knotd and knotc) when missing: the DNS tests start their own
// authoritative server on a free loopback port. Fails loudly when it cannot: a missing server is
// never a skip.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { aptInstall, has } from './apt.mjs';

export function ensureDns() {
  if (has('knotd') && has('knotc')) return;
  aptInstall(['knot'], 'knotd');
  // Debian may start a system knotd on port 53; ours run on free ports, so stop it.
  spawnSync('sh', ['-c', 'service knot stop || true'], { stdio: 'ignore' });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) ensureDns();
