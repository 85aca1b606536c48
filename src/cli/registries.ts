/**
 * The registries the command line reads, and how one is chosen: a flag naming its address
 * (`--redis URL`), else the environment variable that registry's own tools read (`REDIS_URL`).
 * Adding a backend is one entry in {@link REGISTRIES}: its flag, its variable, how to open it,
 * and optionally how to read its instances' last heartbeats. Each backend module is imported
 * only when chosen, so `--consul` never loads ioredis.
 */
import type { RegistryBackend } from '../backends/backend.js';
import type { Logger } from '../core/logger.js';
import { CliError, EXIT } from './exit-codes.js';
import type { Env } from './io.js';

/** A registry opened for one command. */
export interface OpenedRegistry {
  readonly backend: RegistryBackend;
  /**
   * When each listed instance of `service` last renewed its lease, in epoch ms by this machine's
   * clock, keyed by id. Absent for registries that do not record it (Consul keeps no time of a TTL
   * check's last update). Best effort: a failed read gives an empty map.
   */
  readonly heartbeats?: ((service: string) => Promise<ReadonlyMap<string, number>>) | undefined;
}

/** What every registry is opened with. */
export interface RegistrySettings {
  /** `--namespace` / `ROLLCALL_NAMESPACE`, when given. */
  readonly namespace: string | undefined;
  /** Deadline of each registry call (`--timeout`). */
  readonly timeoutMs: number;
  /** Where credentials and TLS settings are read (`CONSUL_HTTP_TOKEN`, ...). */
  readonly env: Env;
  /** Receives the backend's warnings (malformed records, lost connections). */
  readonly logger: Logger;
}

/** One kind of registry the command line can read. */
export interface RegistryChoice {
  /** The flag (`--redis`), which is also the backend's kind. */
  readonly name: string;
  /** What the flag's value is, for `--help`: `URL`, `ADDR`. */
  readonly valueName: string;
  /** Variable holding the address when the flag is absent. */
  readonly variable: string;
  /** One line for `--help`. */
  readonly help: string;
  open(address: string, settings: RegistrySettings): Promise<OpenedRegistry>;
}

export const REGISTRIES: readonly RegistryChoice[] = [
  {
    name: 'redis',
    valueName: 'URL',
    variable: 'REDIS_URL',
    help: 'Redis: redis://[user:password@]host:port[/db], rediss:// for TLS',
    async open(url, settings) {
      const { RedisBackend } = await withPeer('redis', 'ioredis', () => import('../backends/redis/index.js'));
      const { redisHeartbeats } = await import('./redis-heartbeats.js');
      const backend = new RedisBackend({
        url,
        operationTimeoutMs: settings.timeoutMs,
        logger: settings.logger,
        ...(settings.namespace === undefined ? {} : { namespace: settings.namespace }),
      });
      return { backend, heartbeats: (service) => redisHeartbeats(backend, service) };
    },
  },
  {
    name: 'consul',
    valueName: 'ADDR',
    variable: 'CONSUL_HTTP_ADDR',
    help: 'Consul agent: host:port, http(s)://host:port or unix:///path; token from CONSUL_HTTP_TOKEN(_FILE)',
    async open(address, settings) {
      const { ConsulBackend } = await import('../backends/consul/index.js');
      const backend = new ConsulBackend({
        address,
        env: settings.env,
        requestTimeoutMs: settings.timeoutMs,
        logger: settings.logger,
        ...(settings.namespace === undefined ? {} : { namespace: settings.namespace }),
      });
      return { backend };
    },
  },
  {
    name: 'etcd',
    valueName: 'ENDPOINTS',
    variable: 'ETCD_ENDPOINTS',
    help: 'etcd v3: client URLs, comma-separated; user from ETCD_USERNAME / ETCD_PASSWORD, TLS from ETCD_CACERT ...',
    async open(endpoints, settings) {
      const { EtcdBackend } = await import('../backends/etcd/index.js');
      const backend = new EtcdBackend({
        endpoints,
        env: settings.env,
        requestTimeoutMs: settings.timeoutMs,
        logger: settings.logger,
        ...(settings.namespace === undefined ? {} : { namespace: settings.namespace }),
      });
      return { backend };
    },
  },
  {
    name: 'dns',
    valueName: 'SERVERS',
    variable: 'DNS_SERVERS',
    help: 'DNS SRV records, read-only: servers ip[:port], comma-separated; names from DNS_NAME_TEMPLATE, else {service}',
    async open(servers, settings) {
      if (settings.namespace !== undefined) {
        throw new CliError(EXIT.usage, 'the dns registry has no namespaces: its names come from DNS_NAME_TEMPLATE (unset --namespace / ROLLCALL_NAMESPACE)');
      }
      const { DnsBackend } = await import('../backends/dns/index.js');
      return { backend: new DnsBackend({ servers, env: settings.env, timeoutMs: settings.timeoutMs, logger: settings.logger }) };
    },
  },
];

/** The registry named by flags, else by the environment; a usage error when none or several are. */
export function chooseRegistry(flags: Readonly<Record<string, unknown>>, env: Env): { readonly choice: RegistryChoice; readonly address: string } {
  const flagged = REGISTRIES.filter((choice) => flags[choice.name] !== undefined);
  if (flagged.length > 1) {
    throw new CliError(EXIT.usage, `give one registry, not ${flagged.map((choice) => `--${choice.name}`).join(' and ')}`);
  }
  const [fromFlag] = flagged;
  if (fromFlag !== undefined) {
    const address = flags[fromFlag.name];
    if (typeof address !== 'string' || address.trim() === '') {
      throw new CliError(EXIT.usage, `--${fromFlag.name} needs its ${fromFlag.valueName}`);
    }
    return { choice: fromFlag, address: address.trim() };
  }
  const fromEnv = REGISTRIES.filter((choice) => (env[choice.variable] ?? '').trim() !== '');
  if (fromEnv.length > 1) {
    const variables = fromEnv.map((choice) => choice.variable).join(' and ');
    throw new CliError(EXIT.usage, `${variables} are set: choose one with ${fromEnv.map((choice) => `--${choice.name}`).join(' or ')}`);
  }
  const [chosen] = fromEnv;
  if (chosen === undefined) {
    const flagsText = REGISTRIES.map((choice) => `--${choice.name} ${choice.valueName}`).join(' or ');
    const variables = REGISTRIES.map((choice) => choice.variable).join(' or ');
    throw new CliError(EXIT.usage, `no registry given: pass ${flagsText}, or set ${variables}`);
  }
  return { choice: chosen, address: (env[chosen.variable] as string).trim() };
}

/** Imports a backend module, turning its missing optional peer into an instruction to install it. */
async function withPeer<T>(name: string, peer: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(error).includes(`'${peer}'`)) {
      throw new CliError(EXIT.usage, `the ${name} registry needs the ${peer} package: npm install ${peer}`, { cause: error });
    }
    throw error;
  }
}
