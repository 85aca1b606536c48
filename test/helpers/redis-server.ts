/**
 * Real Redis for tests and benchmarks: standalone servers, a Sentinel group and a Cluster, each on
 * free loopback ports with its own temporary directory, no persistence, and a `stop()` that kills
 * the processes and deletes the directories. A missing `redis-server` is an error, never a skip
 * (`npm test` installs Debian's package when it is missing).
 *
 * Every process started here is also killed when the test process exits, whatever happened.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const LOOPBACK = '127.0.0.1';

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** One redis-server (or redis-sentinel) process. */
export interface RedisServer extends RedisAddress {
  /** `redis://127.0.0.1:<port>` (`rediss://` with TLS), without credentials. */
  readonly url: string;
  readonly dir: string;
  /** Whether the process is running. */
  readonly running: boolean;
  /** SIGKILL, as a crash: the server loses everything (there is no persistence). */
  kill(): Promise<void>;
  /** Starts the server again on the same port, empty. */
  restart(): Promise<void>;
  /** Kills the process and deletes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** `requirepass`: clients must authenticate as `default` with it. */
  password?: string | undefined;
  /** ACL users: `user <name> on ><password> ~* &* +@all` each. */
  users?: readonly { name: string; password: string }[] | undefined;
  /** Serve TLS only, with these files (see {@link createTlsFiles}); the port is the TLS port. */
  tls?: TlsFiles | undefined;
  /** Extra `--option value...` arguments, one token per argument (redis-server quotes each whole). */
  args?: readonly string[] | undefined;
  /** Port to use. @default a free loopback port */
  port?: number | undefined;
  /** Run `redis-sentinel` with this configuration text instead of redis-server. */
  sentinelConfig?: string | undefined;
  /** Ports `port + 10000` must be free too (Cluster bus). */
  clusterBus?: boolean | undefined;
}

export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

interface Started {
  readonly children: Set<ChildProcess>;
  readonly directories: Set<string>;
}

// One registry and one exit hook per process, however many test files load this module: a test
// runner that reuses its workers re-evaluates modules per file.
const started = (() => {
  const key = Symbol.for('rollcall.test.redis-server.started');
  const holder = globalThis as { [key]?: Started };
  let registry = holder[key];
  if (registry === undefined) {
    const created: Started = { children: new Set(), directories: new Set() };
    registry = created;
    holder[key] = created;
    // The safety net behind every stop(): nothing started here outlives the test process.
    process.once('exit', () => {
      for (const child of created.children) child.kill('SIGKILL');
      for (const dir of created.directories) rmSync(dir, { recursive: true, force: true });
    });
  }
  return registry;
})();
const { children, directories } = started;

/** Throws unless `redis-server` (and `redis-sentinel`, when asked) are on PATH. */
export function requireRedis(options: { sentinel?: boolean } = {}): void {
  const missing = ['redis-server', ...(options.sentinel === true ? ['redis-sentinel'] : [])].filter(
    (binary) => spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status !== 0,
  );
  if (missing.length > 0) {
    throw new Error(
      `${missing.join(' and ')} not found on PATH. These tests need a real Redis: run \`npm test\` (it installs Debian's ` +
        'redis-server and redis-sentinel) or `apt-get install redis-server redis-sentinel`.',
    );
  }
}

/** A port nobody listens on right now (and, with `bus`, port + 10000 too). */
export async function freePort(options: { bus?: boolean } = {}): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = options.bus === true ? 20_000 + Math.floor(Math.random() * 20_000) : 0;
    const bound = await bindable(port);
    if (bound === undefined) continue;
    if (options.bus === true && (await bindable(bound + 10_000)) === undefined) continue;
    return bound;
  }
  throw new Error('no free loopback port found');
}

function bindable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, LOOPBACK, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : undefined));
    });
  });
}

