/**
 * The Redis key layout. Every key of one service carries the hash tag `{<namespace>:<service>}`,
 * so a Cluster keeps them in one slot and one Lua script can touch them all. The namespace's own
 * keys (the services index, the expiry index and the sweeper's lease) share the hash tag
 * `{<namespace>}`, another slot. Names reaching this module are already validated: service
 * names and namespaces are drawn from `A-Z a-z 0-9 . _ -`, so neither can open or close a hash
 * tag, add a key segment, or carry a glob pattern.
 */
import { InvalidArgumentError } from '../../core/errors.js';

/** Namespaces: letters, digits, `.`, `_`, `-`; 1 to 64 characters. No `:` or braces, so keys parse one way only. */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** The default namespace, which doubles as the key prefix. */
export const DEFAULT_NAMESPACE = 'rollcall';

export function assertNamespace(namespace: unknown): asserts namespace is string {
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
    throw new InvalidArgumentError('namespace', '1-64 characters from A-Z a-z 0-9 . _ -', namespace);
  }
}

/** The keys and pub/sub channel of one service. */
export interface ServiceKeys {
  /** ZSET: instance id → lease deadline, epoch ms by the Redis server's clock. */
  readonly deadlines: string;
  /**
   * HASH: instance id → `<ttlMs> <status> <updatedAt> <instance JSON as registered>`, `#owner:<id>`
   * → the instance's owner digest, `#version` → the service's version (raised by every change),
   * `#epoch` → when the hash was created, `#logfrom` → the oldest version `log` still covers.
   */
  readonly records: string;
  /** ZSET: instance id → the version of its last change (registration, status, removal), recent ones only. */
  readonly log: string;
  /** Pub/sub channel told about every change: the service's new version, nothing else. */
  readonly channel: string;
}

export function serviceKeys(namespace: string, service: string): ServiceKeys {
  const tag = `{${namespace}:${service}}`;
  return {
    deadlines: `${tag}:deadlines`,
    records: `${tag}:records`,
    log: `${tag}:log`,
    channel: `${tag}:changes`,
  };
}

/** ZSET: service name → the latest lease deadline of its instances (server epoch ms). */
export function servicesIndexKey(namespace: string): string {
  return `{${namespace}}:services`;
}

/** The namespace's keys for expiry sweeps, in the slot of the services index. */
export interface NamespaceKeys {
  /** ZSET: service name → the earliest lease deadline of its instances (server epoch ms). */
  readonly expiries: string;
  /** STRING: the token of the backend sweeping expired instances for the namespace, with a lease. */
  readonly sweeper: string;
  /** ZSET: token of each backend that may sweep (it watches) → when its entry lapses. */
  readonly sweepers: string;
  /** Pub/sub channel: the earliest deadline moved earlier, or the sweeper left. Carries nothing. */
  readonly channel: string;
}

export function namespaceKeys(namespace: string): NamespaceKeys {
  const tag = `{${namespace}}`;
  return { expiries: `${tag}:expiries`, sweeper: `${tag}:sweeper`, sweepers: `${tag}:sweepers`, channel: `${tag}:sweep` };
}
