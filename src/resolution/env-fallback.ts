/**
 * The last tier before giving up: instances named by environment variables. Convention: service
 * `orders` reads `ORDERS_URL`, `ip-intel` reads `IP_INTEL_URL`; the value is one URL or a
 * comma-separated list (`http://10.0.0.5:8080,http://10.0.0.6:8080`).
 */
import { createInstance, type ServiceInstance } from '../core/instance.js';
import { messageOf } from '../core/errors.js';

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

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ws: 80, wss: 443 };

/** Instances from the environment, or the reason there are none. */
export type EnvLookup =
  | { readonly ok: true; readonly variable: string; readonly instances: readonly ServiceInstance[] }
  | { readonly ok: false; readonly reason: string };

export function lookupEnv(service: string, options: EnvFallbackOptions, now: number): EnvLookup {
  const variable = (options.variable ?? defaultEnvVariable)(service);
  const value = (options.env ?? process.env)[variable];
  if (value === undefined || value.trim() === '') return { ok: false, reason: `${variable} is not set` };
  const urls = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  const instances: ServiceInstance[] = [];
  for (const [index, text] of urls.entries()) {
    const parsed = parseUrl(text);
    if (typeof parsed === 'string') {
      return { ok: false, reason: `${variable} entry ${index + 1} (${JSON.stringify(text)}) is not usable: ${parsed}` };
    }
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
            meta: { source: 'env', variable },
          },
          now,
        ),
      );
    } catch (error) {
      return { ok: false, reason: `${variable} entry ${index + 1} (${JSON.stringify(text)}) is not usable: ${messageOf(error)}` };
    }
  }
  return { ok: true, variable, instances };
}

function parseUrl(text: string): { protocol: string; host: string; port: number } | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an absolute URL such as http://host:8080';
  }
  const protocol = url.protocol.slice(0, -1);
  if (url.pathname !== '/' && url.pathname !== '') return 'expected no path: rollcall appends the request path itself';
  if (url.username !== '' || url.password !== '') return 'expected no credentials in the URL';
  const port = url.port === '' ? DEFAULT_PORTS[protocol] : Number(url.port);
  if (port === undefined) return `expected a port: ${protocol} has no default port`;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { protocol, host, port };
}
