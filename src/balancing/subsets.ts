/**
 * Shared plumbing of decorators that split a service's instances into subsets (zone-aware
 * routing, traffic splits). Each subset is balanced by the child strategy under its own key,
 * `<service>/<label>` (service names cannot contain `/`, so keys never collide), so a stateful
 * child keeps separate state per subset; call feedback is routed to the subset the instance
 * was in.
 */
import type { ServiceInstance } from '../core/instance.js';
import type { CallOutcome, InstanceFigures, PickContext, Picker, Strategy } from './strategy.js';

interface ServiceSubsets {
  /** Subset key of each instance id in the current list. */
  readonly keyOf: Map<string, string>;
  /** Keys the child currently holds state for. */
  readonly keys: Set<string>;
}

export class SubsetRouter {
  readonly #child: Strategy;
  readonly #labels: readonly string[];
  readonly #services = new Map<string, ServiceSubsets>();

  /** `labels[i]` names subset `i` in child keys. */
  constructor(child: Strategy, labels: readonly string[]) {
    this.#child = child;
    this.#labels = labels;
  }

  /** One child picker per subset (`undefined` for an empty one); empty subsets' child state is released. */
  build(service: string, subsets: readonly (readonly ServiceInstance[])[]): (Picker | undefined)[] {
    const previous = this.#services.get(service);
    const state: ServiceSubsets = { keyOf: new Map(), keys: new Set() };
    const pickers = subsets.map((members, index) => {
      if (members.length === 0) return undefined;
      const key = `${service}/${this.#labels[index] ?? String(index)}`;
      state.keys.add(key);
      for (const instance of members) state.keyOf.set(instance.id, key);
      return this.#child.createPicker(key, members);
    });
    for (const key of previous?.keys ?? []) if (!state.keys.has(key)) this.#child.release?.(key);
    this.#services.set(service, state);
    return pickers;
  }

  callStarted(service: string, instance: ServiceInstance): void {
    const key = this.#services.get(service)?.keyOf.get(instance.id);
    if (key !== undefined) this.#child.callStarted?.(key, instance);
  }

  callEnded(service: string, instance: ServiceInstance, outcome: CallOutcome): void {
    const key = this.#services.get(service)?.keyOf.get(instance.id);
    if (key !== undefined) this.#child.callEnded?.(key, instance, outcome);
  }

  /** The child's figures of every subset of `service`, subset by subset; `undefined` when it reports none. */
  inspect(service: string): InstanceFigures[] | undefined {
    const state = this.#services.get(service);
    if (state === undefined || this.#child.inspect === undefined) return undefined;
    const figures: InstanceFigures[] = [];
    for (const key of state.keys) figures.push(...(this.#child.inspect(key) ?? []));
    return figures;
  }

  release(service: string): void {
    const state = this.#services.get(service);
    this.#services.delete(service);
    for (const key of state?.keys ?? []) this.#child.release?.(key);
  }

  close(): void {
    this.#services.clear();
    this.#child.close?.();
  }
}

/**
 * A pick from subset `preferred`; when that subset is empty or only has excluded instances, the
 * first other subset in order that has an allowed one. `undefined` only when all are empty.
 */
export function pickFromSubsets(pickers: readonly (Picker | undefined)[], preferred: number, context: PickContext | undefined): ServiceInstance | undefined {
  const exclude = context?.exclude;
  const first = pickers[preferred]?.pick(context);
  if (first !== undefined && (exclude === undefined || !exclude.has(first.id))) return first;
  for (let index = 0; index < pickers.length; index++) {
    if (index === preferred) continue;
    const other = pickers[index]?.pick(context);
    if (other !== undefined && (exclude === undefined || !exclude.has(other.id))) return other;
  }
  return first ?? pickers.find((picker) => picker !== undefined)?.pick(context);
}
