import { InvalidArgumentError } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';
import { checkKey, unitFor } from './hash.js';
import type { PickContext, PickResult, Picker, Strategy } from './strategy.js';
import { SubsetRouter, pickFromSubsets } from './subsets.js';
import { randomOption } from '../core/options.js';
import { childOption } from './validate.js';

/** Options of {@link zoneAware}. */
export interface ZoneAwareOptions {
  /**
   * The caller's own zone (availability zone, rack). `undefined` or `''` turns the decorator
   * into a pass-through, so `zoneAware({ zone: process.env.ZONE }, ...)` is safe where no zone is set.
   */
  zone: string | undefined;
  /**
   * When traffic leaves the zone.
   * - `'proportional'` (Envoy's zone-aware routing): everything stays local while the local zone
   *   holds at least its fair share of the service's capacity (1/Z of the total weight, Z = zones
   *   listed); below that, the local zone keeps `localWeight × Z / totalWeight` of the calls and
   *   the rest spills over to the other zones, so no local instance takes more than its share.
   * - `'when-empty'` (Spring Cloud LoadBalancer's zone preference): local while any local
   *   instance is eligible, other zones only when none is.
   * @default 'proportional'
   */
  spillover?: 'proportional' | 'when-empty' | undefined;
  /** Random source for the local-or-remote draw of calls without a key. @default Math.random */
  random?: (() => number) | undefined;
}

// Decorrelates this decorator's key hash from other decorators hashing the same key.
const SEED = 0x2f6b_7a13;

/**
 * Prefers instances in the caller's zone: cross-zone calls cost latency and, in most clouds,
 * money. The child balances the local and the remote instances separately (keys
 * `<service>/local` and `<service>/remote`). Instances without a zone count as remote; they form
 * one more zone of their own for the fair-share count. Calls with an affinity key choose the
 * side by the key's hash, so a key does not flip between zones.
 */
export function zoneAware(options: ZoneAwareOptions, child: Strategy): Strategy {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('zoneAware options', 'an object { zone, spillover }', options);
  const zone = options.zone;
  if (zone !== undefined && typeof zone !== 'string') throw new InvalidArgumentError('zoneAware.zone', 'a zone name or undefined', zone);
  const spillover = options.spillover ?? 'proportional';
  if (spillover !== 'proportional' && spillover !== 'when-empty') throw new InvalidArgumentError('zoneAware.spillover', "'proportional' or 'when-empty'", spillover);
  const random = randomOption(options.random, 'zoneAware.random');
  const inner = childOption(child, 'zoneAware child strategy');
  if (zone === undefined || zone === '') return inner;
  const router = new SubsetRouter(inner, ['local', 'remote']);
  return {
    name: `zone-aware(${inner.name})`,
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      const local = instances.filter((instance) => instance.zone === zone);
      const remote = instances.filter((instance) => instance.zone !== zone);
      const pickers = router.build(service, [local, remote]);
      const share = spillover === 'when-empty' ? (local.length > 0 ? 1 : 0) : localShare(instances, local);
      const allLocal = share >= 1 || remote.length === 0;
      if (allLocal || share <= 0) {
        const side = allLocal ? 0 : 1;
        return {
          pick(context?: PickContext): PickResult {
            checkKey(context);
            return pickFromSubsets(pickers, side, context);
          },
        };
      }
      return {
        pick(context?: PickContext): PickResult {
          return pickFromSubsets(pickers, unitFor(context?.key, SEED, random) < share ? 0 : 1, context);
        },
      };
    },
    inspect: (service) => router.inspect(service),
    release: (service) => router.release(service),
    close: () => router.close(),
  };
}

/** Share of calls the local zone can take without its instances exceeding their fair load. */
function localShare(instances: readonly ServiceInstance[], local: readonly ServiceInstance[]): number {
  if (local.length === 0) return 0;
  const zones = new Set(instances.map((instance) => instance.zone)).size;
  const totalWeight = instances.reduce((sum, instance) => sum + instance.weight, 0);
  const localWeight = local.reduce((sum, instance) => sum + instance.weight, 0);
  return Math.min(1, (localWeight * zones) / totalWeight);
}
