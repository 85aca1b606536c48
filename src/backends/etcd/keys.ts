/**
 * The etcd key layout. Every key of a namespace lives under `/rollcall/<namespace>/`; each
 * service has one prefix holding its instances and its epoch:
 *
 * - `/rollcall/<namespace>/<service>/instances/<id>`: the instance's JSON, attached to its lease;
 * - `/rollcall/<namespace>/<service>/epoch`: a random value written (without a lease) with the
 *   service's first instance and never removed by rollcall, so that a reader who saw it vanish or
 *   change knows the registry lost the service's data (see resets.ts).
 *
 * Names reaching this module are validated: service names, ids and namespaces hold no `/`, so a
 * key parses one way only and one service's prefix never covers another's (`orders/` is not a
 * prefix of `orders.api/`).
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { INSTANCE_ID_PATTERN, SERVICE_NAME_PATTERN } from '../../core/instance.js';

/** Namespaces: letters, digits, `.`, `_`, `-`; 1 to 64 characters, not starting with `.`. */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

/** The namespace used when none is given. */
export const DEFAULT_NAMESPACE = 'default';

/** Root of every rollcall key in etcd. */
const KEY_ROOT = '/rollcall/';

const INSTANCES = 'instances/';
const EPOCH = 'epoch';

export function assertNamespace(namespace: unknown): asserts namespace is string {
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
    throw new InvalidArgumentError('namespace', '1-64 characters from A-Z a-z 0-9 . _ - not starting with "."', namespace);
  }
}

/** The keys of one namespace. */
export class KeyLayout {
  /** `/rollcall/<namespace>/`: prefix of every key of the namespace. */
  readonly root: string;

  constructor(namespace: string) {
    this.root = `${KEY_ROOT}${namespace}/`;
  }

  /** Prefix of every key of `service` (its instances and its epoch). */
  service(service: string): string {
    return `${this.root}${service}/`;
  }

  instance(service: string, id: string): string {
    return `${this.root}${service}/${INSTANCES}${id}`;
  }

  epoch(service: string): string {
    return `${this.root}${service}/${EPOCH}`;
  }

  /**
   * What a key of the namespace is: an instance (service and id), a service's epoch, or neither
   * (a key rollcall never writes, or one whose names rollcall cannot address).
   */
  parse(key: string): { kind: 'instance'; service: string; id: string } | { kind: 'epoch'; service: string } | undefined {
    if (!key.startsWith(this.root)) return undefined;
    const rest = key.slice(this.root.length);
    const slash = rest.indexOf('/');
    if (slash < 0) return undefined;
    const service = rest.slice(0, slash);
    if (!SERVICE_NAME_PATTERN.test(service)) return undefined;
    const tail = rest.slice(slash + 1);
    if (tail === EPOCH) return { kind: 'epoch', service };
    if (!tail.startsWith(INSTANCES)) return undefined;
    const id = tail.slice(INSTANCES.length);
    return INSTANCE_ID_PATTERN.test(id) ? { kind: 'instance', service, id } : undefined;
  }
}

/**
 * The request fields selecting every key that starts with `prefix`, base64-encoded: `range_end` is
 * the prefix with its last byte below 0xff raised by one (etcd's own `GetPrefixRangeEnd`).
 */
export function prefixRange(prefix: string): { key: string; range_end: string } {
  const bytes = Buffer.from(prefix, 'utf8');
  let end = Buffer.from([0]);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if ((bytes[i] as number) < 0xff) {
      end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = (bytes[i] as number) + 1;
      break;
    }
  }
  return { key: bytes.toString('base64'), range_end: end.toString('base64') };
}

/** Keys and values travel base64-encoded in etcd's JSON API. */
export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

export function fromB64(text: unknown): string {
  return typeof text === 'string' ? Buffer.from(text, 'base64').toString('utf8') : '';
}
