import { createInstance, type InstanceInput, type ServiceInstance } from '../../src/index.js';
import type { Picker, PickContext } from '../../src/balancing/index.js';

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
    const id = picker.pick(context?.(n))?.id ?? 'none';
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

export function sequence(picker: Picker, picks: number, context?: PickContext): string[] {
  return Array.from({ length: picks }, () => picker.pick(context)?.id ?? 'none');
}
