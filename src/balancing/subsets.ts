/**
 * Shared plumbing of decorators that split a service's instances into subsets (zone-aware
 * routing, traffic splits). Each subset is balanced by the child strategy under its own key,
 * `<service>/<label>` (service names cannot contain `/`, so keys never collide), so a stateful
 * child keeps separate state per subset; each pick carries the feedback of the subset it came from.
 */
import type { ServiceInstance } from '../core/instance.js';
import { EMPTY_LIST } from './picks.js';
import type { InstanceFigures, PickContext, PickResult, Picker, Strategy } from './strategy.js';

export class SubsetRouter {
  readonly #child: Strategy;
  readonly #labels: readonly string[];
  /** Per service, the keys the child currently holds state for. */
  readonly #services = new Map<string, Set<string>>();

  /** `labels[i]` names subset `i` in child keys. */
  constructor(child: Strategy, labels: readonly string[]) {
    this.#child = child;
    this.#labels = labels;
  }

  /** One child picker per subset (`undefined` for an empty one); empty subsets' child state is released. */
  build(service: string, subsets: readonly (readonly ServiceInstance[])[]): (Picker | undefined)[] {
    const previous = this.#services.get(service);
    const keys = new Set<string>();
    const pickers = subsets.map((members, index) => {
      if (members.length === 0) return undefined;
      const key = `${service}/${this.#labels[index] ?? String(index)}`;
      keys.add(key);
      return this.#child.createPicker(key, members);
    });
    for (const key of previous ?? []) if (!keys.has(key)) this.#child.release?.(key);
    this.#services.set(service, keys);
    return pickers;
  }

  /** The child's figures of every subset of `service`, subset by subset; `undefined` when it reports none. */
  inspect(service: string): InstanceFigures[] | undefined {
    const keys = this.#services.get(service);
    if (keys === undefined || this.#child.inspect === undefined) return undefined;
    const figures: InstanceFigures[] = [];
    for (const key of keys) figures.push(...(this.#child.inspect(key) ?? []));
    return figures;
  }

  release(service: string): void {
    const keys = this.#services.get(service);
    this.#services.delete(service);
    for (const key of keys ?? []) this.#child.release?.(key);
  }

  close(): void {
    this.#services.clear();
    this.#child.close?.();
  }
}

/**
 * A pick from subset `preferred`; when that subset is empty or only has excluded instances, the
 * first other subset in order that has an allowed one. A subset's refusal (`NoInstance` from a
 * strict child) is the answer, as is the child's choice when every instance is excluded.
 */
export function pickFromSubsets(pickers: readonly (Picker | undefined)[], preferred: number, context: PickContext | undefined): PickResult {
  const exclude = context?.exclude;
  const first = pickers[preferred]?.pick(context);
  if (first !== undefined && (first.instance === undefined || exclude === undefined || !exclude.has(first.instance.id))) return first;
  for (let index = 0; index < pickers.length; index++) {
    if (index === preferred) continue;
    const other = pickers[index]?.pick(context);
    if (other !== undefined && (other.instance === undefined || exclude === undefined || !exclude.has(other.instance.id))) return other;
  }
  return first ?? pickers.find((picker) => picker !== undefined)?.pick(context) ?? EMPTY_LIST;
}
