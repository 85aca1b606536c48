/**
 * Service names as DNS needs them, and the SRV names looked up for them. A service is one DNS
 * label here (letters, digits and `-`, 1 to 63 characters, not starting or ending with `-`): the
 * broader names rollcall accepts elsewhere (`auth_service`, `orders.api`) are refused with an error
 * naming the offending character, since no DNS-based registry can serve them as one label.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { assertServiceName } from '../../core/instance.js';

/** RFC 1123 labels, as Kubernetes and Consul DNS serve service names. */
export const DNS_LABEL_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** The placeholder a name template must hold once. */
export const SERVICE_PLACEHOLDER = '{service}';

const NAME_PATTERN = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

/** Throws {@link InvalidArgumentError} unless `service` is a service name that is also a DNS label. */
export function assertDnsServiceName(service: unknown, field = 'service'): asserts service is string {
  assertServiceName(service, field);
  if (DNS_LABEL_PATTERN.test(service)) return;
  const expected = 'a service name that is a DNS label: 1-63 letters, digits or "-", not starting or ending with "-" (the DNS backend looks it up as one label)';
  const at = [...service].findIndex((char) => !/[A-Za-z0-9-]/.test(char));
  const problem =
    at >= 0
      ? `character "${[...service][at] as string}" at position ${at + 1} cannot be part of a DNS label`
      : service.length > 63
        ? `the name has ${service.length} characters, a DNS label at most 63`
        : 'a DNS label neither starts nor ends with "-"';
  throw new InvalidArgumentError(field, expected, service, problem);
}

/**
 * Checks a name template: a DNS name holding `{service}` once (`_http._tcp.{service}.default.svc.cluster.local`,
 * `{service}.service.dc1.consul`). Returns it without a trailing dot.
 */
export function assertNameTemplate(template: unknown, field: string): string {
  const expected = `a DNS name holding ${SERVICE_PLACEHOLDER} once, such as "${SERVICE_PLACEHOLDER}.service.dc1.consul" or "_http._tcp.${SERVICE_PLACEHOLDER}.default.svc.cluster.local"`;
  if (typeof template !== 'string' || template.split(SERVICE_PLACEHOLDER).length !== 2) throw new InvalidArgumentError(field, expected, template);
  const sample = template.replace(SERVICE_PLACEHOLDER, 'service');
  if (sample.length > 253 || !NAME_PATTERN.test(sample)) throw new InvalidArgumentError(field, expected, template);
  return template.endsWith('.') ? template.slice(0, -1) : template;
}

/** The SRV name of `service` under `template`. */
export function srvName(template: string, service: string): string {
  return template.replace(SERVICE_PLACEHOLDER, service);
}

/**
 * The name template of Consul's DNS interface: `{service}.service[.<datacenter>].<domain>`.
 * Consul answers SRV queries for it with one record per healthy instance.
 *
 * @example consulDnsName({ datacenter: 'dc1' }) // '{service}.service.dc1.consul'
 */
export function consulDnsName(options: { datacenter?: string | undefined; domain?: string | undefined; tag?: string | undefined } = {}): string {
  const parts = [options.tag === undefined ? undefined : options.tag, SERVICE_PLACEHOLDER, 'service', options.datacenter, options.domain ?? 'consul'];
  return assertNameTemplate(parts.filter((part) => part !== undefined).join('.'), 'consulDnsName');
}

/**
 * The name template of a Kubernetes service's named port:
 * `_<port>._<protocol>.{service}.<namespace>.svc.<domain>`. Headless services answer with one
 * record per ready pod, others with the service's cluster IP.
 *
 * @example kubernetesDnsName({ port: 'http', namespace: 'shop' }) // '_http._tcp.{service}.shop.svc.cluster.local'
 */
export function kubernetesDnsName(options: { port: string; protocol?: 'tcp' | 'udp' | 'sctp' | undefined; namespace?: string | undefined; domain?: string | undefined }): string {
  const name = `_${options.port}._${options.protocol ?? 'tcp'}.${SERVICE_PLACEHOLDER}.${options.namespace ?? 'default'}.svc.${options.domain ?? 'cluster.local'}`;
  return assertNameTemplate(name, 'kubernetesDnsName');
}
