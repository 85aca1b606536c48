/**
 * What an exporter observes: resolvers, registrations and backends passed in, or a lifespan
 * (`app.rollcall`) whose parts are read at every collection, since its registration appears only
 * once the server listens.
 */
import type { RegistryBackend } from '../backends/backend.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { RollcallHandle } from '../integrations/handle.js';
import type { Registration } from '../registration/registration.js';
import type { Resolver } from '../resolution/resolver.js';

/** What a metrics exporter reads. Every part is optional; pass arrays for several. */
export interface ObservedParts {
  /** Resolvers whose counters and cache are read at every collection. */
  resolver?: Resolver | readonly Resolver[] | undefined;
  /** Registrations whose state and heartbeats are read at every collection. */
  registration?: Registration | readonly Registration[] | undefined;
  /** Backends whose counters (`stats()`: malformed records, watches, reconnects) are read at every collection. */
  backend?: RegistryBackend | readonly RegistryBackend[] | undefined;
  /** Lifespans or framework handles (`app.rollcall`): their resolver, backend and registration, once registered. */
  lifespan?: RollcallHandle | readonly RollcallHandle[] | undefined;
}

/** The parts, resolved at collection time, each object once. */
export interface Parts {
  resolvers(): Resolver[];
  registrations(): Registration[];
  backends(): RegistryBackend[];
}

/** Checks `options` (naming `field` in errors) and returns readers of the parts. */
export function observedParts(options: ObservedParts, field: string): Parts {
  const resolvers = listOf(options.resolver, `${field}.resolver`, (value) => typeof (value as Resolver).resolveCounts === 'function', 'a Resolver');
  const registrations = listOf(options.registration, `${field}.registration`, (value) => typeof (value as Registration).stats === 'function', 'a Registration');
  const backends = listOf(options.backend, `${field}.backend`, (value) => typeof (value as RegistryBackend).instances === 'function', 'a RegistryBackend');
  const lifespans = listOf(options.lifespan, `${field}.lifespan`, (value) => typeof (value as RollcallHandle).health === 'function', 'a lifespan or framework handle (app.rollcall)');
  return {
    resolvers: () => unique([...resolvers, ...lifespans.map((life) => life.resolver)]),
    registrations: () => unique([...registrations, ...lifespans.map((life) => life.registration)]),
    backends: () => unique([...backends, ...lifespans.map((life) => life.backend)]),
  };
}

function listOf<T>(value: T | readonly T[] | undefined, field: string, valid: (value: object) => boolean, expected: string): readonly T[] {
  if (value === undefined) return [];
  const list = (Array.isArray(value) ? value : [value]) as readonly T[];
  list.forEach((item, index) => {
    if (typeof item !== 'object' || item === null || !valid(item)) {
      throw new InvalidArgumentError(Array.isArray(value) ? `${field}[${index}]` : field, `${expected}${Array.isArray(value) ? '' : ' or an array of them'}`, item);
    }
  });
  return list;
}

function unique<T>(items: readonly (T | undefined)[]): T[] {
  return [...new Set(items)].filter((item): item is T => item !== undefined);
}
