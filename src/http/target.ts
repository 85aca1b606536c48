import type { ServiceInstance } from '../core/instance.js';

/**
 * `scheme://host:port` of `instance` for a request that named its service with `scheme`. The
 * instance's own protocol wins when it is `http` or `https` (the registry knows whether the
 * instance speaks TLS); any other protocol (`grpc`, ...) keeps the request's scheme.
 */
export function instanceOriginFor(instance: ServiceInstance, requestProtocol: string): string {
  const protocol = instance.protocol === 'http' || instance.protocol === 'https' ? instance.protocol : requestProtocol.replace(/:$/, '');
  const host = instance.host.includes(':') ? `[${instance.host}]` : instance.host;
  return `${protocol}://${host}:${instance.port}`;
}
