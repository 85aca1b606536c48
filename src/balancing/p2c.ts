import { systemClock, type Clock } from '../core/clock.js';
import type { ServiceInstance } from '../core/instance.js';
import { drawIndex } from './draw.js';
import { LoadTracker, latencyOf, type LoadSlot } from './load-tracker.js';
import { EMPTY_LIST, PickList } from './picks.js';
import type { CallOutcome, PickContext, PickResult, Picker, Strategy } from './strategy.js';
import { clockOption, integerOption, objectOption, randomOption } from '../core/options.js';

/** Options of {@link p2c}. */
export interface P2cOptions {
  /**
   * Time constant of the latency average in milliseconds: an observation this old weighs about
   * 37% (1/e) of a fresh one, and an instance that gets no calls sees its estimate fall by the same
   * factor per `decayMs`, so one that was slow is tried again after a while. @default 10000
   */
  decayMs?: number | undefined;
  /** Random source for choosing the two candidates. @default Math.random */
  random?: (() => number) | undefined;
  /** Time source for weighting latency observations (read when a call ends, never on a pick). @default Date.now */
  clock?: Clock | undefined;
}

/** Cost of an instance whose first call has not returned yet but which already has calls in flight. */
const UNPROVEN_COST = 1e9;

/**
 * Power of two choices over peak-EWMA latency (Finagle's and Linkerd's balancer, tower's
 * `PeakEwma`): each pick draws two distinct instances at random and takes the cheaper, where
 * cost = latency estimate × (calls in flight + 1) / weight. The estimate jumps to any slower
 * observation at once (peak) and moves towards faster ones as a time-weighted average, so a
 * slow instance sheds load immediately and wins it back gradually. Random pairs bound the share
 * a single instance can take to about 2/N even when its cost looks best, which keeps many
 * clients from stampeding the same instance.
 *
 * A new instance costs nothing until its first call ends (and `1e9` while that call is in
 * flight), so it is probed but not flooded. Latency is learned from `Resolver.pick()`'s `done()`.
 * A timer (unref'd, one per strategy, running only while some service is tracked) decays idle
 * estimates. Stateful: give each resolver its own.
 */
export function p2c(options: P2cOptions = {}): Strategy {
  const opts = objectOption(options, 'p2c options');
  const decayMs = integerOption(opts.decayMs, 10_000, 'p2c.decayMs', 10, 3_600_000);
  const random = randomOption(opts.random, 'p2c.random');
  const clock = clockOption(opts.clock, systemClock, 'p2c.clock');
  // Ten ticks per time constant keep idle decay smooth; capped so long constants still tick.
  const tickMs = Math.min(1_000, Math.max(10, Math.round(decayMs / 10)));
  const idleDecay = Math.exp(-tickMs / decayMs);
  const load = new LoadTracker();
  let timer: NodeJS.Timeout | undefined;

  const decayIdle = (slot: LoadSlot): void => {
    if (!slot.active) slot.latencyMs *= idleDecay;
    slot.active = false;
  };
  const stopTimer = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  // Latency is learned when a call ends: the estimate jumps to a slower call, decays towards a faster one.
  const ended = (service: string, id: string, outcome: CallOutcome): void => {
    const slot = load.ended(service, id, outcome);
    if (slot === undefined) return;
    const now = clock.now();
    const latency = latencyOf(outcome);
    if (!slot.observed || latency > slot.latencyMs) {
      slot.latencyMs = latency;
    } else {
      const keep = Math.exp(-Math.max(0, now - slot.observedAt) / decayMs);
      slot.latencyMs = slot.latencyMs * keep + latency * (1 - keep);
    }
    slot.observed = true;
    slot.observedAt = now;
    slot.active = true;
  };

  return {
    name: 'p2c',
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      const slots = load.slotsFor(service, instances);
      if (timer === undefined) {
        timer = setInterval(() => load.forEachSlot(decayIdle), tickMs);
        timer.unref();
      }
      const picks = new PickList(instances, (instance) => ({
        instance,
        started: () => load.started(service, instance.id),
        done: (outcome) => ended(service, instance.id, outcome),
      }));
      return p2cPicker(instances, slots, picks, random);
    },
    inspect(service) {
      return load.figures(service, (figures, slot) => (slot.observed ? { ...figures, estimateMs: slot.latencyMs } : figures));
    },
    release(service) {
      load.release(service);
      if (load.size === 0) stopTimer();
    },
    close() {
      stopTimer();
      load.clear();
    },
  };
}

function p2cPicker(list: readonly ServiceInstance[], slots: readonly LoadSlot[], picks: PickList, random: () => number): Picker {
  const count = list.length;
  const weights = Float64Array.from(list, (instance) => instance.weight);
  const cost = (i: number): number => {
    const slot = slots[i] as LoadSlot;
    if (!slot.observed) return slot.outstanding === 0 ? 0 : UNPROVEN_COST + slot.outstanding;
    return (slot.latencyMs * (slot.outstanding + 1)) / (weights[i] as number);
  };
  const cheaper = (a: number, b: number): number => {
    const difference = cost(a) - cost(b);
    if (difference !== 0) return difference < 0 ? a : b;
    return (slots[b] as LoadSlot).outstanding < (slots[a] as LoadSlot).outstanding ? b : a;
  };
  return {
    pick(context?: PickContext): PickResult {
      if (count < 2) return count === 0 ? EMPTY_LIST : picks.at(0);
      const first = drawIndex(random, count);
      let second = drawIndex(random, count - 1);
      if (second >= first) second++;
      const exclude = context?.exclude;
      if (exclude === undefined) return picks.at(cheaper(first, second));
      const firstAllowed = !exclude.has((list[first] as ServiceInstance).id);
      const secondAllowed = !exclude.has((list[second] as ServiceInstance).id);
      if (firstAllowed && secondAllowed) return picks.at(cheaper(first, second));
      if (firstAllowed) return picks.at(first);
      if (secondAllowed) return picks.at(second);
      // Both candidates excluded (a retry on a small list): the cheapest allowed instance.
      let best = -1;
      for (let i = 0; i < count; i++) {
        if (exclude.has((list[i] as ServiceInstance).id)) continue;
        best = best === -1 ? i : cheaper(best, i);
      }
      return picks.at(best === -1 ? cheaper(first, second) : best);
    },
  };
}
