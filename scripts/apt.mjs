// Shared by the ensure-* scripts: installs Debian packages, running `apt-get update` once per
// process, as root or through sudo. Exits with a clear message when it cannot.
import { spawnSync } from 'node:child_process';

let updated = false;

export function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function run(command, args) {
  console.log(`\n$ ${[command, ...args].join(' ')}`);
  // RUNLEVEL=1 and policy-rc.d are not portable; services started by a postinst are stopped by the caller.
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.status !== 0) {
    console.error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

/** Installs `packages` (without recommends); `what` names them in the message when that is impossible. */
export function aptInstall(packages, what) {
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && !has('sudo')) {
    console.error(`${what} is missing and cannot be installed without root: apt-get install ${packages.join(' ')}`);
    process.exit(1);
  }
  const apt = (...args) => (asRoot ? run('apt-get', args) : run('sudo', ['apt-get', ...args]));
  if (!updated) {
    apt('update', '-qq');
    updated = true;
  }
  apt('install', '-y', '-qq', '--no-install-recommends', ...packages);
}
