/**
 * `rollcall/dns`: a read-only backend on DNS SRV records (Consul DNS, Kubernetes headless
 * services, plain zones), through node:dns.
 *
 * @example
 * import { DnsBackend, consulDnsName } from 'rollcall/dns';
 * const backend = new DnsBackend({ servers: ['127.0.0.1:8600'], name: consulDnsName({ datacenter: 'dc1' }) });
 *
 * @module rollcall/dns
 */
export { DnsBackend, type DnsBackendStats } from './dns-backend.js';
export type { DnsBackendOptions } from './options.js';
export { ReadOnlyRegistryError } from './errors.js';
export { DNS_LABEL_PATTERN, consulDnsName, kubernetesDnsName } from './names.js';
