/**
 * Consul's ACL enforcement, as the double needs it: token lookup (`ACL not found`), service and
 * node rules with exact and prefix matches, the default policy, and the modern `Permission
 * denied` texts. Policies are given as data instead of HCL rules.
 */

export type Access = 'read' | 'write' | 'deny';

/** The double's form of an ACL policy: `service "web" { policy = "write" }` is `{ service: { web: 'write' } }`. */
export interface AclPolicy {
  readonly service?: Readonly<Record<string, Access>> | undefined;
  readonly servicePrefix?: Readonly<Record<string, Access>> | undefined;
  readonly node?: Readonly<Record<string, Access>> | undefined;
  readonly nodePrefix?: Readonly<Record<string, Access>> | undefined;
  readonly agent?: Readonly<Record<string, Access>> | undefined;
  readonly agentPrefix?: Readonly<Record<string, Access>> | undefined;
}

export interface AclOptions {
  /** `acl.default_policy`. */
  readonly defaultPolicy: 'allow' | 'deny';
  /** Secret ID → token. */
  readonly tokens: Readonly<Record<string, { readonly accessorId: string; readonly policy: AclPolicy }>>;
  /** What requests without a token may do. @default {} (the default policy) */
  readonly anonymous?: AclPolicy | undefined;
}

export const ANONYMOUS_ACCESSOR_ID = '00000000-0000-0000-0000-000000000002';

export class AclError extends Error {}

/** A resolved token: answers permission questions. */
export class Authorizer {
  readonly #policy: AclPolicy;
  readonly #defaultPolicy: 'allow' | 'deny';
  /** `undefined` for the anonymous token. */
  readonly accessorId: string | undefined;
  /** Whether the request carried a token (for `X-Consul-Results-Filtered-By-ACLs`). */
  readonly supplied: boolean;

  constructor(policy: AclPolicy, defaultPolicy: 'allow' | 'deny', accessorId: string | undefined, supplied: boolean) {
    this.#policy = policy;
    this.#defaultPolicy = defaultPolicy;
    this.accessorId = accessorId;
    this.supplied = supplied;
  }

  /** An authorizer that allows everything: ACLs disabled. */
  static allowAll(): Authorizer {
    return new Authorizer({}, 'allow', undefined, false);
  }

  allowed(resource: 'service' | 'node' | 'agent', name: string, need: 'read' | 'write'): boolean {
    const exact = resource === 'service' ? this.#policy.service : resource === 'node' ? this.#policy.node : this.#policy.agent;
    const prefixes = resource === 'service' ? this.#policy.servicePrefix : resource === 'node' ? this.#policy.nodePrefix : this.#policy.agentPrefix;
    let access: Access | undefined = exact?.[name];
    if (access === undefined) {
      let longest = -1;
      for (const [prefix, rule] of Object.entries(prefixes ?? {})) {
        if (name.startsWith(prefix) && prefix.length > longest) {
          longest = prefix.length;
          access = rule;
        }
      }
    }
    if (access === undefined) return this.#defaultPolicy === 'allow';
    return access === 'write' || (access === 'read' && need === 'read');
  }

  /** Throws the modern `Permission denied` error unless `need` is allowed. */
  require(resource: 'service' | 'node' | 'agent', name: string, need: 'read' | 'write'): void {
    if (this.allowed(resource, name, need)) return;
    const permission = `'${resource}:${need}' on ${JSON.stringify(name)}`;
    throw new AclError(
      this.accessorId === undefined
        ? `Permission denied: anonymous token lacks permission ${permission}. The anonymous token is used implicitly when a request does not specify a token.`
        : `Permission denied: token with AccessorID '${this.accessorId}' lacks permission ${permission}`,
    );
  }
}

/**
 * Resolves the token of a request; throws `ACL not found` for an unknown secret. With ACLs
 * disabled every token is ignored.
 */
export function resolveToken(acl: AclOptions | undefined, secret: string | undefined): Authorizer {
  if (acl === undefined) return Authorizer.allowAll();
  if (secret === undefined) return new Authorizer(acl.anonymous ?? {}, acl.defaultPolicy, undefined, false);
  const token = acl.tokens[secret];
  if (token === undefined) throw new AclError('ACL not found');
  return new Authorizer(token.policy, acl.defaultPolicy, token.accessorId, true);
}

/**
 * The request's token by Consul's precedence: `?token=`, then `X-Consul-Token`, then
 * `Authorization: Bearer` (scheme case-insensitive, first word only; other schemes ignored).
 */
export function tokenOf(query: URLSearchParams, headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  const fromQuery = query.get('token');
  if (fromQuery !== null && fromQuery !== '') return fromQuery;
  const header = first(headers['x-consul-token']);
  if (header !== undefined && header !== '') return header;
  const authorization = first(headers['authorization'])?.trim();
  if (authorization === undefined) return undefined;
  const [scheme, value] = authorization.split(/\s+/);
  if (scheme?.toLowerCase() !== 'bearer' || value === undefined || value === '') return undefined;
  return value;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
