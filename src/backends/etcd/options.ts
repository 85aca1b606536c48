/**
 * Options of the etcd backend and their resolution: explicit options first, then `ETCD_*`
 * environment variables, then defaults. Everything is validated here, once, so the rest of the
 * backend trusts its settings. Credentials are never echoed in an error.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { nonEmpty, resolveTls, type ResolvedTls } from '../settings-sources.js';
import type { LoggerLike } from '../../core/logger.js';
import { durationOption, randomOption } from '../../core/options.js';
import { DEFAULT_NAMESPACE, assertNamespace } from './keys.js';

/** TLS settings for `https://` endpoints. */
export interface EtcdTlsOptions {
  /** PEM certificate(s) of the CA that signed etcd's certificate. @default the file named by `ETCD_CACERT`, else Node's bundled CAs */
  ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** PEM client certificate, for etcd started with `--client-cert-auth`. @default the file named by `ETCD_CERT` */
  cert?: string | Buffer | undefined;
  /** PEM key of {@link cert}. @default the file named by `ETCD_KEY` */
  key?: string | Buffer | undefined;
  /** Name sent as SNI and checked against etcd's certificate. @default the endpoint's host */
  servername?: string | undefined;
  /** Verify etcd's certificate. Turn off only for throwaway setups. @default true */
  rejectUnauthorized?: boolean | undefined;
}

/** Options of {@link EtcdBackend}. Every duration is in milliseconds. */
export interface EtcdBackendOptions {
  /**
   * Client URLs of the etcd members (`http://host:2379`, `https://host:2379`; `host:port` takes
   * `https` when `tls` is given, else `http`), as an array or one comma-separated string. Requests
   * go to one member and move to the next when it fails. @default `ETCD_ENDPOINTS`, else
   * `http://127.0.0.1:2379`
   */
  endpoints?: string | readonly string[] | undefined;
  /**
   * Isolates this backend's keys (`/rollcall/<namespace>/`) from other namespaces in the same
   * etcd. 1-64 characters from `A-Z a-z 0-9 . _ -`, not starting with `.`. @default 'default'
   */
  namespace?: string | undefined;
  /** etcd user (etcd's auth, `etcdctl auth enable`). @default `ETCD_USERNAME`, else none */
  username?: string | undefined;
  /** Password of {@link username}. Never logged nor put in error messages. @default `ETCD_PASSWORD` */
  password?: string | undefined;
  /** TLS settings; also read from `ETCD_CACERT`, `ETCD_CERT` and `ETCD_KEY` (file paths). */
  tls?: EtcdTlsOptions | undefined;
  /** One attempt of a request fails after this (a request tries each member at most once). @default 5000 */
  requestTimeoutMs?: number | undefined;
  /** First delay before a failed watch connects again; grows exponentially with jitter. @default 250 */
  watchRetryInitialDelayMs?: number | undefined;
  /** Longest delay between failed watch connections. @default 10000 */
  watchRetryMaxDelayMs?: number | undefined;
  /** Where `ETCD_*` variables are read (an empty value counts as unset). @default process.env */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Receives malformed-record warnings and watch state changes; never credentials. @default silent */
  logger?: LoggerLike | undefined;
  /** Random source for the first member tried and for jitter. @default Math.random */
  random?: (() => number) | undefined;
}

/** Settings after defaults and validation. */
export interface EtcdSettings {
  /** Origins (`http(s)://host:port`) of the members, without credentials or path. */
  readonly endpoints: readonly string[];
  readonly namespace: string;
  readonly credentials: { readonly username: string; readonly password: string } | undefined;
  readonly tls: ResolvedTls | undefined;
  readonly requestTimeoutMs: number;
  readonly watchRetryInitialDelayMs: number;
  readonly watchRetryMaxDelayMs: number;
  readonly random: () => number;
}

const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379';
const MAX_ENDPOINTS = 32;

