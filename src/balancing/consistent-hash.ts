import type { ServiceInstance } from '../core/instance.js';
import { affinityKey, hashString } from './hash.js';
import { LoadTracker, trackedBy } from './load-tracker.js';
import { EMPTY_LIST, PickList } from './picks.js';
import type { PickContext, PickResult, Picker, Strategy } from './strategy.js';
import { integerOption, objectOption, randomOption } from '../core/options.js';

/** Options of {@link consistentHash}. */
export interface ConsistentHashOptions {
  /**
   * Points each instance of average weight gets on the ring (an instance of twice the average
   * weight gets twice as many). More points spread keys more evenly (the standard deviation of
   * a share is about 1/√points of it: 6% at 256, so the busiest of 10 instances typically gets
   * 10% more than its fair share) at the cost of memory (8 bytes a point) and build time.
   * @default 256
   */
  pointsPerInstance?: number | undefined;
  /** Random source for calls without a key. @default Math.random */
  random?: (() => number) | undefined;
}

const TWO_POW_32 = 4_294_967_296;

/**
 * Ring hash with virtual nodes (ketama, Envoy's `RING_HASH`): every instance owns points on a
 * 32-bit ring, derived from its id alone; a call with `PickContext.key` (a user id, a client IP)
 * goes to the owner of the first point at or after the key's hash. When an instance leaves, only
 * the keys it owned move (to the next point's owner); when one joins, only the keys it now owns
 * move: about 1/N of all keys either way, the least any scheme can move. That holds exactly when
 * weights are equal; with unequal weights, point counts are scaled to the average weight (as
 * Envoy scales them), so a change that shifts the average also moves a few other keys.
 *
 * A call without a key goes to a random point, which spreads keyless traffic by the same shares.
 * Excluded instances (a retry) are skipped by walking on along the ring, so a key's fallback is
 * stable too. A pick hashes the key once and binary-searches the ring. The ring is rebuilt only
 * when a service's ids or weights change. Stateful (caches rings): give each resolver its own.
 */
export function consistentHash(options: ConsistentHashOptions = {}): Strategy {
  const opts = objectOption(options, 'consistentHash options');
  const pointsPerInstance = integerOption(opts.pointsPerInstance, 256, 'consistentHash.pointsPerInstance', 1, 10_000);
  const random = randomOption(opts.random, 'consistentHash.random');
  const rings = new Map<string, { signature: string; ring: Ring }>();
  const load = new LoadTracker();
  const tracked = trackedBy(load);
  return {
    name: 'consistent-hash',
    createPicker(service: string, instances: readonly ServiceInstance[]): Picker {
      load.follow(service, instances);
      const sorted = [...instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const signature = sorted.map((instance) => `${instance.id}*${instance.weight}`).join(' ');
      let cached = rings.get(service);
      if (cached?.signature !== signature) {
        cached = { signature, ring: buildRing(sorted, pointsPerInstance) };
        rings.set(service, cached);
      }
      // The ring keeps the instance objects it was built from; a new list may carry updated copies.
      return ringPicker(cached.ring, sorted, new PickList(sorted, (instance) => load.picked(service, instance)), random);
    },
    inspect: tracked.inspect,
    release(service) {
      rings.delete(service);
      load.release(service);
    },
    close() {
      rings.clear();
      load.clear();
    },
  };
}

interface Ring {
  /** Point hashes, ascending. */
  readonly points: Uint32Array;
  /** Index (into the id-sorted instance list) of each point's owner. */
  readonly owners: Uint32Array;
}

function buildRing(sorted: readonly ServiceInstance[], pointsPerInstance: number): Ring {
  const totalWeight = sorted.reduce((sum, instance) => sum + instance.weight, 0);
  const counts = sorted.map((instance) => Math.max(1, Math.round((pointsPerInstance * sorted.length * instance.weight) / totalWeight)));
  const total = counts.reduce((sum, count) => sum + count, 0);
  // hash × 2^20 + owner fits a double exactly: one native numeric sort orders points, and equal
  // hashes (rare) tie-break on the id order, so every client builds the same ring.
  const packed = new Float64Array(total);
  let n = 0;
  sorted.forEach((instance, owner) => {
    for (let point = 0; point < (counts[owner] as number); point++) packed[n++] = hashString(instance.id, point) * 1_048_576 + owner;
  });
  packed.sort();
  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
  for (let i = 0; i < total; i++) {
    const value = packed[i] as number;
    points[i] = Math.floor(value / 1_048_576);
    owners[i] = value % 1_048_576;
  }
  return { points, owners };
}

function ringPicker(ring: Ring, sorted: readonly ServiceInstance[], picks: PickList, random: () => number): Picker {
  const { points, owners } = ring;
  const size = points.length;
  return {
    pick(context?: PickContext): PickResult {
      if (size === 0) return EMPTY_LIST;
      const key = context?.key;
      const hash = key === undefined ? Math.floor(random() * TWO_POW_32) : hashString(affinityKey(key));
      // First point at or after the hash, wrapping past the top of the ring.
      let low = 0;
      let high = size;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if ((points[middle] as number) < hash) low = middle + 1;
        else high = middle;
      }
      if (low === size) low = 0;
      const owner = owners[low] as number;
      const exclude = context?.exclude;
      if (exclude === undefined || !exclude.has((sorted[owner] as ServiceInstance).id)) return picks.at(owner);
      for (let step = 1; step < size; step++) {
        let index = low + step;
        if (index >= size) index -= size;
        const next = owners[index] as number;
        if (!exclude.has((sorted[next] as ServiceInstance).id)) return picks.at(next);
      }
      return picks.at(owner);
    },
  };
}
