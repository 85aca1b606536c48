/**
 * Options of the Consul backend and their resolution: explicit options first, then the
 * `CONSUL_*` environment variables Consul's own CLI and Go client read, then defaults.
 * Everything is validated here, once, so the rest of the backend trusts its settings.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { nonEmpty, readTextFile, resolveTls, type ResolvedTls } from '../settings-sources.js';
import { durationOption } from '../../core/options.js';
import type { LoggerLike } from '../../core/logger.js';
import { NAMESPACE_PATTERN, SERVICE_KINDS, assertFilterableTags, type ConsulServiceKind } from './mapping.js';

/** TLS settings for an HTTPS Consul address. */
export interface ConsulTlsOptions {
  /** PEM certificate(s) of the CA that signed Consul's certificate. @default the file named by `CONSUL_CACERT`, else Node's bundled CAs */
  ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** PEM client certificate, for agents with `verify_incoming`. @default the file named by `CONSUL_CLIENT_CERT` */
  cert?: string | Buffer | undefined;
  /** PEM key of {@link cert}. @default the file named by `CONSUL_CLIENT_KEY` */
  key?: string | Buffer | undefined;
  /** Name sent as SNI and checked against Consul's certificate. @default `CONSUL_TLS_SERVER_NAME`, else the address's host */
  servername?: string | undefined;
  /** Verify Consul's certificate. Turn off only for throwaway setups. @default true (`CONSUL_HTTP_SSL_VERIFY=false` turns it off) */
  rejectUnauthorized?: boolean | undefined;
}

/** Options of {@link ConsulBackend}. Every duration is in milliseconds. */
export interface ConsulBackendOptions {
  /**
   * The local Consul agent: `host:port`, `http://host:port`, `https://host:port` or
   * `unix:///path/to/socket`. Without a scheme, `https` is used when `CONSUL_HTTP_SSL=true` or
   * `tls` is given. @default `CONSUL_HTTP_ADDR`, else `127.0.0.1:8500`
   */
  address?: string | undefined;
  /** ACL token. Sent in a header, never in the URL; never logged nor put in error messages. @default `CONSUL_HTTP_TOKEN`, else the content of the file named by `CONSUL_HTTP_TOKEN_FILE`, else none (the agent's default token applies) */
  token?: string | undefined;
  /** How the token travels: `X-Consul-Token: <token>` or `Authorization: Bearer <token>`. @default 'header' */
  tokenTransport?: 'header' | 'bearer' | undefined;
  /** TLS settings; also read from `CONSUL_CACERT`, `CONSUL_CLIENT_CERT`, `CONSUL_CLIENT_KEY`, `CONSUL_TLS_SERVER_NAME`, `CONSUL_HTTP_SSL_VERIFY`. */
  tls?: ConsulTlsOptions | undefined;
  /** Datacenter read by `instances()`, `services()` and watches (`?dc=`). Writes always go to the local agent. @default the agent's datacenter */
  datacenter?: string | undefined;
  /** Consul Enterprise namespace (`?ns=`); Consul's community edition rejects it. @default `CONSUL_NAMESPACE`, else none */
  consulNamespace?: string | undefined;
  /** Consul Enterprise admin partition (`?partition=`); Consul's community edition rejects it. @default `CONSUL_PARTITION`, else none */
  partition?: string | undefined;
  /**
   * rollcall namespace: isolates this backend's instances from other rollcall namespaces in the
   * same Consul, through the `rollcall_namespace` Meta key. Letters, digits, `_` and `-`, 1 to 64
   * characters. Without it the backend sees only instances that carry no rollcall namespace,
   * including services registered by other tools. @default none
   */
  namespace?: string | undefined;
  /** Ask Consul for instances whose checks all pass (`?passing`): warning, critical and draining instances are then not listed at all. @default false */
  passingOnly?: boolean | undefined;
  /** List only instances carrying every one of these tags (no `"`: Consul's filter language cannot quote it). @default [] */
  tags?: readonly string[] | undefined;
  /**
   * Consul service kinds to list. `typical` services are applications; Connect sidecar proxies
   * (`connect-proxy`) and mesh, terminating, ingress and API gateways are listed in Consul beside
   * them and are left out unless named here. @default ['typical']
   */
  serviceKinds?: readonly ConsulServiceKind[] | undefined;
  /**
   * How long the TTL check may stay critical before Consul removes the instance on its own
   * (`DeregisterCriticalServiceAfter`). Consul raises anything below one minute to one minute and
   * reaps every 30 s, so a crashed instance is listed as `critical` for 60 to 90 s by default.
   * 1000 to 86400000. @default 60000
   */
  deregisterCriticalAfterMs?: number | undefined;
  /** Every request except a watch's long poll fails after this. @default 5000 */
  requestTimeoutMs?: number | undefined;
  /**
   * Longest time a watch's blocking query waits for a change (`?wait=`), minus up to 10% jitter
   * so processes do not poll in step. The long poll's own timeout is this plus Consul's jitter
   * (wait/16) plus `requestTimeoutMs`. 1000 to 600000. @default 60000
   */
  watchWaitMs?: number | undefined;
  /** First delay after a failed watch poll; grows exponentially with jitter (cockatiel's ExponentialBackoff). @default 500 */
  watchRetryInitialDelayMs?: number | undefined;
  /** Longest delay between failed watch polls. @default 30000 */
  watchRetryMaxDelayMs?: number | undefined;
  /** Polls one watch may send back to back before being held to one per `watchRateIntervalMs` (Consul's advice for busy services). @default 5 */
  watchRateBurst?: number | undefined;
  /** Sustained pace of one watch's polls once its burst is used up. @default 1000 */
  watchRateIntervalMs?: number | undefined;
  /** Where `CONSUL_*` variables are read. @default process.env */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Receives malformed-record warnings and watch state changes; never the token. @default silent */
  logger?: LoggerLike | undefined;
  /** Random source for jitter. @default Math.random */
  random?: (() => number) | undefined;
}

