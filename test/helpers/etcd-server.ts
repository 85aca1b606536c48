/**
 * Real etcd for tests and benchmarks: single members and clusters on free loopback ports, each
 * member with its own data directory, fast elections (50 ms heartbeats, 500 ms election timeout,
 * so a 1 s lease TTL is allowed), and a `stop()` that kills the processes and deletes the
 * directories. A missing `etcd` is an error, never a skip (`npm test` installs Debian's
 * etcd-server when it is missing).
 *
 * Every process started here is also killed when the test process exits, whatever happened.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK, freePort, type TlsFiles } from './redis-server.js';

export interface EtcdMember {
  readonly name: string;
  /** `http(s)://127.0.0.1:<port>`. */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly running: boolean;
  /** SIGKILL, as a crash: the data directory is kept. */
  kill(): Promise<void>;
  /** Starts the member again on the same ports; `wipe` deletes its data directory first (a new, empty cluster). */
  restart(options?: { wipe?: boolean }): Promise<void>;
  /** Kills the process and deletes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Client URLs of every member. */
  readonly endpoints: readonly string[];
  /** The member that is leader now (asked from a running member). */
  leader(): Promise<EtcdMember>;
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  /** Serve clients over TLS with these files; `clientCertAuth` also requires client certificates signed by the CA. */
  tls?: (TlsFiles & { clientCertAuth?: boolean }) | undefined;
}

interface Started {
  readonly children: Set<ChildProcess>;
  readonly directories: Set<string>;
}

const started = (() => {
  const key = Symbol.for('rollcall.test.etcd-server.started');
  const holder = globalThis as { [key]?: Started };
  let registry = holder[key];
  if (registry === undefined) {
    const created: Started = { children: new Set(), directories: new Set() };
    registry = created;
    holder[key] = created;
    process.once('exit', () => {
      for (const child of created.children) child.kill('SIGKILL');
      for (const dir of created.directories) rmSync(dir, { recursive: true, force: true });
    });
  }
  return registry;
})();
const { children, directories } = started;

/** Throws unless `etcd` and `etcdctl` are on PATH. */
export function requireEtcd(): void {
  const missing = ['etcd', 'etcdctl'].filter((binary) => spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) {
    throw new Error(
      `${missing.join(' and ')} not found on PATH. These tests need a real etcd: run \`npm test\` (it installs Debian's etcd-server ` +
        'and etcd-client) or `apt-get install etcd-server etcd-client`.',
    );
  }
}

/** A one-member cluster. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdMember> {
  const cluster = await startEtcdCluster(1, options);
  const member = cluster.members[0] as EtcdMember;
  // Stopping the only member stops the cluster: its directory goes too.
  return Object.assign(Object.create(member) as EtcdMember, { stop: () => cluster.stop() });
}

/**
 * `size` members forming one cluster; resolves once every member serves clients. Starts over on
 * other ports when another process took one between the check and the bind.
 */
export async function startEtcdCluster(size = 3, options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  requireEtcd();
  for (let attempt = 0; ; attempt++) {
    try {
      return await startCluster(size, options);
    } catch (error) {
      if (attempt >= 2 || !(error instanceof Error) || !/address already in use/i.test(error.message)) throw error;
    }
  }
}

