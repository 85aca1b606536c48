/**
 * A registry-wide read: every service, its instances and their statuses, in one call. What a
 * gateway's `/services` route, a status page or a command-line tool shows. It reads through the
 * backend contract only (`services()`, then `instances()` per service), so it works on every
 * backend, and one service that cannot be read never hides the others.
 */
import type { RegistryBackend } from '../backends/backend.js';
import { systemClock, unrefTimeout, type Clock } from '../core/clock.js';
import { InvalidArgumentError, RegistryUnavailableError, describeValue, isRollcallError, messageOf } from '../core/errors.js';
import { INSTANCE_STATUSES, assertServiceName, type InstanceStatus, type ServiceInstance } from '../core/instance.js';
import { clockOption, durationOption, integerOption, objectOption } from '../core/options.js';

/**
 * A service's health as a caller sees it: the best status among its instances, since a resolver
 * routes to the best it can find. `passing`: some instance is passing. `warning`: none passing,
 * some warning. `critical`: instances are listed but none is passing or warning (all critical or
 * draining), so callers get `SERVICE_UNAVAILABLE`. `no-instances`: the registry lists none.
 * `unknown`: its instances could not be read (see {@link ServiceDescription.error}).
 */
export type ServiceHealth = 'passing' | 'warning' | 'critical' | 'no-instances' | 'unknown';

/** Every {@link ServiceHealth}, best first. */
export const SERVICE_HEALTHS: readonly ServiceHealth[] = ['passing', 'warning', 'critical', 'no-instances', 'unknown'];

/** How many instances have each status. */
export type StatusCounts = Readonly<Record<InstanceStatus, number>>;

/** Options of {@link describeRegistry}. */
export interface DescribeRegistryOptions {
  /** Services whose instances are read at the same time, 1 to 256. @default 8 */
  concurrency?: number | undefined;
  /**
   * Deadline of each registry call, in milliseconds: `services()`, and `instances()` of each
   * service. A service whose read misses it is reported `unknown`; the read goes on. @default 2000
   */
  timeoutMs?: number | undefined;
  /** Time source of {@link RegistryDescription.readAt}. @default Date.now */
  clock?: Clock | undefined;
}

/** One service as the registry lists it. */
export interface ServiceDescription {
  readonly service: string;
  readonly health: ServiceHealth;
  /** Its live instances, any status, sorted by id; empty when they could not be read. */
  readonly instances: readonly ServiceInstance[];
  readonly counts: StatusCounts;
  /** Why the instances could not be read (`health: 'unknown'`): the error's code and message. */
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

/** The whole registry, as {@link describeRegistry} read it. */
export interface RegistryDescription {
  /** `kind` of the backend read (`memory`, `redis`, `consul`, ...). */
  readonly backend: string;
  /** When the read started (epoch ms). */
  readonly readAt: number;
  /** Every service the registry listed, sorted by name (code unit order, so `Orders` before `auth`). */
  readonly services: readonly ServiceDescription[];
  /** Instances per status, all services together. */
  readonly instanceCounts: StatusCounts;
  /** Services per health. */
  readonly healthCounts: Readonly<Record<ServiceHealth, number>>;
}

/**
 * Reads every service of `backend` with its instances and their statuses: `services()`, then
 * `instances()` of each service, `concurrency` at a time, each call within `timeoutMs`. A service
 * whose instances cannot be read is reported with health `unknown` and the error; the others are
 * read anyway. Rejects only when the list of services itself cannot be read (with the backend's
 * error, or `REGISTRY_UNAVAILABLE` when it does not answer in time), and with
 * `INVALID_ARGUMENT` for a bad backend or options.
 *
 * @example
 * const registry = await describeRegistry(backend);
 * for (const { service, health, counts } of registry.services) console.log(service, health, counts.passing);
 */
export async function describeRegistry(backend: RegistryBackend, options?: DescribeRegistryOptions): Promise<RegistryDescription> {
  assertBackend(backend);
  const settings = describeSettings(options);
  const readAt = settings.clock.now();

  let names: string[];
  try {
    names = await withDeadline(backend.services(), settings.timeoutMs, backend.kind, 'services');
    if (!Array.isArray(names)) throw new Error(`answered ${describeValue(names)} instead of a list of names`);
  } catch (error) {
    if (isRollcallError(error)) throw error;
    throw new RegistryUnavailableError(backend.kind, 'services', messageOf(error), { cause: error });
  }
  return describeNames(backend, names, settings, readAt);
}

/**
 * {@link describeRegistry} for the named services only, without asking the registry for its list
 * of services: for a check of a few services, and for registries that cannot list them (DNS). A
 * service the registry has no instance of is described as `no-instances`. Never rejects for a
 * registry failure (each service is then `unknown`), only with `INVALID_ARGUMENT` for a bad
 * backend, name or option.
 */
export async function describeServices(backend: RegistryBackend, services: readonly string[], options?: DescribeRegistryOptions): Promise<RegistryDescription> {
  assertBackend(backend);
  if (!Array.isArray(services)) throw new InvalidArgumentError('services', 'an array of service names', services);
  services.forEach((service, index) => assertServiceName(service, `services[${index}]`));
  const settings = describeSettings(options);
  return describeNames(backend, services, settings, settings.clock.now());
}

function assertBackend(backend: RegistryBackend): void {
  if (typeof backend?.services !== 'function' || typeof backend.instances !== 'function') {
    throw new InvalidArgumentError('backend', 'a RegistryBackend', backend);
  }
}

/** Reads the instances of each of `names` (deduplicated, sorted), `concurrency` at a time, and counts them. */
async function describeNames(
  backend: RegistryBackend,
  names: readonly string[],
  { concurrency, timeoutMs }: { concurrency: number; timeoutMs: number },
  readAt: number,
): Promise<RegistryDescription> {
  const sorted = [...new Set(names)].sort(byCodeUnits);
  const services = new Array<ServiceDescription>(sorted.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sorted.length) {
      const index = next++;
      services[index] = await describeService(backend, sorted[index] as string, timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sorted.length) }, worker));

  const instanceCounts = zeroCounts();
  const healthCounts = Object.fromEntries(SERVICE_HEALTHS.map((health) => [health, 0])) as Record<ServiceHealth, number>;
  for (const description of services) {
    healthCounts[description.health]++;
    for (const status of INSTANCE_STATUSES) instanceCounts[status] += description.counts[status];
  }
  return { backend: backend.kind, readAt, services, instanceCounts, healthCounts };
}