/** Settings after defaults and validation. */
export interface ConsulSettings {
  /** `http(s)://host:port`, without credentials or path. */
  readonly origin: string;
  readonly socketPath: string | undefined;
  readonly token: string | undefined;
  readonly tokenTransport: 'header' | 'bearer';
  readonly tls: ResolvedTls | undefined;
  readonly datacenter: string | undefined;
  readonly consulNamespace: string | undefined;
  readonly partition: string | undefined;
  readonly namespace: string | undefined;
  readonly passingOnly: boolean;
  readonly tags: readonly string[];
  readonly serviceKinds: readonly ConsulServiceKind[];
  readonly deregisterCriticalAfterMs: number;
  readonly requestTimeoutMs: number;
  readonly watchWaitMs: number;
  readonly watchRetryInitialDelayMs: number;
  readonly watchRetryMaxDelayMs: number;
  readonly watchRateBurst: number;
  readonly watchRateIntervalMs: number;
}

const DEFAULT_ADDRESS = '127.0.0.1:8500';
/** Consul's floor for `DeregisterCriticalServiceAfter`, and our default. */
const DEFAULT_DEREGISTER_CRITICAL_AFTER_MS = 60_000;
const MAX_CONSUL_WAIT_MS = 600_000;
const PLAIN_VALUE = /^[A-Za-z0-9._-]{1,64}$/;

export function resolveSettings(options: ConsulBackendOptions): ConsulSettings {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'a ConsulBackend options object', options);
  const env = options.env ?? process.env;
  const tls = resolveTls(options.tls, env, {
    caFile: 'CONSUL_CACERT',
    certFile: 'CONSUL_CLIENT_CERT',
    keyFile: 'CONSUL_CLIENT_KEY',
    servernameVariable: 'CONSUL_TLS_SERVER_NAME',
    verifyFromEnv: () => parseBool(env['CONSUL_HTTP_SSL_VERIFY'], 'CONSUL_HTTP_SSL_VERIFY'),
  });
  const { origin, socketPath } = resolveAddress(options.address ?? nonEmpty(env['CONSUL_HTTP_ADDR']) ?? DEFAULT_ADDRESS, {
    https: parseBool(env['CONSUL_HTTP_SSL'], 'CONSUL_HTTP_SSL') === true || options.tls !== undefined,
    field: options.address === undefined && nonEmpty(env['CONSUL_HTTP_ADDR']) !== undefined ? 'CONSUL_HTTP_ADDR' : 'address',
  });
  const tokenTransport = options.tokenTransport ?? 'header';
  if (tokenTransport !== 'header' && tokenTransport !== 'bearer') {
    throw new InvalidArgumentError('tokenTransport', "'header' or 'bearer'", tokenTransport);
  }
  const tags: unknown = options.tags ?? [];
  if (!Array.isArray(tags) || tags.some((tag: unknown) => typeof tag !== 'string' || !/^[^\s,]{1,128}$/.test(tag))) {
    throw new InvalidArgumentError('tags', 'an array of tags of 1-128 characters without spaces or commas', tags);
  }
  assertFilterableTags(tags as string[], 'tags');
  const serviceKinds: unknown = options.serviceKinds ?? ['typical'];
  if (!Array.isArray(serviceKinds) || serviceKinds.length === 0 || serviceKinds.some((kind: unknown) => !(SERVICE_KINDS as readonly unknown[]).includes(kind))) {
    throw new InvalidArgumentError('serviceKinds', `a non-empty array of ${SERVICE_KINDS.join(', ')}`, serviceKinds);
  }
  const passingOnly = options.passingOnly ?? false;
  if (typeof passingOnly !== 'boolean') throw new InvalidArgumentError('passingOnly', 'a boolean', passingOnly);
  const namespace = options.namespace;
  if (namespace !== undefined && (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace))) {
    throw new InvalidArgumentError('namespace', '1-64 characters from A-Z a-z 0-9 _ - starting with a letter or digit', namespace);
  }
  const watchRetryInitialDelayMs = durationOption(options.watchRetryInitialDelayMs, 500, 'watchRetryInitialDelayMs', 1, 3_600_000);
  const watchRateBurst = options.watchRateBurst ?? 5;
  if (!Number.isInteger(watchRateBurst) || watchRateBurst < 1 || watchRateBurst > 1_000) {
    throw new InvalidArgumentError('watchRateBurst', 'an integer from 1 to 1000', watchRateBurst);
  }
  return {
    origin,
    socketPath,
    token: resolveToken(options.token, env),
    tokenTransport,
    tls,
    datacenter: plain(options.datacenter, 'datacenter'),
    consulNamespace: plain(options.consulNamespace ?? nonEmpty(env['CONSUL_NAMESPACE']), 'consulNamespace'),
    partition: plain(options.partition ?? nonEmpty(env['CONSUL_PARTITION']), 'partition'),
    namespace,
    passingOnly,
    tags: Object.freeze([...(tags as string[])]),
    // In Consul's order, so that equal settings always build the same filter.
    serviceKinds: Object.freeze(SERVICE_KINDS.filter((kind) => (serviceKinds as readonly string[]).includes(kind))),
    deregisterCriticalAfterMs: durationOption(options.deregisterCriticalAfterMs, DEFAULT_DEREGISTER_CRITICAL_AFTER_MS, 'deregisterCriticalAfterMs', 1_000, 86_400_000),
    requestTimeoutMs: durationOption(options.requestTimeoutMs, 5_000, 'requestTimeoutMs', 1, 600_000),
    watchWaitMs: durationOption(options.watchWaitMs, 60_000, 'watchWaitMs', 1_000, MAX_CONSUL_WAIT_MS),
    watchRetryInitialDelayMs,
    watchRetryMaxDelayMs: durationOption(options.watchRetryMaxDelayMs, Math.max(30_000, watchRetryInitialDelayMs), 'watchRetryMaxDelayMs', watchRetryInitialDelayMs, 3_600_000),
    watchRateBurst,
    watchRateIntervalMs: durationOption(options.watchRateIntervalMs, 1_000, 'watchRateIntervalMs', 1, 3_600_000),
  };
}