export function resolveSettings(options: EtcdBackendOptions): EtcdSettings {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'an EtcdBackend options object', options);
  const env = options.env ?? process.env;
  if (typeof env !== 'object' || env === null) throw new InvalidArgumentError('env', 'an object of environment variables', env);
  const tls = resolveTls(options.tls, env, { caFile: 'ETCD_CACERT', certFile: 'ETCD_CERT', keyFile: 'ETCD_KEY' });
  const fromEnv = options.endpoints === undefined && nonEmpty(env['ETCD_ENDPOINTS']) !== undefined;
  const endpoints = resolveEndpoints(options.endpoints ?? nonEmpty(env['ETCD_ENDPOINTS']) ?? DEFAULT_ENDPOINT, {
    https: tls !== undefined,
    field: fromEnv ? 'ETCD_ENDPOINTS' : 'endpoints',
  });
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  assertNamespace(namespace);
  const watchRetryInitialDelayMs = durationOption(options.watchRetryInitialDelayMs, 250, 'watchRetryInitialDelayMs', 1, 3_600_000);
  return {
    endpoints,
    namespace,
    credentials: resolveCredentials(options, env),
    tls,
    requestTimeoutMs: durationOption(options.requestTimeoutMs, 5_000, 'requestTimeoutMs', 1, 600_000),
    watchRetryInitialDelayMs,
    watchRetryMaxDelayMs: durationOption(
      options.watchRetryMaxDelayMs,
      Math.max(10_000, watchRetryInitialDelayMs),
      'watchRetryMaxDelayMs',
      watchRetryInitialDelayMs,
      3_600_000,
    ),
    random: randomOption(options.random, 'random'),
  };
}

function resolveEndpoints(value: string | readonly string[], context: { https: boolean; field: string }): string[] {
  const expected = 'etcd client URLs such as http://127.0.0.1:2379, as an array or a comma-separated string';
  const list: unknown[] = typeof value === 'string' ? value.split(',').map((item) => item.trim()) : Array.isArray(value) ? [...(value as unknown[])] : [value];
  if (list.length === 0 || list.length > MAX_ENDPOINTS) throw new InvalidArgumentError(context.field, `1-${MAX_ENDPOINTS} ${expected}`, value);
  const origins = list.map((item, index) => {
    const field = list.length === 1 ? context.field : `${context.field}[${index}]`;
    if (typeof item !== 'string' || item === '') throw new InvalidArgumentError(field, expected, item);
    const withScheme = item.includes('://') ? item : `${context.https ? 'https' : 'http'}://${item}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new InvalidArgumentError(field, expected, item.includes('@') ? '[a URL with credentials]' : item);
    }
    if (url.username !== '' || url.password !== '') {
      // Never echo the value: it holds credentials.
      throw new InvalidArgumentError(field, `${expected}, without credentials (use the username and password options)`, '[a URL with credentials]');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(field, expected, item);
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
      throw new InvalidArgumentError(field, `${expected}, without a path or query`, item);
    }
    return url.origin;
  });
  return [...new Set(origins)];
}

function resolveCredentials(options: EtcdBackendOptions, env: Readonly<Record<string, string | undefined>>): EtcdSettings['credentials'] {
  const username = options.username ?? nonEmpty(env['ETCD_USERNAME']);
  const password = options.password ?? nonEmpty(env['ETCD_PASSWORD']);
  const userField = options.username === undefined ? 'ETCD_USERNAME' : 'username';
  const passwordField = options.password === undefined ? 'ETCD_PASSWORD' : 'password';
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined) throw new InvalidArgumentError('username', 'a user name to go with the password', undefined);
  if (typeof username !== 'string' || !/^[^\s:]{1,128}$/.test(username)) {
    throw new InvalidArgumentError(userField, 'a user name of 1-128 characters without spaces or ":"', username);
  }
  if (password === undefined) throw new InvalidArgumentError(passwordField, `the password of etcd user ${JSON.stringify(username)}`, undefined);
  // The value itself is never echoed.
  if (typeof password !== 'string' || password.length === 0 || password.length > 1_024) {
    throw new InvalidArgumentError(passwordField, 'a password of 1-1024 characters', '[redacted]');
  }
  return { username, password };
}

