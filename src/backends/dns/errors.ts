/**
 * What the DNS backend answers when DNS cannot: writes refused as such, and node:dns failures
 * turned into rollcall's errors. A name that does not exist (NXDOMAIN) or holds no record of the
 * type asked (NODATA) is an answer, not a failure: the caller learns there is no instance.
 */
import { InvalidArgumentError, RegistryUnavailableError, messageOf } from '../../core/errors.js';

const KIND = 'dns';

/**
 * A write (`register`, `renew`, `deregister`) sent to a read-only backend. Its code is
 * `INVALID_ARGUMENT`: retrying cannot help, so registration fails at once instead of retrying.
 */
export class ReadOnlyRegistryError extends InvalidArgumentError {
  static override readonly brand: string = 'ReadOnlyRegistryError';
  /** The write refused. */
  readonly operation: string;

  constructor(operation: string) {
    super(
      'backend',
      'a backend that accepts writes',
      KIND,
      `${operation} was refused: the DNS backend is read-only; register instances where its records come from (Consul, Kubernetes, the zone) and use DnsBackend to resolve them`,
    );
    this.operation = operation;
  }
}

/** node:dns codes that say the name has no such record: an empty answer. */
const NO_RECORDS = new Set(['ENOTFOUND', 'ENODATA']);

const EXPLAINED: Readonly<Record<string, string>> = {
  ESERVFAIL: 'the DNS server failed to answer (SERVFAIL)',
  ETIMEOUT: 'no DNS server answered in time',
  ECONNREFUSED: 'the DNS server refused the connection',
  EREFUSED: 'the DNS server refused the query (REFUSED: not authoritative, or not allowed to ask)',
  EBADRESP: 'the DNS server sent a malformed answer',
  EFORMERR: 'the DNS server could not read the query (FORMERR)',
  ENOTIMP: 'the DNS server does not implement the query (NOTIMP)',
  ECANCELLED: 'the query was cancelled',
};

/** The node:dns error code of `error`, if any. */
export function dnsCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether `error` says the name holds no record of the type asked (NXDOMAIN or NODATA). */
export function isNoRecords(error: unknown): boolean {
  const code = dnsCode(error);
  return code !== undefined && NO_RECORDS.has(code);
}

/** `REGISTRY_UNAVAILABLE` naming the name asked and what the server did. */
export function lookupError(operation: string, name: string, error: unknown): RegistryUnavailableError {
  const code = dnsCode(error);
  const what = (code === undefined ? undefined : EXPLAINED[code]) ?? `the DNS lookup failed: ${messageOf(error)}`;
  return new RegistryUnavailableError(KIND, operation, `${name}: ${what}${code === undefined ? '' : ` [${code}]`}`, { cause: error });
}
