import { createInstance, type InstanceInput, type ServiceInstance } from '../../src/index.js';
import type { CallOutcome, PickContext, PickedInstance, Picker } from '../../src/balancing/index.js';

/** mulberry32: a small seeded PRNG, so distribution tests give the same numbers on every run. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function inst(id: string, extra: Partial<InstanceInput> = {}): ServiceInstance {
  return createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080, registeredAt: 0, ...extra }, 0);
}

export function list(...ids: string[]): ServiceInstance[] {
  return ids.map((id) => inst(id));
}

/** How many of `picks` calls went to each instance id. */
export function tally(picker: Picker, picks: number, context?: (n: number) => PickContext | undefined): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let n = 0; n < picks; n++) {
    const id = picker.pick(context?.(n)).instance?.id ?? 'none';
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

export function sequence(picker: Picker, picks: number, context?: PickContext): string[] {
  return Array.from({ length: picks }, () => picker.pick(context).instance?.id ?? 'none');
}

/**
 * The pick of instance `id`, for reporting a call to it: a pick with every other id of `ids`
 * excluded, which built-in pickers serve from a rotation of their own, leaving ordinary picks alone.
 */
export function pickOf(picker: Picker, id: string, ids: readonly string[]): PickedInstance {
  const picked = picker.pick({ exclude: new Set(ids.filter((other) => other !== id)) });
  if (picked.instance === undefined) throw new Error(`expected a pick of ${id}, got none: ${picked.reason}`);
  if (picked.instance.id !== id) throw new Error(`expected a pick of ${id}, got ${picked.instance.id}`);
  return picked;
}

/** One whole call to `id` through its pick: started, then done with `outcome`. */
export function call(picker: Picker, id: string, ids: readonly string[], outcome: CallOutcome = { ok: true, latencyMs: 1 }): void {
  const picked = pickOf(picker, id, ids);
  picked.started?.();
  picked.done?.(outcome);
}
