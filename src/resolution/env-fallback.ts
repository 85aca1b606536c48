/**
 * The last tier before giving up: instances named by environment variables. Convention: service
 * `orders` reads `ORDERS_URL`, `ip-intel` reads `IP_INTEL_URL`; the value is one URL or a
 * comma-separated list (`http://10.0.0.5:8080,http://10.0.0.6:8080`), each `scheme://host[:port]`.
 *
 * The environment is operator input: a value that cannot be used fails the tier with the reason,
 * never throws, and is never half-used (a URL whose path or query would be dropped is refused).
 */
import { createInstance, type ServiceInstance } from '../core/instance.js';
import { InvalidArgumentError, describeValue, messageOf } from '../core/errors.js';

/** Options of the environment fallback tier. */
export interface EnvFallbackOptions {
  /** Maps a service name to the variable holding its URLs. @default {@link defaultEnvVariable} */
  variable?: ((service: string) => string) | undefined;
  /** Where variables are read, at lookup time. @default process.env */
  env?: Readonly<Record<string, string | undefined>> | undefined;
}

/**
 * `orders` → `ORDERS_URL`, `ip-intel` → `IP_INTEL_URL`, `auth_service` → `AUTH_SERVICE_URL`,
 * `orders.api` → `ORDERS_API_URL`: upper case, `-` and `.` become `_`. Names differing only in case
 * or in those three characters (`a_b`, `a-b`, `a.b`, `A_B`) share one variable; pass `variable`
 * to tell them apart.
 */
export function defaultEnvVariable(service: string): string {
  return `${service.toUpperCase().replace(/[-.]/g, '_')}_URL`;
}

/**
 * The checked `envFallback` option: `undefined` when the tier is off. Throws
 * {@link InvalidArgumentError} for anything but a boolean or `{ variable?: function, env?: object }`.
 */
export function envFallbackOption(value: boolean | EnvFallbackOptions | undefined, field: string): EnvFallbackOptions | undefined {
  if (value === undefined || value === true) return {};
  if (value === false) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(field, 'true, false or { variable?: (service) => name, env?: object }', value);
  }
  const { variable, env } = value;
  if (variable !== undefined && typeof variable !== 'function') {
    throw new InvalidArgumentError(`${field}.variable`, 'a function from a service name to a variable name, e.g. (service) => "ORDERS_URL"', variable);
  }
  if (env !== undefined && (typeof env !== 'object' || env === null || Array.isArray(env))) {
    throw new InvalidArgumentError(`${field}.env`, 'an object of variables such as process.env', env);
  }
  return value;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ws: 80, wss: 443 };
// The URL parser silently drops tabs and line breaks inside a URL; a value holding them is refused.
const CONTROL_CHARACTER = /\p{Cc}/u;

/** Instances from the environment, or the reason there are none. */
export type EnvLookup =
  | { readonly ok: true; readonly variable: string; readonly instances: readonly ServiceInstance[] }
  | { readonly ok: false; readonly reason: string };

/** Reads the instances of `service` from the environment. Never throws: an unusable value is a reason. */
export function lookupEnv(service: string, options: EnvFallbackOptions, now: number): EnvLookup {
  let variable: unknown;
  try {
    variable = (options.variable ?? defaultEnvVariable)(service);
  } catch (error) {
    return { ok: false, reason: `envFallback.variable threw for ${service}: ${messageOf(error)}` };
  }
  if (typeof variable !== 'string' || variable === '') {
    return { ok: false, reason: `envFallback.variable returned ${describeValue(variable)} for ${service}, expected a variable name` };
  }
  const env = options.env ?? process.env;
  // Own variables only: `constructor` or `__proto__` must not read Object.prototype.
  const value: unknown = Object.hasOwn(env, variable) ? env[variable] : undefined;
  if (value === undefined || (typeof value === 'string' && value.trim() === '')) return { ok: false, reason: `${variable} is not set` };
  if (typeof value !== 'string') return { ok: false, reason: `${variable} holds ${describeValue(value)}, expected a string of URLs` };
  const urls = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (urls.length === 0) return { ok: false, reason: `${variable} lists no URL` };
  const instances: ServiceInstance[] = [];
  for (const [index, text] of urls.entries()) {
    const unusable = (why: string): EnvLookup => ({ ok: false, reason: `${variable} entry ${index + 1} (${describeValue(text)}) is not usable: ${why}` });
    const parsed = parseUrl(text);
    if (typeof parsed === 'string') return unusable(parsed);
    try {
      instances.push(
        createInstance(
          {
            id: `env-${index}`,
            service,
            host: parsed.host,
            port: parsed.port,
            protocol: parsed.protocol,
            tags: ['env'],
            meta: { source: 'env', variable: variable.slice(0, 128) },
          },
          now,
        ),
      );
    } catch (error) {
      return unusable(messageOf(error));
    }
  }
  return { ok: true, variable, instances };
}

function parseUrl(text: string): { protocol: string; host: string; port: number } | string {
  if (CONTROL_CHARACTER.test(text)) return 'expected no control characters (tabs, line breaks)';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an absolute URL such as http://host:8080';
  }
  if (url.hostname === '') return 'expected an absolute URL such as http://host:8080';
  const protocol = url.protocol.slice(0, -1);
  if (url.pathname !== '/' && url.pathname !== '') return 'expected no path: rollcall appends the request path itself';
  if (url.search !== '') return 'expected no query (?...): rollcall appends the request path and query itself';
  if (url.hash !== '') return 'expected no fragment (#...)';
  if (url.username !== '' || url.password !== '') return 'expected no credentials in the URL';
  const port = url.port === '' ? DEFAULT_PORTS[protocol] : Number(url.port);
  if (port === undefined) return `expected a port: ${protocol} has no default port`;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { protocol, host, port };
}
