import { describe, expect, it } from 'vitest';
import { LoadTracker } from '../../src/balancing/load-tracker.js';
import { createInstance, type ServiceInstance } from '../../src/index.js';

const instance = (id: string): ServiceInstance => createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8000 }, 0);

function builtSlots(load: LoadTracker): number {
  let slots = 0;
  load.forEachSlot(() => slots++);
  return slots;
}

describe('LoadTracker.figures', () => {
  it('reads a lazily followed list without building its slots, keeping the figures of instances it already tracked', () => {
    const load = new LoadTracker();
    load.follow('orders', [instance('o1'), instance('o2')]);
    expect(load.figures('orders')?.map((figures) => figures.id)).toEqual(['o1', 'o2']);
    expect(builtSlots(load)).toBe(0);

    load.ended('orders', 'o1', { ok: false, latencyMs: 30 });
    load.follow('orders', [instance('o1'), instance('o3')]);
    expect(load.figures('orders')).toEqual([
      { id: 'o1', outstanding: 0, calls: 1, failures: 1, latencyMs: 30 },
      { id: 'o3', outstanding: 0, calls: 0, failures: 0, latencyMs: undefined },
    ]);
    // Only the slots call feedback built (the earlier list's), none for the list inspected.
    expect(builtSlots(load)).toBe(2);
    expect(load.figures('billing')).toBeUndefined();
  });
});
