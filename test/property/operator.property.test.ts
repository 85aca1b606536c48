import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WATCHED_FIELDS, diffInstances } from '../../src/cli/changes.js';
import { table } from '../../src/cli/format.js';
import { createInstance, type ServiceInstance } from '../../src/index.js';

const id = fc.constantFrom('a-1', 'a-2', 'b-1', 'b-2', 'c', 'Z9');
/** An instance whose watched fields vary over small domains, so equal and different values both come up. */
const instanceOf = (instanceId: string): fc.Arbitrary<ServiceInstance> =>
  fc
    .record({
      status: fc.constantFrom('passing', 'warning', 'critical', 'draining' as const),
      port: fc.constantFrom(3000, 3001),
      zone: fc.option(fc.constantFrom('eu-1a', 'eu-1b'), { nil: undefined }),
      version: fc.option(fc.constantFrom('1.0.0', '1.1.0'), { nil: undefined }),
      weight: fc.constantFrom(1, 5),
      tags: fc.constantFrom([], ['canary'], ['canary', 'blue'], ['blue', 'canary']),
      meta: fc.constantFrom({}, { team: 'core' }, { team: 'core', tier: 'gold' }, { tier: 'gold', team: 'core' }),
      updatedAt: fc.integer({ min: 0, max: 10 }),
    })
    .map(({ status, port, zone, version, weight, tags, meta, updatedAt }) =>
      createInstance({ id: instanceId, service: 'orders', host: '127.0.0.1', port, status, zone, version, weight, tags, meta, updatedAt, registeredAt: 0 }, 0),
    );
const list = fc.uniqueArray(id, { maxLength: 6 }).chain((ids) => fc.tuple(...ids.map(instanceOf)));

/** Watched fields only: what a reader of the changes can rebuild. */
const view = (instances: readonly ServiceInstance[]): Record<string, unknown> =>
  Object.fromEntries(instances.map((instance) => [instance.id, Object.fromEntries(WATCHED_FIELDS.map((field) => [field, instance[field]]))]));

describe('operator tools (property)', () => {
  it('diffInstances: applying the changes to the old list gives the new one, and equal lists give none', () => {
    fc.assert(
      fc.property(list, list, (before, after) => {
        const changes = diffInstances(before, after);
        const rebuilt = new Map(before.map((instance) => [instance.id, instance]));
        for (const change of changes) {
          if (change.type === 'removed') rebuilt.delete(change.instance.id);
          else rebuilt.set(change.instance.id, change.instance);
          if (change.type === 'changed') expect(change.fields.length).toBeGreaterThan(0);
        }
        expect(view([...rebuilt.values()])).toEqual(view(after));
        expect(diffInstances(after, after)).toEqual([]);
        // Each id at most once, in id order.
        const ids = changes.map((change) => change.instance.id);
        expect(ids).toEqual([...new Set(ids)].sort());
      }),
      { numRuns: 3_000 },
    );
  });

  it('table: every cell starts in its column on every line, whatever the widths', () => {
    const cell = fc.stringMatching(/^[A-Za-z0-9.:/_-]{0,12}$/);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }).chain((columns) => fc.tuple(fc.array(cell, { minLength: columns, maxLength: columns }), fc.array(fc.array(cell, { minLength: columns, maxLength: columns }), { maxLength: 6 }))), ([header, rows]) => {
        const lines = table(header, rows).split('\n').slice(0, -1);
        expect(lines).toHaveLength(rows.length + 1);
        const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] as string).length)));
        [header, ...rows].forEach((cells, index) => {
          let offset = 0;
          cells.forEach((text, column) => {
            expect((lines[index] as string).slice(offset, offset + text.length)).toBe(text);
            offset += (widths[column] as number) + 2;
          });
        });
      }),
      { numRuns: 2_000 },
    );
  });
});
