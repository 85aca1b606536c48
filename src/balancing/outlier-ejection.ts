import { systemClock, type Clock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';
import { InstancesEjectedError } from './instances-ejected-error.js';
import { LoadTracker } from './load-tracker.js';
import { EMPTY_LIST } from './picks.js';
import type { CallOutcome, EjectionReason, InstanceEjection, InstanceFigures, PickContext, PickResult, PickedInstance, Picker, Strategy } from './strategy.js';
import { clockOption, integerOption, numberOption } from '../core/options.js';
import { ejectionChannel, type EjectionMessage } from '../observability/channels.js';
import { childOption } from './validate.js';

/** Options of {@link outlierEjection}. Defaults follow Envoy's outlier detection, except `maxEjectedPercent`. */
export interface OutlierEjectionOptions {
  /**
   * Failed calls (`ok: false`) in a row that eject an instance. @default 5, or off when
   * `failureWindow` is given without it (give both to eject on whichever trips first)
   */
  consecutiveFailures?: number | undefined;
  /**
   * Eject an instance after `failures` failed calls within the last `windowMs`, whatever
   * succeeded in between: `{ failures: 5, windowMs: 60_000 }` catches an instance failing one call
   * in three, which `consecutiveFailures` may never see. @default none
   */
  failureWindow?: FailureWindow | undefined;
  /** How long a first ejection lasts, in milliseconds; the n-th lasts n times as long. @default 30000 */
  baseEjectionMs?: number | undefined;
  /** Upper bound of one ejection, in milliseconds. @default 300000 */
  maxEjectionMs?: number | undefined;
  /**
   * Most instances of a service out at once (ejected or half-open), as a percentage of its
   * eligible instances, rounded down but at least one. Envoy uses 10; in-process clients usually
   * see a handful of instances, where 10% rounds to one, so two bad instances out of four would
   * stay half in. Set 100 for breaker semantics, where every instance may be taken out.
   * @default 50
   */
  maxEjectedPercent?: number | undefined;
  /**
   * What calls do while every instance of a service is out. `'panic'` (Envoy's panic threshold):
   * the child balances over all of them, because failing every call is worse than trying
   * instances that may have recovered, and a caller-side fault (its own network, a bad
   * credential) makes every instance look broken. `'fail'`: calls reject at once with
   * {@link InstancesEjectedError} (`SERVICE_UNAVAILABLE`) naming the ejected instances, as a
   * circuit breaker does, except each instance's trial call when its ejection ends.
   * @default 'panic'
   */
  allEjected?: 'panic' | 'fail' | undefined;
  /** Called (synchronously) on each ejection, half-open and readmission; errors it throws are ignored. */
  onChange?: ((event: EjectionEvent) => void) | undefined;
  /** Time source (read when a call fails or an instance changes state, never on a pick). @default Date.now */
  clock?: Clock | undefined;
}

/** The sliding-window ejection rule of {@link OutlierEjectionOptions.failureWindow}. */
export interface FailureWindow {
  /** Failed calls that eject, 1 to 10000. */
  readonly failures: number;
  /** Length of the window in milliseconds. */
  readonly windowMs: number;
}

/** An instance changed state. */
export interface EjectionEvent {
  readonly service: string;
  readonly instanceId: string;
  /**
   * `ejected`: taken out of rotation (also after a failed trial). `half-open`: its ejection ended;
   * its next call is a trial. `readmitted`: the trial succeeded; it is back in rotation.
   */
  readonly type: 'ejected' | 'half-open' | 'readmitted';
  /** Whether the instance is out of ordinary rotation after this event (`ejected` and `half-open`). */
  readonly ejected: boolean;
  /** Why it was ejected; `undefined` on readmission. */
  readonly reason: EjectionReason | undefined;
  /** How long this ejection lasts (on `ejected`), else 0. */
  readonly durationMs: number;
  /** The ejection multiplier: how many recent ejections this instance has had, this one included. */
  readonly ejections: number;
}

/** What the ejector currently does for one service. */
export interface EjectionStatus {
  /** Ids of the instances out of ordinary rotation (ejected or half-open), in list order. */
  readonly ejected: readonly string[];
  /** Each of them: state, reason, since and until when. */
  readonly instances: readonly InstanceEjection[];
  /** Every instance is out and calls go to all of them anyway (`allEjected: 'panic'`). */
  readonly panic: boolean;
  /** Every instance is out and calls reject with `InstancesEjectedError` (`allEjected: 'fail'`). */
  readonly failing: boolean;
}

/** A strategy with outlier ejection; {@link OutlierEjectionStrategy.ejection} reports its state. */
export interface OutlierEjectionStrategy extends Strategy {
  /** Ejected instances of `service`, why, and whether it is in panic or failing; `undefined` for an unknown service. */
  ejection(service: string): EjectionStatus | undefined;
}

interface Host {
  instance: ServiceInstance;
  state: 'closed' | 'ejected' | 'half-open';
  /** Failures in a row while closed. */
  consecutive: number;
  /** Times of the last `failureWindow.failures` failures (a ring), allocated on the first failure. */
  recent: Float64Array | undefined;
  recentNext: number;
  recentCount: number;
  ejections: number;
  returnedAt: number;
  reason: EjectionReason;
  ejectedAt: number;
  until: number;
  /** Half-open: whether its one trial call is still to hand out, or handed out and pending. */
  trial: 'none' | 'available' | 'taken';
  /** The ejection timer while ejected; the trial's timeout while its trial is taken. */
  timer: NodeJS.Timeout | undefined;
  /** The pick handed out as its trial: this decorator's feedback alone (the child no longer lists it). */
  trialPick: PickedInstance | undefined;
  /** The child's last pick of this instance, and that pick with this decorator's feedback added. */
  childPick: PickResult | undefined;
  wrapped: PickedInstance | undefined;
}

interface ServiceHosts {
  instances: readonly ServiceInstance[];
  readonly hosts: Map<string, Host>;
  /** Hosts ejected or half-open. */
  out: number;
  /** Half-open hosts whose trial is available. */
  trials: number;
  panic: boolean;
  failing: boolean;
  current: Picker;
  readonly picker: Picker;
}

/**
 * Passive health checking, and a circuit breaker per instance. An instance is taken out of the
 * child's list when its calls fail `consecutiveFailures` times in a row, or `failureWindow.failures`
 * times within `failureWindow.windowMs`. The ejection lasts `baseEjectionMs` × (its recent
 * ejections), at most `maxEjectionMs`; the multiplier drops by one for every `baseEjectionMs` an
 * instance stays in, so one that failed once long ago is not punished as a repeat offender.
 *
 * When an ejection ends the instance is half-open: the next call (one without exclusions) is its
 * trial. A successful trial readmits it; a failed one ejects it again, for longer. A trial whose
 * outcome is not reported within `baseEjectionMs` is handed to another call. At most
 * `maxEjectedPercent` of a service's instances are out at once. If every instance still ends up
 * out (a single instance, instances deregistered meanwhile, or a cap of 100), `allEjected`
 * decides: balance over all of them (panic, the default) or fail fast with `InstancesEjectedError`.
 *
 * Outcomes come from `Resolver.pick()`'s `done()`; `createDiscoveryFetch` reports connection
 * errors, timeouts and 5xx answers as failures. Outcomes of calls to an ejected instance (in
 * panic mode) are ignored. Place it outermost (`outlierEjection(o, slowStart(o, zoneAware(o,
 * weighted())))`) so the inner decorators see an ejected instance leave and come back. Its
 * `inspect()` reports every listed instance, ejected ones included, with their ejection state.
 */
export function outlierEjection(options: OutlierEjectionOptions, child: Strategy): OutlierEjectionStrategy {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('outlierEjection options', 'an options object', options);
  const window = windowOption(options.failureWindow);
  const threshold =
    options.consecutiveFailures === undefined && window !== undefined
      ? undefined
      : integerOption(options.consecutiveFailures, 5, 'outlierEjection.consecutiveFailures', 1, 1_000_000);
  const baseMs = integerOption(options.baseEjectionMs, 30_000, 'outlierEjection.baseEjectionMs', 1, 86_400_000);
  const maxMs = integerOption(options.maxEjectionMs, Math.max(300_000, baseMs), 'outlierEjection.maxEjectionMs', baseMs, 86_400_000);
  const maxPercent = numberOption(options.maxEjectedPercent, 50, 'outlierEjection.maxEjectedPercent', 0, 100);
  const allEjected = options.allEjected ?? 'panic';
  if (allEjected !== 'panic' && allEjected !== 'fail') throw new InvalidArgumentError('outlierEjection.allEjected', "'panic' or 'fail'", allEjected);
  const onChange = options.onChange;
  if (onChange !== undefined && typeof onChange !== 'function') throw new InvalidArgumentError('outlierEjection.onChange', 'a function', onChange);
  const clock = clockOption(options.clock, systemClock, 'outlierEjection.clock');
  const inner = childOption(child, 'outlierEjection child strategy');
  const services = new Map<string, ServiceHosts>();
  // Figures of every listed instance, ejected ones included, which the child no longer sees.
  const load = new LoadTracker();

  const rebuild = (service: string, state: ServiceHosts): void => {
    const available = state.out === 0 ? state.instances : state.instances.filter((instance) => state.hosts.get(instance.id)?.state === 'closed');
    const everyOut = available.length === 0 && state.instances.length > 0;
    state.panic = everyOut && allEjected === 'panic';
    state.failing = everyOut && allEjected === 'fail';
    state.current = state.failing ? failFast(service, state) : inner.createPicker(service, state.panic ? state.instances : available);
  };
  const notify = (service: string, id: string, host: Host, type: EjectionEvent['type'], durationMs = 0): void => {
    const reason = type === 'readmitted' ? undefined : host.reason;
    if (ejectionChannel.hasSubscribers) {
      const message: EjectionMessage = { service, instanceId: id, type, reason, durationMs, ejections: host.ejections };
      ejectionChannel.publish(message);
    }
    try {
      onChange?.({ service, instanceId: id, type, ejected: type !== 'readmitted', reason, durationMs, ejections: host.ejections });
    } catch {
      // A listener's failure must not break the call that reported an outcome, nor a timer.
    }
  };
  const stopTimer = (host: Host): void => {
    if (host.timer !== undefined) clearTimeout(host.timer);
    host.timer = undefined;
  };
  const eject = (service: string, state: ServiceHosts, host: Host, reason: EjectionReason): void => {
    const now = clock.now();
    if (host.state === 'closed') {
      const healthyPeriods = Math.floor(Math.max(0, now - host.returnedAt) / baseMs);
      host.ejections = Math.max(0, host.ejections - healthyPeriods) + 1;
      state.out++;
    } else {
      // A failed trial: the time spent ejected is no evidence of health.
      host.ejections++;
    }
    stopTimer(host);
    const durationMs = Math.min(baseMs * host.ejections, maxMs);
    host.state = 'ejected';
    host.reason = reason;
    host.ejectedAt = now;
    host.until = now + durationMs;
    host.trial = 'none';
    resetFailures(host);
    host.timer = setTimeout(() => halfOpen(service, state, host), durationMs);
    host.timer.unref();
    rebuild(service, state);
    notify(service, host.instance.id, host, 'ejected', durationMs);
  };
  const halfOpen = (service: string, state: ServiceHosts, host: Host): void => {
    host.timer = undefined;
    host.state = 'half-open';
    host.trial = 'available';
    state.trials++;
    notify(service, host.instance.id, host, 'half-open');
  };
  const handOutTrial = (state: ServiceHosts): Host | undefined => {
    for (const host of state.hosts.values()) {
      if (host.trial !== 'available') continue;
      host.trial = 'taken';
      state.trials--;
      // A trial picked through plain resolve(), or whose done() never comes, must not hold the instance out for good.
      host.timer = setTimeout(() => {
        host.timer = undefined;
        host.trial = 'available';
        state.trials++;
      }, baseMs);
      host.timer.unref();
      return host;
    }
    return undefined;
  };
  const readmit = (service: string, state: ServiceHosts, host: Host): void => {
    stopTimer(host);
    host.state = 'closed';
    host.trial = 'none';
    host.returnedAt = clock.now();
    resetFailures(host);
    state.out--;
    rebuild(service, state);
    notify(service, host.instance.id, host, 'readmitted');
  };
  /** The rule this failure trips, if any. */
  const tripped = (host: Host): EjectionReason | undefined => {
    host.consecutive++;
    let reason: EjectionReason | undefined = threshold !== undefined && host.consecutive >= threshold ? 'consecutive-failures' : undefined;
    if (window !== undefined) {
      const now = clock.now();
      const recent = (host.recent ??= new Float64Array(window.failures));
      recent[host.recentNext] = now;
      host.recentNext = (host.recentNext + 1) % window.failures;
      host.recentCount = Math.min(host.recentCount + 1, window.failures);
      // After the write, the next slot holds the oldest of the last `failures` failures.
      if (host.recentCount === window.failures && now - (recent[host.recentNext] as number) < window.windowMs) reason ??= 'failure-window';
    }
    return reason;
  };
  const forget = (state: ServiceHosts): void => {
    for (const host of state.hosts.values()) stopTimer(host);
  };
  const failFast = (service: string, state: ServiceHosts): Picker => ({
    pick() {
      const error = new InstancesEjectedError(service, ejectionsOf(state));
      return { reason: (error.attempts[0] as { reason: string }).reason, error };
    },
  });
  /** Counts an ended call and applies the ejection rules (Envoy's: outcomes of ejected instances do not count). */
  const callEnded = (service: string, id: string, outcome: CallOutcome): void => {
    load.ended(service, id, outcome);
    const state = services.get(service);
    const host = state?.hosts.get(id);
    if (state === undefined || host === undefined || host.state === 'ejected') return;
    if (host.state === 'half-open') {
      // Only the trial's outcome decides, not that of a call started before the ejection ended.
      if (host.trial !== 'taken') return;
      if (outcome.ok) readmit(service, state, host);
      else eject(service, state, host, 'failed-trial');
      return;
    }
    if (outcome.ok) {
      host.consecutive = 0;
      return;
    }
    const reason = tripped(host);
    if (reason === undefined) return;
    const cap = Math.max(1, Math.floor((state.instances.length * maxPercent) / 100));
    if (state.out < cap) eject(service, state, host, reason);
  };
  const trialPickOf = (service: string, host: Host): PickedInstance => {
    const { instance } = host;
    return (host.trialPick ??= {
      instance,
      started: () => load.started(service, instance.id),
      done: (outcome) => callEnded(service, instance.id, outcome),
    });
  };
  /** The child's pick with this decorator's feedback after the child's; one object per child pick. */
  const withFeedback = (service: string, state: ServiceHosts, picked: PickResult): PickResult => {
    const { instance } = picked;
    const host = instance === undefined ? undefined : state.hosts.get(instance.id);
    if (instance === undefined || host === undefined) return picked;
    if (host.childPick === picked && host.wrapped !== undefined) return host.wrapped;
    const { started, done } = picked;
    host.childPick = picked;
    host.wrapped = {
      instance,
      started: () => {
        started?.();
        load.started(service, instance.id);
      },
      done: (outcome) => {
        done?.(outcome);
        callEnded(service, instance.id, outcome);
      },
    };
    return host.wrapped;
  };

  return {
    name: `outlier-ejection(${inner.name})`,
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      const state = services.get(service) ?? newState(service);
      services.set(service, state);
      load.slotsFor(service, instances);
      const present = new Set(instances.map((instance) => instance.id));
      for (const [id, host] of state.hosts) {
        if (present.has(id)) continue;
        stopTimer(host);
        if (host.state !== 'closed') state.out--;
        if (host.trial === 'available') state.trials--;
        state.hosts.delete(id);
      }
      for (const instance of instances) {
        const host = state.hosts.get(instance.id);
        if (host === undefined) {
          state.hosts.set(instance.id, newHost(instance));
        } else if (host.instance !== instance) {
          host.instance = instance;
          host.trialPick = undefined;
        }
      }
      state.instances = instances;
      rebuild(service, state);
      return state.picker;
    },
    inspect(service) {
      const state = services.get(service);
      const own = load.figures(service);
      if (state === undefined || own === undefined) return undefined;
      const childFigures = new Map((inner.inspect?.(service) ?? []).map((figures) => [figures.id, figures]));
      return own.map((figures): InstanceFigures => {
        const host = state.hosts.get(figures.id);
        const merged = { ...childFigures.get(figures.id), ...figures };
        return host === undefined || host.state === 'closed' ? merged : { ...merged, ejection: ejectionOf(host) };
      });
    },
    release(service) {
      const state = services.get(service);
      if (state !== undefined) forget(state);
      services.delete(service);
      load.release(service);
      inner.release?.(service);
    },
    close() {
      for (const state of services.values()) forget(state);
      services.clear();
      load.clear();
      inner.close?.();
    },
    ejection(service) {
      const state = services.get(service);
      if (state === undefined) return undefined;
      const instances = ejectionsOf(state);
      return { ejected: instances.map((entry) => entry.id), instances, panic: state.panic, failing: state.failing };
    },
  };

  function newState(service: string): ServiceHosts {
    const state: ServiceHosts = {
      instances: [],
      hosts: new Map(),
      out: 0,
      trials: 0,
      panic: false,
      failing: false,
      current: { pick: () => EMPTY_LIST },
      picker: {
        pick(context?: PickContext): PickResult {
          // A retry never lands on an instance on trial: it has already failed once.
          if (state.trials > 0 && (context?.exclude === undefined || context.exclude.size === 0)) {
            const trial = handOutTrial(state);
            if (trial !== undefined) return trialPickOf(service, trial);
          }
          return withFeedback(service, state, state.current.pick(context));
        },
      },
    };
    return state;
  }
}

