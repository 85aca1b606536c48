/** The registry the command-line tests read: three services in every state a reader must show. */
import { createInstance, type InstanceStatus, type RegistryBackend, type ServiceInstance } from '../../src/index.js';

/** When every fleet instance registered: three hours ago, so ages read `3h`. */
/** What `rollcall services` prints for the fleet {@link registerFleet} registers, on every registry. */
export const FLEET_SERVICES_TABLE = [
  'SERVICE       HEALTH    INSTANCES  PASSING',
  'auth_service  critical          1        0',
  'orders        passing           3        2',
  'payments      warning           1        0',
  '',
  '3 services, 5 instances',
  '',
].join('\n');

export const REGISTERED_AGO_MS = 3 * 3_600_000;

const FLEET: readonly (readonly [service: string, id: string, port: number, status: InstanceStatus, zone?: string, version?: string])[] = [
  ['orders', 'orders-1', 3001, 'passing', 'eu-west-1a', '1.4.2'],
  ['orders', 'orders-2', 3002, 'passing', 'eu-west-1b', '1.4.2'],
  ['orders', 'orders-3', 3003, 'critical', 'eu-west-1a', '1.5.0-rc.1'],
  ['payments', 'pay-1', 4001, 'warning'],
  ['auth_service', 'auth-1', 5001, 'critical'],
];

export function fleetInstance(service: string, id: string, port: number, status: InstanceStatus, zone?: string, version?: string): ServiceInstance {
  return createInstance(
    { id, service, host: '127.0.0.1', port, status, ...(zone === undefined ? {} : { zone }), ...(version === undefined ? {} : { version }) },
    Date.now() - REGISTERED_AGO_MS,
  );
}

/** Registers the fleet on `backend` with a long lease; returns what was registered. */
export async function registerFleet(backend: RegistryBackend): Promise<ServiceInstance[]> {
  const instances = FLEET.map((entry) => fleetInstance(...entry));
  for (const instance of instances) await backend.register(instance, { ttlMs: 600_000 });
  return instances;
}
