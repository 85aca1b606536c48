/**
 * Per-instance load and call figures, kept by service and instance id so they survive the
 * resolver rebuilding a picker (a call started on one list ends on the next). Pickers that read
 * load hold the slots of their list in an array, so reading it on the hot path is an index, not a
 * map lookup.
 */
import type { ServiceInstance } from '../core/instance.js';
import type { CallOutcome, InstanceFigures, PickedInstance, Strategy } from './strategy.js';

/** What a strategy knows about one instance. Mutated in place by call feedback. */
export interface LoadSlot {
  /** Calls started and not yet ended. */
  outstanding: number;
  /** Calls ended. */
  calls: number;
  /** Calls ended with `ok: false`. */
  failures: number;
  /** Recent latency (see {@link LATENCY_WEIGHT}); meaningless while `calls` is 0. */
  averageMs: number;
  /** p2c's latency estimate in milliseconds (peak EWMA); 0 until the first call ends. */
  latencyMs: number;
  /** Whether p2c has observed a call to this instance since it was first seen. */
  observed: boolean;
  /** Clock reading of the last call p2c observed, for time-weighted averaging. */
  observedAt: number;
  /** Whether a call ended since the last idle-decay tick. */
  active: boolean;
}

/**
 * Weight of each new call in the recent-latency average: 0.1, so the figure follows about the
 * last twenty calls (they carry 88% of it) and one outlier moves it by a tenth of the difference.
 */
export const LATENCY_WEIGHT = 0.1;

export class LoadTracker {
  readonly #services = new Map<string, Map<string, LoadSlot>>();
  /** Lists followed lazily whose slots are not built yet (see {@link follow}). */
  readonly #pending = new Map<string, readonly ServiceInstance[]>();

  /** Slots aligned with `instances`: existing ones kept, new ones created, absent ones dropped. */
  slotsFor(service: string, instances: readonly ServiceInstance[]): LoadSlot[] {
    this.#pending.delete(service);
    const previous = this.#services.get(service);
    const next = new Map<string, LoadSlot>();
    const slots = instances.map((instance) => {
      const slot = previous?.get(instance.id) ?? newSlot();
      next.set(instance.id, slot);
      return slot;
    });
    this.#services.set(service, next);
    return slots;
  }

  /**
   * Makes `instances` the service's list without building its slots: for strategies that do not
   * read load when picking. The slots are built on the first call feedback or inspection, so a
   * new list (10,000 instances, say) costs nothing until someone reports or asks.
   */
  follow(service: string, instances: readonly ServiceInstance[]): void {
    this.#pending.set(service, instances);
  }

  /** The pick of `instance`, counting its calls here: for strategies whose only call state is this. */
  picked(service: string, instance: ServiceInstance): PickedInstance {
    const id = instance.id;
    return { instance, started: () => this.started(service, id), done: (outcome) => void this.ended(service, id, outcome) };
  }

  started(service: string, id: string): void {
    const slot = this.#slots(service)?.get(id);
    if (slot !== undefined) slot.outstanding++;
  }

  /** Counts an ended call; its slot, or `undefined` when the instance is no longer tracked. */
  ended(service: string, id: string, outcome: CallOutcome): LoadSlot | undefined {
    const slot = this.#slots(service)?.get(id);
    if (slot === undefined) return undefined;
    // A call started before the instance left and came back may end on a fresh slot.
    if (slot.outstanding > 0) slot.outstanding--;
    const latency = latencyOf(outcome);
    slot.averageMs = slot.calls === 0 ? latency : slot.averageMs + LATENCY_WEIGHT * (latency - slot.averageMs);
    slot.calls++;
    if (!outcome.ok) slot.failures++;
    return slot;
  }

  /**
   * Figures of `service`'s instances in list order; `undefined` for an untracked service. A list
   * followed lazily is read without building its slots: metrics scrapes and status pages inspect
   * every service, and must not cost what laziness saves.
   */
  figures(service: string, extra?: (figures: InstanceFigures, slot: LoadSlot) => InstanceFigures): InstanceFigures[] | undefined {
    const built = this.#services.get(service);
    const pending = this.#pending.get(service);
    let slots: Iterable<[string, LoadSlot]> | undefined = built;
    if (pending !== undefined) slots = new Map(pending.map((instance) => [instance.id, built?.get(instance.id) ?? newSlot()]));
    if (slots === undefined) return undefined;
    const result: InstanceFigures[] = [];
    for (const [id, slot] of slots) {
      const figures: InstanceFigures = {
        id,
        outstanding: slot.outstanding,
        calls: slot.calls,
        failures: slot.failures,
        latencyMs: slot.calls === 0 ? undefined : slot.averageMs,
      };
      result.push(extra === undefined ? figures : extra(figures, slot));
    }
    return result;
  }

  #slots(service: string): Map<string, LoadSlot> | undefined {
    const pending = this.#pending.get(service);
    if (pending !== undefined) this.slotsFor(service, pending);
    return this.#services.get(service);
  }

  release(service: string): void {
    this.#services.delete(service);
    this.#pending.delete(service);
  }

  clear(): void {
    this.#services.clear();
    this.#pending.clear();
  }

  get size(): number {
    let size = this.#services.size;
    for (const service of this.#pending.keys()) if (!this.#services.has(service)) size++;
    return size;
  }

  forEachSlot(visit: (slot: LoadSlot) => void): void {
    for (const slots of this.#services.values()) for (const slot of slots.values()) visit(slot);
  }
}

/**
 * The cleanup and inspection members of a strategy whose only per-service state is `load`: calls
 * reported through its picks ({@link LoadTracker.picked}) are counted, `inspect()` reports them.
 */
export function trackedBy(load: LoadTracker): Required<Pick<Strategy, 'release' | 'close' | 'inspect'>> {
  return {
    release: (service) => load.release(service),
    close: () => load.clear(),
    inspect: (service) => load.figures(service),
  };
}

/** The outcome's latency, with a negative or non-finite report read as 0 so no average is poisoned. */
export function latencyOf(outcome: CallOutcome): number {
  const latency = outcome.latencyMs;
  return Number.isFinite(latency) && latency > 0 ? latency : 0;
}

function newSlot(): LoadSlot {
  return { outstanding: 0, calls: 0, failures: 0, averageMs: 0, latencyMs: 0, observed: false, observedAt: 0, active: false };
}
