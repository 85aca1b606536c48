/**
 * What the backends' option resolvers share: values taken from options or, when absent, from
 * environment variables (an empty variable counts as unset), files those variables name, and the
 * TLS settings built from both.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, messageOf } from '../core/errors.js';

/** TLS options a backend takes (its TSDoc names the environment variables that fill them). */
export interface TlsOptions {
  ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  servername?: string | undefined;
  rejectUnauthorized?: boolean | undefined;
}

/** TLS settings after defaults and validation, as undici's connector takes them. */
export interface ResolvedTls {
  readonly ca?: string | Buffer | (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

/** The environment variables that name TLS files, and where else a server name or verification setting comes from. */
export interface TlsSources {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** A variable holding the server name. @default none */
  readonly servernameVariable?: string | undefined;
  /** Reads the verification setting from the environment, undefined when unset. @default none */
  readonly verifyFromEnv?: (() => boolean | undefined) | undefined;
}

const HOST_NAME = /^[A-Za-z0-9.-]{1,253}$/;

/** `value`, or undefined for an unset or empty variable. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The text of the file at `path`, named by `variable`; a file that cannot be read is an InvalidArgumentError naming it. */
export function readTextFile(path: string, variable: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(variable, `a readable file (${messageOf(error)})`, path);
  }
}

/** TLS settings from `option` and the variables of `sources`; undefined when neither asks for anything. */
export function resolveTls(option: TlsOptions | undefined, env: Readonly<Record<string, string | undefined>>, sources: TlsSources): ResolvedTls | undefined {
  if (option !== undefined && (typeof option !== 'object' || option === null)) throw new InvalidArgumentError('tls', 'a TLS options object', option);
  const fromFile = (variable: string): string | undefined => {
    const path = nonEmpty(env[variable]);
    return path === undefined ? undefined : readTextFile(path, variable);
  };
  const ca = option?.ca ?? fromFile(sources.caFile);
  const cert = option?.cert ?? fromFile(sources.certFile);
  const key = option?.key ?? fromFile(sources.keyFile);
  const envServername = sources.servernameVariable === undefined ? undefined : nonEmpty(env[sources.servernameVariable]);
  const servername = option?.servername ?? envServername;
  if (servername !== undefined && (typeof servername !== 'string' || !HOST_NAME.test(servername))) {
    throw new InvalidArgumentError(option?.servername === undefined ? (sources.servernameVariable as string) : 'tls.servername', 'a host name', servername);
  }
  const verify = option?.rejectUnauthorized ?? sources.verifyFromEnv?.() ?? true;
  if (typeof verify !== 'boolean') throw new InvalidArgumentError('tls.rejectUnauthorized', 'a boolean', verify);
  if ((cert === undefined) !== (key === undefined)) {
    throw new InvalidArgumentError('tls', 'cert and key together, or neither', cert === undefined ? 'a key without a cert' : 'a cert without a key');
  }
  if (option === undefined && ca === undefined && cert === undefined && servername === undefined && verify) return undefined;
  return {
    ...(ca === undefined ? {} : { ca: Array.isArray(ca) ? [...(ca as (string | Buffer)[])] : (ca as string | Buffer) }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(servername === undefined ? {} : { servername }),
    rejectUnauthorized: verify,
  };
}