/** Parses Consul's address forms into an origin (and a socket path for `unix://`). */
function resolveAddress(address: string, context: { https: boolean; field: string }): { origin: string; socketPath: string | undefined } {
  const expected = 'host:port, http://host:port, https://host:port or unix:///path';
  if (typeof address !== 'string' || address.trim() === '') throw new InvalidArgumentError(context.field, expected, address);
  if (address.startsWith('unix://')) {
    const socketPath = address.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new InvalidArgumentError(context.field, `${expected} (an absolute socket path)`, address);
    return { origin: 'http://localhost', socketPath };
  }
  const withScheme = address.includes('://') ? address : `${context.https ? 'https' : 'http'}://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError(context.field, expected, address.includes('@') ? '[an address with credentials]' : address);
  }
  if (url.username !== '' || url.password !== '') {
    // Never echo the value: it holds credentials.
    throw new InvalidArgumentError(context.field, `${expected} without credentials (use the token option)`, '[an address with credentials]');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(context.field, expected, address);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new InvalidArgumentError(context.field, `${expected} without a path or query`, address);
  }
  return { origin: url.origin, socketPath: undefined };
}

function resolveToken(option: string | undefined, env: Readonly<Record<string, string | undefined>>): string | undefined {
  let token = option;
  let source = 'token';
  if (token === undefined && nonEmpty(env['CONSUL_HTTP_TOKEN']) !== undefined) {
    token = env['CONSUL_HTTP_TOKEN'];
    source = 'CONSUL_HTTP_TOKEN';
  }
  const tokenFile = nonEmpty(env['CONSUL_HTTP_TOKEN_FILE']);
  if (token === undefined && tokenFile !== undefined) {
    token = readTextFile(tokenFile, 'CONSUL_HTTP_TOKEN_FILE').trim();
    source = 'CONSUL_HTTP_TOKEN_FILE';
  }
  if (token === undefined) return undefined;
  // A header value with spaces or control characters would be rejected or split; the value itself is never echoed.
  if (typeof token !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(token)) {
    throw new InvalidArgumentError(source, 'a non-empty token of printable characters without spaces', '[redacted]');
  }
  return token;
}

/** Go's strconv.ParseBool, which Consul uses for its boolean variables. */
function parseBool(value: string | undefined, variable: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new InvalidArgumentError(variable, 'true or false', value);
}

function plain(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !PLAIN_VALUE.test(value)) throw new InvalidArgumentError(field, '1-64 characters from A-Z a-z 0-9 . _ -', value);
  return value;
}