/** {@link DescribeRegistryOptions} checked, with defaults applied; `field` names them in errors. */
export function describeSettings(options: DescribeRegistryOptions | undefined, field = 'describeRegistry options'): Required<{ [K in keyof DescribeRegistryOptions]: NonNullable<DescribeRegistryOptions[K]> }> {
  const opts = objectOption(options, field);
  return {
    concurrency: integerOption(opts.concurrency, 8, `${field}.concurrency`, 1, 256),
    timeoutMs: durationOption(opts.timeoutMs, 2_000, `${field}.timeoutMs`, 1),
    clock: clockOption(opts.clock, systemClock, `${field}.clock`),
  };
}

async function describeService(backend: RegistryBackend, service: string, timeoutMs: number): Promise<ServiceDescription> {
  let listed: ServiceInstance[];
  try {
    listed = await withDeadline(backend.instances(service), timeoutMs, backend.kind, `instances(${service})`);
    if (!Array.isArray(listed)) throw new RegistryUnavailableError(backend.kind, `instances(${service})`, `answered ${describeValue(listed)} instead of a list`);
  } catch (error) {
    const code = isRollcallError(error) ? error.code : 'REGISTRY_UNAVAILABLE';
    return { service, health: 'unknown', instances: [], counts: zeroCounts(), error: { code, message: messageOf(error) } };
  }
  const instances = [...listed].sort((a, b) => byCodeUnits(a.id, b.id));
  const counts = zeroCounts();
  for (const instance of instances) counts[instance.status]++;
  return { service, health: healthOf(counts, instances.length), instances, counts };
}

/** The {@link ServiceHealth} of a service with `total` instances counted per status in `counts`. */
export function healthOf(counts: StatusCounts, total: number): ServiceHealth {
  if (total === 0) return 'no-instances';
  if (counts.passing > 0) return 'passing';
  if (counts.warning > 0) return 'warning';
  return 'critical';
}

function zeroCounts(): Record<InstanceStatus, number> {
  return { passing: 0, warning: 0, critical: 0, draining: 0 };
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `operation`, or `REGISTRY_UNAVAILABLE` once `timeoutMs` passed (the call itself is left to finish). */
async function withDeadline<T>(operation: Promise<T>, timeoutMs: number, kind: string, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = unrefTimeout(() => reject(new RegistryUnavailableError(kind, name, `no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([operation, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
