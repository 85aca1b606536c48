import { systemClock, type Clock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';
import type { CallOutcome, PickContext, Picker, Strategy } from './strategy.js';
import { clockOption, integerOption, numberOption } from '../core/options.js';
import { childOption } from './validate.js';

/** Options of {@link outlierEjection}. Defaults follow Envoy's outlier detection, except `maxEjectedPercent`. */
export interface OutlierEjectionOptions {
  /** Consecutive failed calls (`ok: false`) that eject an instance. @default 5 */
  consecutiveFailures?: number | undefined;
  /** How long a first ejection lasts, in milliseconds; the n-th lasts n times as long. @default 30000 */
  baseEjectionMs?: number | undefined;
  /** Upper bound of one ejection, in milliseconds. @default 300000 */
  maxEjectionMs?: number | undefined;
  /**
   * Most instances of a service ejected at once, as a percentage of its eligible instances,
   * rounded down but at least one. Envoy uses 10; in-process clients usually see a handful of
   * instances, where 10% rounds to one, so two bad instances out of four would stay half in.
   * @default 50
   */
  maxEjectedPercent?: number | undefined;
  /** Called (synchronously, never on a pick) when an instance is ejected or returns; errors it throws are ignored. */
  onChange?: ((event: EjectionEvent) => void) | undefined;
  /** Time source for how long an instance has stayed healthy (read when ejecting and returning). @default Date.now */
  clock?: Clock | undefined;
}

/** An instance was ejected or returned. */
export interface EjectionEvent {
  readonly service: string;
  readonly instanceId: string;
  readonly ejected: boolean;
  /** How long this ejection lasts (when ejected). */
  readonly durationMs: number;
  /** The ejection multiplier: how many recent ejections this instance has had, this one included. */
  readonly ejections: number;
}

/** What the ejector currently does for one service. */
export interface EjectionStatus {
  /** Ids of ejected instances still in the service's list. */
  readonly ejected: readonly string[];
  /** Whether every instance is ejected and calls go to all of them anyway. */
  readonly panic: boolean;
}

/** A strategy with outlier ejection; {@link OutlierEjectionStrategy.ejection} reports its state. */
export interface OutlierEjectionStrategy extends Strategy {
  /** Ejected instances of `service` and whether it is in panic mode; `undefined` for an unknown service. */
  ejection(service: string): EjectionStatus | undefined;
}

interface Host {
  failures: number;
  ejections: number;
  ejected: boolean;
  returnedAt: number;
  timer: NodeJS.Timeout | undefined;
}

interface ServiceHosts {
  instances: readonly ServiceInstance[];
  readonly hosts: Map<string, Host>;
  ejectedCount: number;
  panic: boolean;
  current: Picker;
  readonly picker: Picker;
}

/**
 * Passive health checking: an instance whose calls fail `consecutiveFailures` times in a row is
 * taken out of the child's list for `baseEjectionMs` × (its recent ejections), at most
 * `maxEjectionMs`, then returns on an unref'd timer. The multiplier drops by one for every
 * `baseEjectionMs` an instance stays in, so an instance that failed once long ago is not punished
 * as a repeat offender. At most `maxEjectedPercent` of a service's instances are out at once (a
 * caller-side fault that fails every call cannot empty the list); if the list still ends up
 * with every instance ejected (instances deregistered meanwhile, or a cap of 100), the child
 * balances over all of them (panic mode) rather than failing every call.
 *
 * Outcomes come from `Resolver.pick()`'s `done()`; `createDiscoveryFetch` reports connection
 * errors and 5xx answers as failures. Outcomes of calls to an already ejected instance are
 * ignored. Place it outermost (`outlierEjection(o, slowStart(o, zoneAware(o, weighted())))`) so
 * the inner decorators see an ejected instance leave and come back.
 */
export function outlierEjection(options: OutlierEjectionOptions, child: Strategy): OutlierEjectionStrategy {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('outlierEjection options', 'an options object', options);
  const threshold = integerOption(options.consecutiveFailures, 5, 'outlierEjection.consecutiveFailures', 1, 1_000_000);
  const baseMs = integerOption(options.baseEjectionMs, 30_000, 'outlierEjection.baseEjectionMs', 1, 86_400_000);
  const maxMs = integerOption(options.maxEjectionMs, Math.max(300_000, baseMs), 'outlierEjection.maxEjectionMs', baseMs, 86_400_000);
  const maxPercent = numberOption(options.maxEjectedPercent, 50, 'outlierEjection.maxEjectedPercent', 0, 100);
  const onChange = options.onChange;
  if (onChange !== undefined && typeof onChange !== 'function') throw new InvalidArgumentError('outlierEjection.onChange', 'a function', onChange);
  const clock = clockOption(options.clock, systemClock, 'outlierEjection.clock');
  const inner = childOption(child, 'outlierEjection child strategy');
  const services = new Map<string, ServiceHosts>();

  const rebuild = (service: string, state: ServiceHosts): void => {
    const available = state.ejectedCount === 0 ? state.instances : state.instances.filter((instance) => state.hosts.get(instance.id)?.ejected !== true);
    state.panic = available.length === 0 && state.instances.length > 0;
    state.current = inner.createPicker(service, state.panic ? state.instances : available);
  };
  const notify = (event: EjectionEvent): void => {
    try {
      onChange?.(event);
    } catch {
      // A listener's failure must not break the call that reported an outcome, nor a timer.
    }
  };
  const restore = (service: string, state: ServiceHosts, id: string, host: Host): void => {
    host.timer = undefined;
    host.ejected = false;
    host.failures = 0;
    host.returnedAt = clock.now();
    state.ejectedCount--;
    rebuild(service, state);
    notify({ service, instanceId: id, ejected: false, durationMs: 0, ejections: host.ejections });
  };
  const eject = (service: string, state: ServiceHosts, id: string, host: Host): void => {
    const now = clock.now();
    const healthyPeriods = Math.floor(Math.max(0, now - host.returnedAt) / baseMs);
    host.ejections = Math.max(0, host.ejections - healthyPeriods) + 1;
    const durationMs = Math.min(baseMs * host.ejections, maxMs);
    host.ejected = true;
    host.failures = 0;
    state.ejectedCount++;
    host.timer = setTimeout(() => restore(service, state, id, host), durationMs);
    host.timer.unref();
    rebuild(service, state);
    notify({ service, instanceId: id, ejected: true, durationMs, ejections: host.ejections });
  };
  const forget = (state: ServiceHosts): void => {
    for (const host of state.hosts.values()) if (host.timer !== undefined) clearTimeout(host.timer);
  };

  return {
    name: `outlier-ejection(${inner.name})`,
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      const state = services.get(service) ?? newState();
      services.set(service, state);
      const present = new Set(instances.map((instance) => instance.id));
      for (const [id, host] of state.hosts) {
        if (present.has(id)) continue;
        if (host.timer !== undefined) clearTimeout(host.timer);
        if (host.ejected) state.ejectedCount--;
        state.hosts.delete(id);
      }
      for (const id of present) {
        if (!state.hosts.has(id)) state.hosts.set(id, { failures: 0, ejections: 0, ejected: false, returnedAt: 0, timer: undefined });
      }
      state.instances = instances;
      rebuild(service, state);
      return state.picker;
    },
    callStarted: (service, instance) => inner.callStarted?.(service, instance),
    callEnded(service: string, instance: ServiceInstance, outcome: CallOutcome) {
      inner.callEnded?.(service, instance, outcome);
      const state = services.get(service);
      const host = state?.hosts.get(instance.id);
      if (state === undefined || host === undefined || host.ejected) return;
      if (outcome.ok) {
        host.failures = 0;
        return;
      }
      host.failures++;
      if (host.failures < threshold) return;
      const cap = Math.max(1, Math.floor((state.instances.length * maxPercent) / 100));
      if (state.ejectedCount < cap) eject(service, state, instance.id, host);
    },
    release(service) {
      const state = services.get(service);
      if (state !== undefined) forget(state);
      services.delete(service);
      inner.release?.(service);
    },
    close() {
      for (const state of services.values()) forget(state);
      services.clear();
      inner.close?.();
    },
    ejection(service) {
      const state = services.get(service);
      if (state === undefined) return undefined;
      const ejected = [...state.hosts].filter(([, host]) => host.ejected).map(([id]) => id);
      return { ejected, panic: state.panic };
    },
  };

  function newState(): ServiceHosts {
    const state: ServiceHosts = {
      instances: [],
      hosts: new Map(),
      ejectedCount: 0,
      panic: false,
      current: { pick: () => undefined },
      picker: { pick: (context?: PickContext) => state.current.pick(context) },
    };
    return state;
  }
}
