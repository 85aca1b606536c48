/**
 * Consul's HTTP 400 means the request itself is wrong: sending it again cannot succeed, so it is
 * not an outage. Each becomes an {@link InvalidArgumentError} naming what rollcall sent that Consul
 * refused, recognised by the texts of agent/agent_endpoint.go (`AgentRegisterService`,
 * `AgentCheckUpdate`) and of the Enterprise-parameter checks of the community edition.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { ServiceInstance } from '../../core/instance.js';

/** What the refused request carried, to name the offending value. */
export interface RejectedRequest {
  readonly operation: string;
  /** Path of the request, named when nothing more precise can be. */
  readonly path: string;
  readonly instance?: ServiceInstance | undefined;
  readonly ttlMs?: number | undefined;
  readonly status?: string | undefined;
  readonly consulNamespace?: string | undefined;
  readonly partition?: string | undefined;
}

interface Rule {
  readonly pattern: RegExp;
  readonly target: (request: RejectedRequest, match: RegExpExecArray) => { field: string; received: unknown };
}

const RULES: readonly Rule[] = [
  {
    // "Invalid Service Meta: Couldn't load metadata pair ('key', 'value'): Value is too long ..."
    pattern: /^Invalid Service Meta: Couldn't load metadata pair \('([^']*)'/,
    target: (request, match) => {
      const key = match[1] ?? '';
      return { field: `instance.meta.${key}`, received: request.instance?.meta[key] };
    },
  },
  { pattern: /^Invalid Service Meta/, target: (request) => ({ field: 'instance.meta', received: request.instance?.meta }) },
  { pattern: /^Invalid service address/, target: (request) => ({ field: 'instance.host', received: request.instance?.host }) },
  { pattern: /^Invalid Weights/, target: (request) => ({ field: 'instance.weight', received: request.instance?.weight }) },
  { pattern: /^Missing service name/, target: (request) => ({ field: 'instance.service', received: request.instance?.service }) },
  { pattern: /^(Invalid check:|Status for checks must)/, target: (request) => ({ field: 'lease.ttlMs', received: request.ttlMs }) },
  { pattern: /^Invalid check status/, target: (request) => ({ field: 'status', received: request.status }) },
  { pattern: /Namespaces are a Consul Enterprise feature/, target: (request) => ({ field: 'consulNamespace', received: request.consulNamespace }) },
  { pattern: /Partitions are a Consul Enterprise feature/, target: (request) => ({ field: 'partition', received: request.partition }) },
];

/** The typed error for Consul's 400 answer `text` (already scrubbed of the token). */
export function rejection(request: RejectedRequest, text: string): InvalidArgumentError {
  for (const rule of RULES) {
    const match = rule.pattern.exec(text);
    if (match === null) continue;
    const { field, received } = rule.target(request, match);
    return new InvalidArgumentError(field, 'a value Consul accepts', received, `Consul refused ${request.operation} with 400: ${text}`);
  }
  return new InvalidArgumentError(
    request.instance === undefined ? 'request' : 'instance',
    'a request Consul accepts',
    request.path,
    `Consul refused ${request.operation} with 400: ${text}`,
  );
}