function newHost(instance: ServiceInstance): Host {
  return {
    instance,
    state: 'closed',
    consecutive: 0,
    recent: undefined,
    recentNext: 0,
    recentCount: 0,
    ejections: 0,
    returnedAt: 0,
    reason: 'consecutive-failures',
    ejectedAt: 0,
    until: 0,
    trial: 'none',
    timer: undefined,
    trialPick: undefined,
    childPick: undefined,
    wrapped: undefined,
  };
}

function resetFailures(host: Host): void {
  host.consecutive = 0;
  host.recentCount = 0;
}

function ejectionOf(host: Host): InstanceEjection {
  return { id: host.instance.id, state: host.state === 'half-open' ? 'half-open' : 'ejected', reason: host.reason, ejections: host.ejections, ejectedAt: host.ejectedAt, until: host.until };
}

/** The hosts out of rotation, in list order. */
function ejectionsOf(state: ServiceHosts): InstanceEjection[] {
  const result: InstanceEjection[] = [];
  for (const instance of state.instances) {
    const host = state.hosts.get(instance.id);
    if (host !== undefined && host.state !== 'closed') result.push(ejectionOf(host));
  }
  return result;
}

function windowOption(value: FailureWindow | undefined): FailureWindow | undefined {
  if (value === undefined) return undefined;
  const field = 'outlierEjection.failureWindow';
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(field, 'an object { failures, windowMs }', value);
  if (value.failures === undefined) throw new InvalidArgumentError(`${field}.failures`, 'an integer from 1 to 10000', undefined);
  if (value.windowMs === undefined) throw new InvalidArgumentError(`${field}.windowMs`, 'an integer from 1 to 86400000', undefined);
  return {
    failures: integerOption(value.failures, 0, `${field}.failures`, 1, 10_000),
    windowMs: integerOption(value.windowMs, 0, `${field}.windowMs`, 1, 86_400_000),
  };
}
