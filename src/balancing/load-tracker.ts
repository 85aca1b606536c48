/**
 * Per-instance load, kept by service and instance id so it survives the resolver rebuilding a
 * picker (a call started on one list ends on the next). Pickers hold the slots of their list in
 * an array, so reading load on the hot path is an index, not a map lookup.
 */
import type { ServiceInstance } from '../core/instance.js';

/** What the strategy knows about one instance. Mutated in place by call feedback. */
export interface LoadSlot {
  /** Calls started and not yet ended. */
  outstanding: number;
  /** Latency estimate in milliseconds (peak EWMA); 0 until the first call ends. */
  latencyMs: number;
  /** Whether any call to this instance has ended since it was first seen. */
  observed: boolean;
  /** Clock reading of the last ended call, for time-weighted averaging. */
  observedAt: number;
  /** Whether a call ended since the last idle-decay tick. */
  active: boolean;
}

export class LoadTracker {
  readonly #services = new Map<string, Map<string, LoadSlot>>();

  /** Slots aligned with `instances`: existing ones kept, new ones created, absent ones dropped. */
  slotsFor(service: string, instances: readonly ServiceInstance[]): LoadSlot[] {
    const previous = this.#services.get(service);
    const next = new Map<string, LoadSlot>();
    const slots = instances.map((instance) => {
      const slot = previous?.get(instance.id) ?? { outstanding: 0, latencyMs: 0, observed: false, observedAt: 0, active: false };
      next.set(instance.id, slot);
      return slot;
    });
    this.#services.set(service, next);
    return slots;
  }

  started(service: string, id: string): void {
    const slot = this.#services.get(service)?.get(id);
    if (slot !== undefined) slot.outstanding++;
  }

  /** The slot of an ended call, or `undefined` when the instance is no longer tracked. */
  ended(service: string, id: string): LoadSlot | undefined {
    const slot = this.#services.get(service)?.get(id);
    // A call started before the instance left and came back may end on a fresh slot.
    if (slot !== undefined && slot.outstanding > 0) slot.outstanding--;
    return slot;
  }

  release(service: string): void {
    this.#services.delete(service);
  }

  clear(): void {
    this.#services.clear();
  }

  get size(): number {
    return this.#services.size;
  }

  forEachSlot(visit: (slot: LoadSlot) => void): void {
    for (const slots of this.#services.values()) for (const slot of slots.values()) visit(slot);
  }
}
