/**
 * Deregistering one instance on an operator's behalf, shared by `rollcall deregister` and the
 * dashboard's opt-in button: the instance must be listed first, and is read back afterwards, since
 * a registry may accept the call and keep the instance (a Consul agent deregisters only the
 * services registered with it, a live process registers again).
 */
import type { RegistryBackend } from '../backends/backend.js';
import { InvalidArgumentError } from '../core/errors.js';
import { INSTANCE_ID_PATTERN, assertServiceName, type InstanceRef, type ServiceInstance } from '../core/instance.js';
import { CliError, EXIT } from './exit-codes.js';

/** `service` and `id` as an instance reference; `INVALID_ARGUMENT` naming the one that is not valid. */
export function instanceArguments(service: unknown, id: unknown): InstanceRef {
  assertServiceName(service, 'service');
  if (typeof id !== 'string' || !INSTANCE_ID_PATTERN.test(id)) {
    throw new InvalidArgumentError('id', 'an instance id of 1-128 characters from A-Z a-z 0-9 . _ : - starting with a letter or digit', id);
  }
  return { service, id };
}

/** The listed instance `service/id`; exit code 5 (not found) when the registry does not list it. */
export async function listedInstance(backend: RegistryBackend, service: string, id: string, registry: string): Promise<ServiceInstance> {
  const instance = (await backend.instances(service)).find((candidate) => candidate.id === id);
  if (instance === undefined) {
    throw new CliError(EXIT.notFound, `the registry lists no instance ${service}/${id} (${registry}); see rollcall instances ${service}`);
  }
  return instance;
}

/** Deregisters `service/id` and reads the service back; exit code 4 (refused) when it is still listed. */
export async function deregisterAndConfirm(backend: RegistryBackend, service: string, id: string): Promise<void> {
  await backend.deregister({ service, id });
  if ((await backend.instances(service)).some((instance) => instance.id === id)) {
    throw new CliError(
      EXIT.refused,
      `the registry accepted the deregistration but still lists ${service}/${id}: it was registered elsewhere (a Consul agent deregisters only the services registered with it) or registered again at once`,
    );
  }
}
