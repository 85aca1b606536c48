/**
 * A real authoritative DNS server for tests: Knot DNS (knotd) on a free loopback port with its own
 * directory, serving the zone `test.` that tests rewrite while it runs (reloaded with knotc, which
 * waits until the new zone is served), and `broken.test.`, configured without a zone file, which
 * knotd answers with SERVFAIL. Also a UDP socket that never answers, for timeouts. A missing
 * knotd is an error, never a skip (`npm test` installs Debian's knot when it is missing).
 *
 * Every process started here is also killed when the test process exits, whatever happened.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promises } from 'node:dns';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK, freePort } from './redis-server.js';

/** The zone tests write into. */
export const ZONE = 'test';
/** A zone knotd is configured for but cannot load: every name in it answers SERVFAIL. */
export const BROKEN_ZONE = 'broken.test';

export interface SrvInstance {
  /** IPv4 or IPv6 address of the target. */
  readonly host: string;
  readonly port: number;
  readonly weight?: number | undefined;
  readonly priority?: number | undefined;
}

export interface DnsServer {
  /** `127.0.0.1:<port>`, as node:dns's setServers takes it. */
  readonly server: string;
  /** The name template of the services this server holds: `_http._tcp.{service}.test`. */
  readonly template: string;
  /**
   * Makes `_http._tcp.<service>.test` hold one SRV record per instance (each with its own target
   * `<service>-<n>.test` holding its address), replacing what the service had; none removes it.
   * Resolves once knotd serves the new zone.
   */
  setService(service: string, instances: readonly SrvInstance[], options?: { ttlSeconds?: number | undefined }): Promise<void>;
  /** Adds raw zone lines (relative names), replacing earlier ones with the same key; for odd records. */
  setRaw(key: string, lines: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

interface Started {
  readonly children: Set<ChildProcess>;
  readonly directories: Set<string>;
}

const started = (() => {
  const key = Symbol.for('rollcall.test.dns-server.started');
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

/** knotd and knotc, from PATH or /usr/sbin (where Debian puts them, outside a non-root PATH). */
function binary(name: 'knotd' | 'knotc'): string {
  if (spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0) return name;
  const sbin = `/usr/sbin/${name}`;
  if (existsSync(sbin)) return sbin;
  throw new Error(`${name} not found. These tests need a real DNS server: run \`npm test\` (it installs Debian's knot) or \`apt-get install knot\`.`);
}

/**
 * Starts knotd and resolves once it answers for the zone; starts over on another port when another
 * process took the port between the check and the bind (knotd then serves nothing there).
 */
export async function startDnsServer(): Promise<DnsServer> {
  for (let attempt = 0; ; attempt++) {
    const server = await startKnot();
    const resolver = new promises.Resolver({ timeout: 500, tries: 2 });
    resolver.setServers([server.server]);
    try {
      await resolver.resolveSoa(`${ZONE}.`);
      return server;
    } catch (error) {
      await server.stop();
      if (attempt >= 2) throw new Error(`knotd does not answer on ${server.server}: ${String(error)}`);
    }
  }
}

async function startKnot(): Promise<DnsServer> {
  const knotd = binary('knotd');
  const knotc = binary('knotc');
  const dir = await mkdtemp(join(tmpdir(), 'rollcall-dns-'));
  directories.add(dir);
  const port = await freePort();
  const socket = join(dir, 'knot.sock');
  writeFileSync(
    join(dir, 'knot.conf'),
    [
      'server:',
      `    rundir: "${dir}"`,
      `    listen: ${LOOPBACK}@${port}`,
      'control:',
      `    listen: "${socket}"`,
      'log:',
      '  - target: stderr',
      '    any: info',
      'database:',
      `    storage: "${join(dir, 'db')}"`,
      'template:',
      '  - id: default',
      `    storage: "${dir}"`,
      '    file: "%s.zone"',
      '    zonefile-sync: -1',
      '    zonefile-load: whole',
      '    journal-content: none',
      'zone:',
      `  - domain: ${ZONE}.`,
      `  - domain: ${BROKEN_ZONE}.`,
      '',
    ].join('\n'),
  );
  const services = new Map<string, string[]>();
  let serial = 1;
  const writeZone = (): void => {
    const lines = [`$ORIGIN ${ZONE}.`, '$TTL 1', `@ SOA ns.${ZONE}. admin.${ZONE}. ${serial++} 60 60 60 1`, `@ NS ns.${ZONE}.`, `ns A ${LOOPBACK}`];
    for (const records of services.values()) lines.push(...records);
    writeFileSync(join(dir, `${ZONE}.zone`), `${lines.join('\n')}\n`);
  };
  const reload = (): void => {
    writeZone();
    const result = spawnSync(knotc, ['-s', socket, '-b', 'zone-reload', `${ZONE}.`], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`knotc zone-reload failed: ${result.stderr || result.stdout}`);
  };
  writeZone();
  const child = await spawnKnot(knotd, ['-c', join(dir, 'knot.conf')]);

  return {
    server: `${LOOPBACK}:${port}`,
    template: `_http._tcp.{service}.${ZONE}`,
    setService: (service, instances, options = {}) => {
      const ttl = options.ttlSeconds ?? 1;
      const records = instances.flatMap((instance, n) => {
        const target = `${service}-${n + 1}`;
        const type = isIP(instance.host) === 6 ? 'AAAA' : 'A';
        return [
          `_http._tcp.${service} ${ttl} SRV ${instance.priority ?? 10} ${instance.weight ?? 1} ${instance.port} ${target}.${ZONE}.`,
          `${target} ${ttl} ${type} ${instance.host}`,
        ];
      });
      if (records.length === 0) services.delete(service);
      else services.set(service, records);
      reload();
      return Promise.resolve();
    },
    setRaw: (key, lines) => {
      if (lines.length === 0) services.delete(`raw:${key}`);
      else services.set(`raw:${key}`, [...lines]);
      reload();
      return Promise.resolve();
    },
    stop: async () => {
      await killProcess(child);
      directories.delete(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A UDP port on loopback that receives queries and never answers: a DNS server that times out. */
export async function startSilentServer(): Promise<{ server: string; stop(): Promise<void> }> {
  const socket = createSocket('udp4');
  socket.on('message', () => {});
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  return {
    server: `${LOOPBACK}:${socket.address().port}`,
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function spawnKnot(knotd: string, args: readonly string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(knotd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
    const timer = setTimeout(() => finish(new Error(`knotd did not start within 10 s:\n${output}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-4_000);
      if (/control, binding to/.test(output)) finish();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) => finish(new Error(`could not start knotd: ${error.message}`)));
    child.once('exit', (code, signal) => {
      children.delete(child);
      finish(new Error(`knotd exited (${code ?? signal}) before serving:\n${output}`));
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

/** What a {@link DnsSwitch} does with queries. */
export type SwitchMode = 'forward' | 'servfail' | 'nxdomain' | 'refused' | 'silent';

/** A UDP relay in front of a DNS server that a test switches to failing answers for the same names. */
export interface DnsSwitch {
  readonly server: string;
  mode: SwitchMode;
  stop(): Promise<void>;
}

const RCODES: Readonly<Record<'servfail' | 'nxdomain' | 'refused', number>> = { servfail: 2, nxdomain: 3, refused: 5 };

/** Starts a relay to `upstream` (`ip:port`) on a free loopback port, forwarding until told otherwise. */
export async function startDnsSwitch(upstream: string): Promise<DnsSwitch> {
  const [upstreamHost, upstreamPort] = upstream.split(':') as [string, string];
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  const waiting = new Map<number, { address: string; port: number }>();
  const relay: DnsSwitch = {
    server: '',
    mode: 'forward',
    stop: async () => {
      await Promise.all([front, back].map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    },
  };
  front.on('message', (query, client) => {
    if (query.length < 12 || relay.mode === 'silent') return;
    if (relay.mode === 'forward') {
      waiting.set(query.readUInt16BE(0), { address: client.address, port: client.port });
      back.send(query, Number(upstreamPort), upstreamHost);
      return;
    }
    front.send(failure(query, RCODES[relay.mode]), client.port, client.address);
  });
  back.on('message', (answer) => {
    const client = waiting.get(answer.readUInt16BE(0));
    if (client === undefined) return;
    waiting.delete(answer.readUInt16BE(0));
    front.send(answer, client.port, client.address);
  });
  await new Promise<void>((resolve) => front.bind(0, LOOPBACK, resolve));
  await new Promise<void>((resolve) => back.bind(0, LOOPBACK, resolve));
  return Object.assign(relay, { server: `${LOOPBACK}:${front.address().port}` });
}

/** The answer to `query` with `rcode` and no records: its header and question, QR and RA set. */
function failure(query: Buffer, rcode: number): Buffer {
  let end = 12;
  while (end < query.length && query[end] !== 0) end += (query[end] as number) + 1;
  const answer = Buffer.from(query.subarray(0, Math.min(query.length, end + 5)));
  answer[2] = (answer[2] as number) | 0x80;
  answer[3] = 0x80 | rcode;
  answer.writeUInt16BE(1, 4);
  answer.writeUInt32BE(0, 6);
  answer.writeUInt16BE(0, 10);
  return answer;
}
