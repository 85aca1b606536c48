/**
 * A registry read shared by concurrent callers and shaped for JSON: what a gateway's services
 * route and a status view answer about the registry. A registry that cannot be read is an answer
 * (`reachable: false` with its error), never a rejection.
 */
import type { RegistryBackend } from '../backends/backend.js';
import { isRollcallError, messageOf } from '../core/errors.js';
import { instanceOrigin, type InstanceStatus, type ServiceInstance } from '../core/instance.js';
import { describeRegistry, type DescribeRegistryOptions, type ServiceHealth, type StatusCounts } from './describe.js';

/** An instance as listings show it: where it is and how it is, without its metadata. */
export interface InstanceSummary {
  readonly id: string;
  /** `protocol://host:port`. */
  readonly url: string;
  readonly status: InstanceStatus;
  readonly zone?: string;
  readonly version?: string;
}

export function summarize(instance: ServiceInstance): InstanceSummary {
  return {
    id: instance.id,
    url: instanceOrigin(instance),
    status: instance.status,
    ...(instance.zone === undefined ? {} : { zone: instance.zone }),
    ...(instance.version === undefined ? {} : { version: instance.version }),
  };
}

/** One service of a {@link RegistryRead}, its instances shown as the reader chose. */
export interface RegistryReadService<Shown> {
  readonly service: string;
  readonly health: ServiceHealth;
  readonly counts: StatusCounts;
  readonly instances: readonly Shown[];
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

/** The registry as read just now, or why it could not be read. */
export type RegistryRead<Shown> =
  | {
      readonly backend: string;
      readonly reachable: true;
      readonly readAt: number;
      readonly instanceCounts: StatusCounts;
      readonly healthCounts: Readonly<Record<ServiceHealth, number>>;
      readonly services: readonly RegistryReadService<Shown>[];
    }
  | { readonly backend: string; readonly reachable: false; readonly error: { readonly code: string; readonly message: string } };

/** Reads `backend` with `describeRegistry`, each instance shown by `show`; concurrent calls share one read. */
export function sharedRegistryRead<Shown>(backend: RegistryBackend, options: DescribeRegistryOptions, show: (instance: ServiceInstance) => Shown): () => Promise<RegistryRead<Shown>> {
  let reading: Promise<RegistryRead<Shown>> | undefined;
  return () => {
    reading ??= describeRegistry(backend, options)
      .then(
        (registry): RegistryRead<Shown> => ({
          backend: registry.backend,
          reachable: true,
          readAt: registry.readAt,
          instanceCounts: registry.instanceCounts,
          healthCounts: registry.healthCounts,
          services: registry.services.map(({ service, health, counts, instances, error }) => ({
            service,
            health,
            counts,
            instances: instances.map(show),
            ...(error === undefined ? {} : { error }),
          })),
        }),
        (error: unknown): RegistryRead<Shown> => ({
          backend: backend.kind,
          reachable: false,
          error: { code: isRollcallError(error) ? error.code : 'REGISTRY_UNAVAILABLE', message: messageOf(error) },
        }),
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };
}
