/**
 * Options of the DNS backend and their resolution: explicit options first, then `DNS_SERVERS` and
 * `DNS_NAME_TEMPLATE`, then defaults. Validated here, once.
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../core/errors.js';
import type { LoggerLike } from '../../core/logger.js';
import { durationOption, integerOption, randomOption } from '../../core/options.js';
import { nonEmpty } from '../settings-sources.js';
import { SERVICE_PLACEHOLDER, assertDnsServiceName, assertNameTemplate } from './names.js';

/** Options of {@link DnsBackend}. Every duration is in milliseconds. */
export interface DnsBackendOptions {
  /**
   * DNS servers to ask, `ip` or `ip:port` (`[ipv6]:port`), tried in order. @default `DNS_SERVERS`
   * (comma-separated), else the system's resolvers
   */
  servers?: string | readonly string[] | undefined;
  /**
   * The SRV name of a service: a DNS name holding `{service}` once. See `consulDnsName()` and
   * `kubernetesDnsName()`. @default `DNS_NAME_TEMPLATE`, else '{service}'
   */
  name?: string | undefined;
  /** URL scheme of the instances found (DNS does not carry one). @default 'http' */
  protocol?: string | undefined;
  /**
   * Services `services()` lists when they have instances: DNS cannot enumerate services.
   * @default [] (services() lists nothing)
   */
  services?: readonly string[] | undefined;
  /**
   * `lowest`: only the records of the lowest SRV priority are listed (RFC 2782: higher priorities
   * are backups); `all`: every record, its priority in `meta.priority`. @default 'lowest'
   */
  priorities?: 'lowest' | 'all' | undefined;
  /** Address records looked up for SRV targets. @default 'any' (A and AAAA) */
  family?: 'any' | 'ipv4' | 'ipv6' | undefined;
  /** One DNS query attempt times out after this (then the next server or try). @default 2000 */
  timeoutMs?: number | undefined;
  /** Attempts per server before a query fails. @default 2 */
  tries?: number | undefined;
  /** Shortest time an answer is reused (a TTL of 0, as Consul serves by default, would mean asking on every read). @default 1000 */
  minTtlMs?: number | undefined;
  /**
   * Longest time an answer is reused, whatever its TTLs. node:dns reports the TTLs of address
   * records but not of SRV records, so this also bounds how long a changed SRV set can go
   * unseen. @default 5000
   */
  maxTtlMs?: number | undefined;
  /** First delay after a failed watch lookup; grows exponentially with jitter. @default 500 */
  watchRetryInitialDelayMs?: number | undefined;
  /** Longest delay between failed watch lookups. @default 30000 */
  watchRetryMaxDelayMs?: number | undefined;
  /** Where `DNS_*` variables are read (an empty value counts as unset). @default process.env */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Receives skipped records and watch state changes. @default silent */
  logger?: LoggerLike | undefined;
  /** Random source for jitter. @default Math.random */
  random?: (() => number) | undefined;
}

export interface DnsSettings {
  /** Servers in node:dns's `setServers` form, or undefined for the system's. */
  readonly servers: readonly string[] | undefined;
  readonly template: string;
  readonly protocol: string;
  readonly services: readonly string[];
  readonly priorities: 'lowest' | 'all';
  readonly family: 'any' | 'ipv4' | 'ipv6';
  readonly timeoutMs: number;
  readonly tries: number;
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  readonly watchRetryInitialDelayMs: number;
  readonly watchRetryMaxDelayMs: number;
  readonly random: () => number;
}

const PROTOCOL_PATTERN = /^[a-z][a-z0-9+.-]{0,15}$/;

export function resolveSettings(options: DnsBackendOptions): DnsSettings {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'a DnsBackend options object', options);
  const env = options.env ?? process.env;
  const serversFromEnv = options.servers === undefined && nonEmpty(env['DNS_SERVERS']) !== undefined;
  const servers = options.servers ?? nonEmpty(env['DNS_SERVERS']);
  const templateFromEnv = options.name === undefined && nonEmpty(env['DNS_NAME_TEMPLATE']) !== undefined;
  const template = assertNameTemplate(options.name ?? nonEmpty(env['DNS_NAME_TEMPLATE']) ?? SERVICE_PLACEHOLDER, templateFromEnv ? 'DNS_NAME_TEMPLATE' : 'name');
  const protocol = options.protocol ?? 'http';
  if (typeof protocol !== 'string' || !PROTOCOL_PATTERN.test(protocol)) throw new InvalidArgumentError('protocol', 'a lowercase URL scheme such as "http"', protocol);
  const services: unknown = options.services ?? [];
  if (!Array.isArray(services)) throw new InvalidArgumentError('services', 'an array of service names', services);
  services.forEach((service: unknown, index) => assertDnsServiceName(service, `services[${index}]`));
  const priorities = options.priorities ?? 'lowest';
  if (priorities !== 'lowest' && priorities !== 'all') throw new InvalidArgumentError('priorities', "'lowest' or 'all'", priorities);
  const family = options.family ?? 'any';
  if (family !== 'any' && family !== 'ipv4' && family !== 'ipv6') throw new InvalidArgumentError('family', "'any', 'ipv4' or 'ipv6'", family);
  const minTtlMs = durationOption(options.minTtlMs, 1_000, 'minTtlMs', 0, 3_600_000);
  const watchRetryInitialDelayMs = durationOption(options.watchRetryInitialDelayMs, 500, 'watchRetryInitialDelayMs', 1, 3_600_000);
  return {
    servers: servers === undefined ? undefined : resolveServers(servers, serversFromEnv ? 'DNS_SERVERS' : 'servers'),
    template,
    protocol,
    services: Object.freeze([...new Set(services as string[])].sort()),
    priorities,
    family,
    timeoutMs: durationOption(options.timeoutMs, 2_000, 'timeoutMs', 1, 60_000),
    tries: integerOption(options.tries, 2, 'tries', 1, 10),
    minTtlMs,
    maxTtlMs: durationOption(options.maxTtlMs, Math.max(5_000, minTtlMs), 'maxTtlMs', Math.max(minTtlMs, 1), 3_600_000),
    watchRetryInitialDelayMs,
    watchRetryMaxDelayMs: durationOption(options.watchRetryMaxDelayMs, Math.max(30_000, watchRetryInitialDelayMs), 'watchRetryMaxDelayMs', watchRetryInitialDelayMs, 3_600_000),
    random: randomOption(options.random, 'random'),
  };
}

/** `ip`, `ip:port` or `[ipv6]:port` each, as node:dns's `setServers` takes them. */
function resolveServers(value: string | readonly string[], field: string): string[] {
  const expected = 'DNS servers as "ip", "ip:port" or "[ipv6]:port", an array or a comma-separated string';
  const list: unknown[] = typeof value === 'string' ? value.split(',').map((item) => item.trim()) : Array.isArray(value) ? [...(value as unknown[])] : [value];
  if (list.length === 0 || list.length > 16) throw new InvalidArgumentError(field, `1-16 ${expected}`, value);
  return list.map((item, index) => {
    const itemField = list.length === 1 ? field : `${field}[${index}]`;
    if (typeof item !== 'string') throw new InvalidArgumentError(itemField, expected, item);
    const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(item);
    const plain = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(item);
    const host = bracketed?.[1] ?? plain?.[1] ?? (isIP(item) === 6 ? item : undefined);
    const port = Number(bracketed?.[2] ?? plain?.[2] ?? 53);
    if (host === undefined || isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65_535) throw new InvalidArgumentError(itemField, expected, item);
    return item;
  });
}