/** Starts redis-server (or redis-sentinel) on loopback, without persistence, and waits until it accepts connections. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  requireRedis({ sentinel: options.sentinelConfig !== undefined });
  const dir = await mkdtemp(join(tmpdir(), 'rollcall-redis-'));
  directories.add(dir);
  let port = options.port ?? (await freePort({ bus: options.clusterBus === true }));
  let child: ChildProcess | undefined;
  let stopped = false;

  const launch = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        child = await spawnServer(serverCommand(options, dir, port));
        return;
      } catch (error) {
        // Another process took the port between our check and the bind: try another one.
        const portTaken = error instanceof Error && /Address already in use/.test(error.message);
        if (!portTaken || options.port !== undefined || attempt >= 3) throw error;
        port = await freePort({ bus: options.clusterBus === true });
      }
    }
  };

  try {
    await launch();
  } catch (error) {
    directories.delete(dir);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const server: RedisServer = {
    host: LOOPBACK,
    get port() {
      return port;
    },
    get url() {
      return `${options.tls === undefined ? 'redis' : 'rediss'}://${LOOPBACK}:${port}`;
    },
    dir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    kill: async () => {
      if (child !== undefined) await killProcess(child);
      child = undefined;
    },
    restart: async () => {
      if (stopped) throw new Error('the server was stopped');
      if (child !== undefined) await killProcess(child);
      child = await spawnServer(serverCommand({ ...options, port }, dir, port));
    },
    stop: async () => {
      stopped = true;
      if (child !== undefined) await killProcess(child);
      child = undefined;
      directories.delete(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

interface ServerCommand {
  readonly binary: string;
  readonly args: string[];
  readonly cwd: string;
}

function serverCommand(options: StartRedisOptions, dir: string, port: number): ServerCommand {
  if (options.sentinelConfig !== undefined) {
    const file = join(dir, 'sentinel.conf');
    // Sentinel rewrites its configuration file, so each start begins from the original text.
    writeFileSync(file, `port ${port}\nbind ${LOOPBACK}\ndir ${dir}\n${options.sentinelConfig}\n`);
    return { binary: 'redis-sentinel', args: [file, ...(options.args ?? [])], cwd: dir };
  }
  const args = ['--bind', LOOPBACK, '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'notice'];
  if (options.tls === undefined) args.push('--port', String(port));
  else {
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key);
    args.push('--tls-ca-cert-file', options.tls.ca, '--tls-auth-clients', 'no');
  }
  if (options.password !== undefined) args.push('--requirepass', options.password);
  // One argument per token: redis-server quotes each argument whole.
  for (const user of options.users ?? []) args.push('--user', user.name, 'on', `>${user.password}`, '~*', '&*', '+@all');
  args.push(...(options.args ?? []));
  return { binary: 'redis-server', args, cwd: dir };
}

/** Spawns the server and resolves once it logs that it accepts connections. */
function spawnServer(command: ServerCommand): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command.binary, command.args, { cwd: command.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
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
    const timer = setTimeout(() => finish(new Error(`${command.binary} did not start within 10 s:\n${output}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      // Keep what is needed to explain a failure, not the whole log.
      output = (output + chunk.toString()).slice(-4_000);
      if (/Ready to accept connections|Sentinel ID is/.test(output)) finish();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) => finish(new Error(`could not start ${command.binary}: ${error.message}`)));
    child.once('exit', (code, signal) => {
      children.delete(child);
      finish(new Error(`${command.binary} exited (${code ?? signal}) before accepting connections:\n${output}`));
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

/** Runs one command on a short-lived connection (for setup and for planting data). */
export async function redisCommand(address: RedisAddress & { password?: string }, ...args: (string | number)[]): Promise<unknown> {
  const client = new Redis({
    host: address.host,
    port: address.port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    ...(address.password === undefined ? {} : { password: address.password }),
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const [name, ...rest] = args;
    return await client.call(String(name), ...rest);
  } finally {
    client.disconnect();
  }
}

/** Polls `check` until it returns true (or throws its last error after `timeoutMs`). */
export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const why = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
}

/** A self-signed CA and a server certificate for 127.0.0.1, made with openssl in a new directory. */
export function createTlsFiles(): TlsFiles & { dir: string; remove(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'rollcall-tls-'));
  directories.add(dir);
  const openssl = (...args: string[]): void => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args[0] ?? ''} failed: ${result.error?.message ?? result.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=rollcall-test-ca');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${LOOPBACK}`);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=IP:${LOOPBACK}\n`);
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
    remove: async () => {
      directories.delete(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A master, one replica and three sentinels monitoring them, all on loopback. */
export interface SentinelGroup {
  readonly masterName: string;
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinels: readonly RedisServer[];
  /** What ioredis takes as `sentinels`. */
  readonly sentinelAddresses: readonly RedisAddress[];
  /** The master's address as the sentinels report it now. */
  currentMaster(): Promise<RedisAddress>;
  stop(): Promise<void>;
}

export interface StartSentinelOptions {
  /** `down-after-milliseconds`: how long the master must be unreachable before failover. @default 1000 */
  downAfterMs?: number | undefined;
  masterName?: string | undefined;
}

/** Starts a Sentinel group and waits until the sentinels could fail over (quorum reachable, replica known). */
export async function startSentinelGroup(options: StartSentinelOptions = {}): Promise<SentinelGroup> {
  requireRedis({ sentinel: true });
  const masterName = options.masterName ?? 'rollcall';
  const started: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((server) => server.stop()));
  };
  try {
    const master = await startRedis();
    started.push(master);
    const replica = await startRedis({ args: ['--replicaof', LOOPBACK, String(master.port)] });
    started.push(replica);
    await until(
      async () => /master_link_status:up/.test(String(await redisCommand(replica, 'INFO', 'replication'))),
      10_000,
      'the replica to sync with the master',
    );
    const config = [
      `sentinel monitor ${masterName} ${LOOPBACK} ${master.port} 2`,
      `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1_000}`,
      `sentinel failover-timeout ${masterName} 10000`,
      `sentinel parallel-syncs ${masterName} 1`,
    ].join('\n');
    const sentinels = await Promise.all([0, 1, 2].map(() => startRedis({ sentinelConfig: config })));
    started.push(...sentinels);
    for (const sentinel of sentinels) {
      await until(
        async () => {
          const quorum = String(await redisCommand(sentinel, 'SENTINEL', 'CKQUORUM', masterName));
          const replicas = (await redisCommand(sentinel, 'SENTINEL', 'REPLICAS', masterName)) as unknown[];
          return quorum.includes('3 usable Sentinels') && replicas.length === 1;
        },
        20_000,
        'the sentinels to see each other and the replica',
      );
    }
    return {
      masterName,
      master,
      replica,
      sentinels,
      sentinelAddresses: sentinels.map((sentinel) => ({ host: sentinel.host, port: sentinel.port })),
      currentMaster: async () => {
        for (const sentinel of sentinels) {
          if (!sentinel.running) continue;
          const [host, port] = (await redisCommand(sentinel, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string];
          return { host, port: Number(port) };
        }
        throw new Error('no sentinel is running');
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A Cluster of masters without replicas, slots split evenly. */
export interface RedisClusterGroup {
  readonly nodes: readonly RedisServer[];
  /** What ioredis takes as startup nodes. */
  readonly startupNodes: readonly RedisAddress[];
  stop(): Promise<void>;
}

/** Starts `masters` cluster-enabled servers, assigns the slots and waits until every node says `cluster_state:ok`. */
export async function startCluster(masters = 3): Promise<RedisClusterGroup> {
  const started: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((server) => server.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      started.push(
        await startRedis({
          clusterBus: true,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '3000'],
        }),
      );
    }
    const slotsPerNode = Math.ceil(16_384 / masters);
    await Promise.all(
      started.map((node, i) =>
        redisCommand(node, 'CLUSTER', 'ADDSLOTSRANGE', i * slotsPerNode, Math.min(16_383, (i + 1) * slotsPerNode - 1)),
      ),
    );
    const [first, ...others] = started;
    if (first === undefined) throw new Error('a cluster needs at least one master');
    for (const node of others) await redisCommand(first, 'CLUSTER', 'MEET', LOOPBACK, node.port);
    for (const node of started) {
      await until(
        async () => {
          const info = String(await redisCommand(node, 'CLUSTER', 'INFO'));
          return info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${masters}`);
        },
        20_000,
        `cluster node ${node.port} to see the whole cluster`,
      );
    }
    return { nodes: started, startupNodes: started.map((node) => ({ host: node.host, port: node.port })), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
