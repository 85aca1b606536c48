import { describe, expect, it } from 'vitest';
import { filter, roundRobin, type Strategy } from '../../src/balancing/index.js';
import { MemoryBackend, ServiceUnavailableError, createResolver } from '../../src/index.js';
import { inst, pickOf, sequence, tally } from './helpers.js';

const fleet = [
  inst('gpu1', { tags: ['gpu', 'large'], version: '2.0.0', meta: { track: 'canary' } }),
  inst('gpu2', { tags: ['gpu'], version: '1.9.0' }),
  inst('cpu1', { tags: ['large'], version: '1.9.0', zone: 'eu-1a' }),
];

function picked(strategy: Strategy): string[] {
  return Object.keys(tally(strategy.createPicker('orders', fleet), 30)).sort();
}

describe('filter', () => {
  it('keeps instances by tags, meta, version, zone or predicate', () => {
    expect(picked(filter({ select: { tags: ['gpu'] } }, roundRobin()))).toEqual(['gpu1', 'gpu2']);
    expect(picked(filter({ select: { tags: ['gpu', 'large'] } }, roundRobin()))).toEqual(['gpu1']);
    expect(picked(filter({ select: { meta: { track: 'canary' } } }, roundRobin()))).toEqual(['gpu1']);
    expect(picked(filter({ select: { version: ['1.9.0', '1.9.1'] } }, roundRobin()))).toEqual(['cpu1', 'gpu2']);
    expect(picked(filter({ select: { zone: 'eu-1a' } }, roundRobin()))).toEqual(['cpu1']);
    expect(picked(filter({ select: (instance) => instance.id.endsWith('2') }, roundRobin()))).toEqual(['gpu2']);
    expect(picked(filter({ select: {} }, roundRobin()))).toEqual(['cpu1', 'gpu1', 'gpu2']);
  });

  it('falls back to every eligible instance when too few match, by default', () => {
    expect(picked(filter({ select: { tags: ['tpu'] } }, roundRobin()))).toEqual(['cpu1', 'gpu1', 'gpu2']);
    expect(picked(filter({ select: { tags: ['gpu'] }, minInstances: 3 }, roundRobin()))).toEqual(['cpu1', 'gpu1', 'gpu2']);
  });

  it("rejects with SERVICE_UNAVAILABLE naming the filter when fallback is 'fail'", async () => {
    const strict = filter({ select: { version: '3.0.0' }, fallback: 'fail' }, roundRobin());
    const reason = '0 of 3 eligible instance(s) match the filter (version "3.0.0"), fewer than 1';
    expect(strict.createPicker('orders', fleet).pick()).toEqual({ reason });
    const backend = new MemoryBackend();
    for (const instance of fleet) await backend.register(instance, { ttlMs: 60_000 });
    await using resolver = createResolver({ backend, strategy: strict, envFallback: false });
    const error = await resolver.resolve('orders').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect((error as ServiceUnavailableError).attempts).toEqual([{ tier: 'balancer', reason }]);
    await expect(resolver.pick('orders')).rejects.toThrow(/0 of 3 eligible instance\(s\) match the filter \(version "3.0.0"\), fewer than 1/);
  });

  it('passes exclusions and the picks of the child, with their call feedback, through under the same service', () => {
    const events: string[] = [];
    const child: Strategy = {
      name: 'recording',
      createPicker: (service, list) => {
        events.push(`picker ${service} ${list.map((i) => i.id).join(',')}`);
        return {
          pick: (context) => {
            const { instance } = roundRobin({ random: () => 0 }).createPicker(service, list).pick(context);
            if (instance === undefined) throw new Error('the child always has an instance');
            return {
              instance,
              started: () => events.push(`start ${service} ${instance.id}`),
              done: (outcome) => events.push(`end ${service} ${instance.id} ${outcome.ok}`),
            };
          },
        };
      },
      release: (service) => events.push(`release ${service}`),
      close: () => events.push('close'),
    };
    const strategy = filter({ select: { tags: ['gpu'] } }, child);
    const picker = strategy.createPicker('orders', fleet);
    expect(sequence(picker, 2, { exclude: new Set(['gpu1']) })).toEqual(['gpu2', 'gpu2']);
    const picked = pickOf(picker, 'gpu2', ['gpu1', 'gpu2']);
    picked.started?.();
    picked.done?.({ ok: false, latencyMs: 3 });
    strategy.release?.('orders');
    strategy.close?.();
    expect(events).toEqual(['picker orders gpu1,gpu2', 'start orders gpu2', 'end orders gpu2 false', 'release orders', 'close']);
    expect(strategy.name).toBe('filter(recording)');
  });

  it('rejects malformed options when built', () => {
    expect(() => filter({ select: 'gpu' as never }, roundRobin())).toThrow(/Invalid filter.select/);
    expect(() => filter({ select: { tags: 'gpu' as never } }, roundRobin())).not.toThrow();
    expect(() => filter({ select: { tags: [1] as never } }, roundRobin())).toThrow(/Invalid filter.select.tags/);
    expect(() => filter({ select: {}, fallback: 'none' as never }, roundRobin())).toThrow(/Invalid filter.fallback/);
    expect(() => filter({ select: {} }, {} as never)).toThrow(/Invalid filter child strategy/);
  });
});
