import { systemClock, type Clock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';
import { isExcluded } from './exclusion.js';
import { checkKey, unitFor } from './hash.js';
import { EMPTY_LIST } from './picks.js';
import type { PickContext, PickResult, Picker, Strategy } from './strategy.js';
import { clockOption, integerOption, numberOption, randomOption } from '../core/options.js';
import { childOption } from './validate.js';

/** Options of {@link slowStart}. */
export interface SlowStartOptions {
  /** How long a new instance takes to reach its full share of traffic, in milliseconds. @default 30000 */
  windowMs?: number | undefined;
  /** Share of its normal traffic a new instance gets at first, 0 to 1 (Envoy's `min_weight_percent`). @default 0.1 */
  minShare?: number | undefined;
  /**
   * Shape of the ramp: share = max(minShare, (elapsed / windowMs) ^ (1 / aggression)). `1` is a
   * straight line; larger values give more traffic early (Envoy's `aggression`). @default 1
   */
  aggression?: number | undefined;
  /** How often shares are recomputed (the ramp is a staircase of these steps). @default windowMs / 10 */
  stepMs?: number | undefined;
  /** Random source for the accept-or-redirect draw of calls without a key. @default Math.random */
  random?: (() => number) | undefined;
  /** Time source for when instances appeared (read on list changes and steps, never on a pick). @default Date.now */
  clock?: Clock | undefined;
}

interface ServiceRamp {
  instances: readonly ServiceInstance[];
  /** Ids in the current list. */
  present: ReadonlySet<string>;
  /** When each still-warming instance started warming. */
  readonly startedAt: Map<string, number>;
  /** Share of its normal picks each warming instance keeps; `undefined` when nothing is redirected. */
  shares: Map<string, number> | undefined;
  /** Ids of the warming instances, which a redirected call excludes (the keys of `shares`). */
  warming: ReadonlySet<string>;
  child: Picker;
  readonly picker: Picker;
}

const ACCEPT_SEED = 0x1b87_3593;
const NONE_WARMING: ReadonlySet<string> = new Set();

/**
 * Ramps a new instance's traffic up over `windowMs` instead of giving it its full share at once,
 * so a cold JIT, empty caches or a still-filling connection pool are not hit by a full load.
 * "New" means: registered less than `windowMs` ago when the service is first seen, or appearing
 * later in the list (newly registered, back from critical, or back from outlier ejection when
 * this decorator sits inside `outlierEjection`).
 *
 * Works with any child: the child picks once, as usual; a pick that lands on a warming instance
 * is kept with probability `share`, otherwise the child picks again with the warming instances
 * excluded, as for a retry. A warming instance therefore gets exactly `share` × the traffic the
 * child gives it, whatever the child's algorithm; the child's ordinary rotation is not disturbed
 * (built-in pickers keep a rotation of their own for picks with exclusions), and the redirected
 * call carries the child's feedback like any other. Calls with an affinity key decide by the
 * key's hash, so as the share grows keys move to the new instance and stay there. When every
 * instance is warming nothing is redirected. Shares change in steps on an unref'd timer that runs
 * only while some instance is warming.
 */
export function slowStart(options: SlowStartOptions, child: Strategy): Strategy {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('slowStart options', 'an options object', options);
  const windowMs = integerOption(options.windowMs, 30_000, 'slowStart.windowMs', 1, 86_400_000);
  const minShare = numberOption(options.minShare, 0.1, 'slowStart.minShare', 0, 1);
  const exponent = 1 / numberOption(options.aggression, 1, 'slowStart.aggression', 0.01, 100);
  const stepMs = integerOption(options.stepMs, Math.max(1, Math.round(windowMs / 10)), 'slowStart.stepMs', 1, windowMs);
  const random = randomOption(options.random, 'slowStart.random');
  const clock = clockOption(options.clock, systemClock, 'slowStart.clock');
  const inner = childOption(child, 'slowStart child strategy');
  const services = new Map<string, ServiceRamp>();
  let timer: NodeJS.Timeout | undefined;

  const recompute = (ramp: ServiceRamp, now: number): void => {
    const shares = new Map<string, number>();
    for (const [id, start] of ramp.startedAt) {
      const progress = (Math.max(0, now - start) / windowMs) ** exponent;
      if (progress >= 1 || !ramp.present.has(id)) ramp.startedAt.delete(id);
      else shares.set(id, Math.max(minShare, progress));
    }
    ramp.shares = shares.size === 0 || shares.size === ramp.present.size ? undefined : shares;
    ramp.warming = ramp.shares === undefined ? NONE_WARMING : new Set(shares.keys());
  };
  const step = (): void => {
    const now = clock.now();
    for (const ramp of services.values()) if (ramp.startedAt.size > 0) recompute(ramp, now);
    if (!anyWarming()) stopTimer();
  };
  const anyWarming = (): boolean => {
    for (const ramp of services.values()) if (ramp.startedAt.size > 0) return true;
    return false;
  };
  const stopTimer = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };

  return {
    name: `slow-start(${inner.name})`,
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      const now = clock.now();
      const ramp = services.get(service) ?? newRamp();
      const firstList = !services.has(service);
      services.set(service, ramp);
      for (const instance of instances) {
        if (ramp.present.has(instance.id)) continue;
        // On the first list only recent registrations warm; later, anything appearing is new to us.
        const start = firstList ? Math.min(instance.registeredAt, now) : now;
        if (now - start < windowMs) ramp.startedAt.set(instance.id, start);
      }
      ramp.instances = instances;
      ramp.present = new Set(instances.map((instance) => instance.id));
      ramp.child = inner.createPicker(service, instances);
      recompute(ramp, now);
      if (ramp.startedAt.size > 0 && timer === undefined) {
        timer = setInterval(step, stepMs);
        timer.unref();
      }
      return ramp.picker;
    },
    inspect(service) {
      const figures = inner.inspect?.(service);
      const shares = services.get(service)?.shares;
      if (figures === undefined || shares === undefined) return figures;
      return figures.map((entry) => {
        const share = shares.get(entry.id);
        return share === undefined ? entry : { ...entry, warmingShare: share };
      });
    },
    release(service) {
      services.delete(service);
      if (!anyWarming()) stopTimer();
      inner.release?.(service);
    },
    close() {
      stopTimer();
      services.clear();
      inner.close?.();
    },
  };

  function newRamp(): ServiceRamp {
    const ramp: ServiceRamp = {
      instances: [],
      present: new Set(),
      startedAt: new Map(),
      shares: undefined,
      warming: NONE_WARMING,
      child: { pick: () => EMPTY_LIST },
      picker: {
        pick(context?: PickContext): PickResult {
          checkKey(context);
          const picked = ramp.child.pick(context);
          const shares = ramp.shares;
          if (shares === undefined || picked.instance === undefined) return picked;
          const share = shares.get(picked.instance.id);
          if (share === undefined || unitFor(context?.key, ACCEPT_SEED, random) < share) return picked;
          const redirected = ramp.child.pick(redirection(context, ramp.warming));
          const instance = redirected.instance;
          // Every warm instance excluded by the call itself: the warming one it landed on.
          return instance === undefined || ramp.warming.has(instance.id) || isExcluded(instance, context?.exclude) ? picked : redirected;
        },
      },
    };
    return ramp;
  }
}

/** The call's context with the warming instances excluded too. */
function redirection(context: PickContext | undefined, warming: ReadonlySet<string>): PickContext {
  const exclude = context?.exclude;
  if (exclude === undefined || exclude.size === 0) return { key: context?.key, exclude: warming };
  return { key: context?.key, exclude: new Set([...exclude, ...warming]) };
}