async function startCluster(size: number, options: StartEtcdOptions): Promise<EtcdCluster> {
  const root = await mkdtemp(join(tmpdir(), 'rollcall-etcd-'));
  directories.add(root);
  const scheme = options.tls === undefined ? 'http' : 'https';
  const token = `rollcall-${process.pid}-${Date.now()}`;
  const specs: { name: string; client: number; peer: number }[] = [];
  const taken = new Set<number>();
  const distinctPort = async (): Promise<number> => {
    // Two calls may be handed the same ephemeral port: every member needs its own two.
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  for (let i = 0; i < size; i++) specs.push({ name: `m${i}`, client: await distinctPort(), peer: await distinctPort() });
  const initialCluster = specs.map((spec) => `${spec.name}=http://${LOOPBACK}:${spec.peer}`).join(',');

  const members = specs.map((spec) => {
    const dataDir = join(root, spec.name);
    const clientUrl = `${scheme}://${LOOPBACK}:${spec.client}`;
    const peerUrl = `http://${LOOPBACK}:${spec.peer}`;
    const args = [
      '--name', spec.name,
      '--data-dir', dataDir,
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
    ];
    if (options.tls !== undefined) {
      args.push('--cert-file', options.tls.cert, '--key-file', options.tls.key, '--trusted-ca-file', options.tls.ca);
      if (options.tls.clientCertAuth === true) args.push('--client-cert-auth');
    }
    let child: ChildProcess | undefined;
    let stopped = false;
    const member: EtcdMember & { start(): Promise<void> } = {
      name: spec.name,
      clientUrl,
      peerUrl,
      dataDir,
      get running() {
        return child !== undefined && child.exitCode === null && child.signalCode === null;
      },
      start: async () => {
        child = await spawnMember(args);
      },
      kill: async () => {
        if (child !== undefined) await killProcess(child);
        child = undefined;
      },
      restart: async ({ wipe = false } = {}) => {
        if (stopped) throw new Error('the member was stopped');
        if (child !== undefined) await killProcess(child);
        if (wipe) await rm(dataDir, { recursive: true, force: true });
        child = await spawnMember(args);
      },
      stop: async () => {
        stopped = true;
        if (child !== undefined) await killProcess(child);
        child = undefined;
      },
    };
    return member;
  });

  const stop = async (): Promise<void> => {
    await Promise.all(members.map((member) => member.stop()));
    directories.delete(root);
    await rm(root, { recursive: true, force: true });
  };
  try {
    // Members of a new cluster wait for each other: they start together.
    await Promise.all(members.map((member) => member.start()));
  } catch (error) {
    await stop();
    throw error;
  }
  const endpoints = members.map((member) => member.clientUrl);
  return {
    members,
    endpoints,
    leader: () => {
      const running = members.filter((member) => member.running);
      const status = JSON.parse(etcdctl(running.map((member) => member.clientUrl), options.tls, 'endpoint', 'status', '-w', 'json')) as {
        Endpoint: string;
        Status: { leader: number | string; header: { member_id: number | string } };
      }[];
      const leaderEntry = status.find((entry) => String(entry.Status.leader) === String(entry.Status.header.member_id));
      const leader = members.find((member) => member.clientUrl === leaderEntry?.Endpoint);
      if (leader === undefined) return Promise.reject(new Error('no member is leader'));
      return Promise.resolve(leader);
    },
    stop,
  };
}

/** Runs etcdctl against `endpoints` and returns its standard output; throws with its error output when it fails. */
export function etcdctl(endpoints: readonly string[], tls: TlsFiles | undefined, ...args: string[]): string {
  const flags = [`--endpoints=${endpoints.join(',')}`, '--dial-timeout=2s', '--command-timeout=5s'];
  if (tls !== undefined) flags.push(`--cacert=${tls.ca}`, `--cert=${tls.cert}`, `--key=${tls.key}`);
  const result = spawnSync('etcdctl', [...flags, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
  if (result.status !== 0) throw new Error(`etcdctl ${args.join(' ')} failed: ${result.stderr || result.error?.message || ''}`);
  return result.stdout;
}

/** Spawns etcd and resolves once it logs that it serves clients. */
function spawnMember(args: readonly string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) resolve(child);
      else {
        child.kill('SIGKILL');
        reject(error);
      }
    };
    const timer = setTimeout(() => finish(new Error(`etcd did not start within 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      // Keep what is needed to explain a failure, not the whole log.
      output = (output + chunk.toString()).slice(-4_000);
      if (/serving client traffic/.test(output)) finish();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) => finish(new Error(`could not start etcd: ${error.message}`)));
    child.once('exit', (code, signal) => {
      children.delete(child);
      finish(new Error(`etcd exited (${code ?? signal}) before serving clients:\n${output}`));
    });
  });
}

function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    child.once('exit', () => {
      children.delete(child);
      resolve();
    });
    child.kill('SIGKILL');
  });
}

/** A TCP relay in front of a server, whose connections a test can cut and hold off. */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>` of the relay. */
  readonly url: string;
  /** Closes every relayed connection and refuses new ones until {@link release}. */
  cut(): void;
  /** Accepts and relays connections again. */
  release(): void;
  stop(): Promise<void>;
}

/** Starts a relay on a free loopback port to `target` (`http://host:port`). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let holding = false;
  const server = createServer((client) => {
    if (holding) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${LOOPBACK}:${address.port}`,
    cut: () => {
      holding = true;
      for (const socket of sockets) socket.destroy();
    },
    release: () => {
      holding = false;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
