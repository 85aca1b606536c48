/**
 * Properties of every strategy and decorator over arbitrary instance lists, weights, zones,
 * contexts, outcomes and passing time: a pick returns an offered instance (a non-excluded one
 * while one is offered), or none with a reason for an empty list and where a strict filter or
 * outlier ejection documents one, and never throws; figures stay consistent whatever feedback the
 * picks receive; close() leaves no timer; retries never shift the rotation of
 * ordinary picks; factories accept good options and reject bad ones with RollcallErrors.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  InstancesEjectedError,
  STRATEGY_NAMES,
  consistentHash,
  filter,
  leastOutstanding,
  outlierEjection,
  p2c,
  random,
  roundRobin,
  slowStart,
  split,
  strategyByName,
  weighted,
  zoneAware,
  type NoInstance,
  type PickContext,
  type PickResult,
  type PickedInstance,
  type Strategy,
  type StrategyName,
} from '../../src/balancing/index.js';
import { InvalidArgumentError, createInstance, isRollcallError, type ServiceInstance } from '../../src/index.js';

const NOW = 1_700_000_000_000;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.useRealTimers();
});

// ---------------------------------------------------------------------------------------------
// Arbitraries

const instanceArb = (id: string) =>
  fc
    .record({
      weight: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 10_000 })),
      zone: fc.constantFrom(undefined, 'z1', 'z2', 'z3'),
      version: fc.constantFrom(undefined, '1.0.0', '2.0.0'),
      tags: fc.subarray(['gpu', 'canary']),
      ageMs: fc.integer({ min: 0, max: 60_000 }),
    })
    .map(({ ageMs, ...fields }) => createInstance({ id, service: 'orders', host: '10.0.0.1', port: 8080, registeredAt: NOW - ageMs, ...fields }, NOW));

const instancesArb = fc
  .uniqueArray(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,5}$/), { minLength: 1, maxLength: 10 })
  .chain((ids) => fc.tuple(...ids.map(instanceArb)));

type Op =
  | { readonly kind: 'pick'; readonly key: string | undefined; readonly exclude: readonly number[]; readonly unknown: boolean }
  | { readonly kind: 'call'; readonly ok: boolean; readonly latencyMs: number; readonly ends: boolean }
  | { readonly kind: 'outcome'; readonly index: number; readonly ok: boolean }
  | { readonly kind: 'list'; readonly keep: readonly boolean[] }
  | { readonly kind: 'advance'; readonly ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('pick' as const), key: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }), exclude: fc.array(fc.nat(12), { maxLength: 4 }), unknown: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('call' as const), ok: fc.boolean(), latencyMs: fc.oneof(fc.double({ min: 0, max: 5_000, noNaN: true }), fc.constantFrom(Number.NaN, -1, Infinity)), ends: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('outcome' as const), index: fc.nat(12), ok: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('list' as const), keep: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 120_000 })) }) },
);

// ---------------------------------------------------------------------------------------------
// Strategies under test

const BASES = {
  'round-robin': (r: () => number) => roundRobin({ random: r }),
  random: (r: () => number) => random({ random: r }),
  weighted: (r: () => number) => weighted({ random: r }),
  'least-outstanding': (r: () => number) => leastOutstanding({ random: r }),
  p2c: (r: () => number) => p2c({ random: r, decayMs: 1_000 }),
  'consistent-hash': (r: () => number) => consistentHash({ random: r, pointsPerInstance: 16 }),
} satisfies Record<StrategyName, (random: () => number) => Strategy>;

type BaseName = keyof typeof BASES;
const BASE_NAMES = Object.keys(BASES) as BaseName[];

/**
 * A decorator over a base strategy, and what it offers: the instances a pick may return for a
 * list (`undefined`: any listed instance, exclusions aside, i.e. no stricter claim is checked).
 */
interface Subject {
  readonly strategy: Strategy;
  /** Instances this strategy picks among for `list`, before exclusions; `undefined` to check membership only. */
  offered(list: readonly ServiceInstance[]): readonly ServiceInstance[] | undefined;
  /** Whether `none`, a pick's answer of no instance for the non-empty `list`, is one this configuration documents. */
  refuses(none: NoInstance, list: readonly ServiceInstance[]): boolean;
  /** Whether inspect() covers every listed instance. */
  readonly coversAll: boolean;
}

const DECORATORS = ['none', 'filter', 'filter-strict', 'split', 'zone-aware', 'zone-when-empty', 'slow-start', 'ejection', 'ejection-fail', 'composed'] as const;
type DecoratorName = (typeof DECORATORS)[number];

const gpu = (instance: ServiceInstance) => instance.tags.includes('gpu');

function subject(decorator: DecoratorName, base: BaseName, r: () => number, percent: number): Subject {
  const child = BASES[base](r);
  const none = () => false;
  switch (decorator) {
    case 'none':
      return { strategy: child, offered: (list) => list, refuses: none, coversAll: true };
    case 'filter':
      return {
        strategy: filter({ select: { tags: ['gpu'] } }, child),
        offered: (list) => (list.some(gpu) ? list.filter(gpu) : list),
        refuses: none,
        coversAll: false,
      };
    case 'filter-strict':
      return {
        strategy: filter({ select: { tags: ['gpu'] }, fallback: 'fail' }, child),
        offered: (list) => list.filter(gpu),
        refuses: (answer, list) => !list.some(gpu) && answer.error === undefined && /match the filter/.test(answer.reason),
        coversAll: false,
      };
    case 'split':
      return { strategy: split({ groups: [{ select: { version: '2.0.0' }, percent }], random: r }, child), offered: (list) => list, refuses: none, coversAll: true };
    case 'zone-aware':
      return { strategy: zoneAware({ zone: 'z1', random: r }, child), offered: (list) => list, refuses: none, coversAll: true };
    case 'zone-when-empty':
      return { strategy: zoneAware({ zone: 'z2', spillover: 'when-empty', random: r }, child), offered: (list) => list, refuses: none, coversAll: true };
    case 'slow-start':
      return { strategy: slowStart({ windowMs: 10_000, random: r }, child), offered: (list) => list, refuses: none, coversAll: true };
    case 'ejection':
    case 'ejection-fail': {
      const strategy = outlierEjection(
        { consecutiveFailures: 2, failureWindow: { failures: 3, windowMs: 5_000 }, baseEjectionMs: 1_000, maxEjectedPercent: percent, allEjected: decorator === 'ejection' ? 'panic' : 'fail' },
        child,
      );
      return {
        strategy,
        // Picks with exclusions never get a trial: they choose among the instances in rotation.
        offered: (list) => {
          const status = strategy.ejection('orders');
          if (status === undefined || status.panic) return list;
          const out = new Set(status.ejected);
          return list.filter((instance) => !out.has(instance.id));
        },
        refuses: (answer) => decorator === 'ejection-fail' && answer.error instanceof InstancesEjectedError && strategy.ejection('orders')?.failing === true,
        coversAll: true,
      };
    }
    case 'composed':
      return {
        strategy: outlierEjection(
          { consecutiveFailures: 1, baseEjectionMs: 500, maxEjectedPercent: percent },
          slowStart({ windowMs: 5_000, random: r }, zoneAware({ zone: 'z1', random: r }, split({ groups: [{ select: { version: '2.0.0' }, percent }], random: r }, filter({ select: { zone: ['z1', 'z2'] } }, child)))),
        ),
        offered: () => undefined,
        refuses: none,
        coversAll: true,
      };
  }
}

/** A pick's answer, or the error it threw. */
function attempt(run: () => PickResult): { result: PickResult } | { error: unknown } {
  try {
    return { result: run() };
  } catch (error) {
    return { error };
  }
}

// ---------------------------------------------------------------------------------------------

describe('every strategy and decorator, over arbitrary lists, contexts, outcomes and time', () => {
  it('picks an offered instance (a non-excluded one while one is offered), never throws beyond its typed errors, keeps figures consistent and leaves no timer', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DECORATORS),
        fc.constantFrom(...BASE_NAMES),
        instancesArb,
        fc.array(opArb, { maxLength: 40 }),
        fc.integer({ min: 0, max: 100 }),
        fc.infiniteStream(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })),
        (decorator, base, all, ops, percent, draws) => {
          const r = () => draws.next().value as number;
          const tested = subject(decorator, base, r, percent);
          const { strategy, coversAll } = tested;
          let list: readonly ServiceInstance[] = all;
          let picker = strategy.createPicker('orders', list);
          const pending: PickedInstance[] = [];
          const history: PickedInstance[] = [];

          for (const op of ops) {
            if (op.kind === 'list') {
              const kept = all.filter((_, index) => op.keep[index] !== false);
              list = kept.length > 0 ? kept : all;
              picker = strategy.createPicker('orders', list);
            } else if (op.kind === 'advance') {
              vi.advanceTimersByTime(op.ms);
            } else if (op.kind === 'outcome') {
              // Outcomes through any earlier pick, of an instance listed or not, in any state, with
              // or without a start, must be absorbed.
              history[op.index % Math.max(1, history.length)]?.done?.({ ok: op.ok, latencyMs: 1 });
            } else {
              const context: PickContext =
                op.kind === 'pick'
                  ? { key: op.key, exclude: new Set([...op.exclude.map((index) => (list[index % list.length] as ServiceInstance).id), ...(op.unknown ? ['not-listed'] : [])]) }
                  : {};
              const before = tested.offered(list);
              const outcome = attempt(() => picker.pick(context));
              if ('error' in outcome) throw outcome.error;
              const { result } = outcome;
              if (result.instance === undefined) {
                expect(tested.refuses(result, list), `a non-empty list yields an instance, or a documented none: ${result.reason}`).toBe(true);
                continue;
              }
              history.push(result);
              const picked = result.instance;
              expect(list.map((candidate) => candidate.id)).toContain(picked.id);
              const exclude = context.exclude ?? new Set<string>();
              if (before !== undefined && before.some((candidate) => !exclude.has(candidate.id))) {
                expect(exclude.has(picked.id), `picked excluded ${picked.id} while an offered instance was allowed`).toBe(false);
              }
              if (op.kind === 'call') {
                result.started?.();
                if (op.ends) result.done?.({ ok: op.ok, latencyMs: op.latencyMs });
                else pending.push(result);
              }
            }
          }
          for (const picked of pending.splice(0)) picked.done?.({ ok: true, latencyMs: 3 });

          const figures = strategy.inspect?.('orders');
          if (figures !== undefined) {
            const ids = figures.map((entry) => entry.id);
            expect(new Set(ids).size).toBe(ids.length);
            for (const id of ids) expect(list.map((instance) => instance.id)).toContain(id);
            if (coversAll) expect([...ids].sort()).toEqual(list.map((instance) => instance.id).sort());
            for (const entry of figures) {
              expect(entry.failures).toBeLessThanOrEqual(entry.calls);
              expect(entry.outstanding).toBeGreaterThanOrEqual(0);
              if (entry.calls === 0) expect(entry.latencyMs).toBeUndefined();
              else expect(Number.isFinite(entry.latencyMs) && (entry.latencyMs as number) >= 0).toBe(true);
            }
          }
          strategy.release?.('orders');
          expect(strategy.inspect?.('orders')).toBeUndefined();
          strategy.createPicker('orders', all);
          strategy.close?.();
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
      { numRuns: 1_500 },
    );
  });

  it('an empty list yields no instance, with a reason, with or without a context', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DECORATORS.filter((name) => name !== 'filter-strict')), fc.constantFrom(...BASE_NAMES), fc.option(fc.string(), { nil: undefined }), (decorator, base, key) => {
        const { strategy } = subject(decorator, base, Math.random, 50);
        const picker = strategy.createPicker('orders', []);
        for (const result of [picker.pick(), picker.pick({ key, exclude: new Set(['x']) })]) {
          expect(result.instance).toBeUndefined();
          expect(typeof (result as NoInstance).reason).toBe('string');
        }
        strategy.close?.();
      }),
      { numRuns: 200 },
    );
  });
});

describe('retries and the rotation', () => {
  it('round-robin, weighted and idle least-outstanding give ordinary picks the same sequence whatever retries come between', () => {
    const rotating = ['round-robin', 'weighted', 'least-outstanding'] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...rotating),
        instancesArb,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.array(fc.array(fc.nat(12), { maxLength: 5 }), { maxLength: 60 }),
        (name, list, start, retries) => {
          const plain = BASES[name](() => start).createPicker('orders', list);
          const retried = BASES[name](() => start).createPicker('orders', list);
          for (const excluded of retries) {
            const expected = plain.pick().instance?.id;
            expect(retried.pick().instance?.id).toBe(expected);
            if (excluded.length > 0) retried.pick({ exclude: new Set(excluded.map((index) => (list[index % list.length] as ServiceInstance).id)) });
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });
});

describe('factories and names', () => {
  const anything = fc.anything({ maxDepth: 2 });
  const randomArb = fc.oneof(fc.constant(() => 0.5), anything);
  const integerish = fc.oneof(fc.integer({ min: -5, max: 100_000 }), fc.double(), anything);
  const clockArb = fc.oneof(fc.constant({ now: () => Date.now() }), anything);

  const optionArbs: Record<string, fc.Arbitrary<unknown>> = {
    roundRobin: fc.oneof(anything, fc.record({ random: randomArb }, { requiredKeys: [] })),
    random: fc.oneof(anything, fc.record({ random: randomArb }, { requiredKeys: [] })),
    weighted: fc.oneof(anything, fc.record({ random: randomArb }, { requiredKeys: [] })),
    leastOutstanding: fc.oneof(anything, fc.record({ random: randomArb }, { requiredKeys: [] })),
    p2c: fc.oneof(anything, fc.record({ decayMs: integerish, random: randomArb, clock: clockArb }, { requiredKeys: [] })),
    consistentHash: fc.oneof(anything, fc.record({ pointsPerInstance: fc.oneof(fc.integer({ min: -1, max: 300 }), anything), random: randomArb }, { requiredKeys: [] })),
    filter: fc.oneof(
      anything,
      fc.record(
        {
          select: fc.oneof(fc.record({ tags: fc.oneof(fc.array(fc.string()), anything), zone: fc.oneof(fc.string(), anything), meta: fc.oneof(fc.dictionary(fc.string(), fc.string()), anything) }, { requiredKeys: [] }), anything),
          minInstances: integerish,
          fallback: fc.oneof(fc.constantFrom('all', 'fail'), anything),
        },
        { requiredKeys: [] },
      ),
    ),
    split: fc.oneof(
      anything,
      fc.record({ groups: fc.oneof(fc.array(fc.record({ select: fc.oneof(fc.constant({}), anything), percent: fc.oneof(fc.double({ min: -10, max: 110 }), anything) }, { requiredKeys: [] }), { maxLength: 3 }), anything), random: randomArb }, { requiredKeys: [] }),
    ),
    zoneAware: fc.oneof(anything, fc.record({ zone: fc.oneof(fc.string(), anything), spillover: fc.oneof(fc.constantFrom('proportional', 'when-empty'), anything), random: randomArb }, { requiredKeys: [] })),
    slowStart: fc.oneof(
      anything,
      fc.record({ windowMs: integerish, minShare: fc.oneof(fc.double(), anything), aggression: fc.oneof(fc.double(), anything), stepMs: integerish, random: randomArb, clock: clockArb }, { requiredKeys: [] }),
    ),
    outlierEjection: fc.oneof(
      anything,
      fc.record(
        {
          consecutiveFailures: integerish,
          failureWindow: fc.oneof(fc.record({ failures: integerish, windowMs: integerish }, { requiredKeys: [] }), anything),
          baseEjectionMs: integerish,
          maxEjectionMs: integerish,
          maxEjectedPercent: fc.oneof(fc.double(), anything),
          allEjected: fc.oneof(fc.constantFrom('panic', 'fail'), anything),
          onChange: fc.oneof(fc.constant(() => undefined), anything),
          clock: clockArb,
        },
        { requiredKeys: [] },
      ),
    ),
  };

  const makers: Record<string, (options: unknown, child: Strategy) => Strategy> = {
    roundRobin: (options) => roundRobin(options as never),
    random: (options) => random(options as never),
    weighted: (options) => weighted(options as never),
    leastOutstanding: (options) => leastOutstanding(options as never),
    p2c: (options) => p2c(options as never),
    consistentHash: (options) => consistentHash(options as never),
    filter: (options, child) => filter(options as never, child),
    split: (options, child) => split(options as never, child),
    zoneAware: (options, child) => zoneAware(options as never, child),
    slowStart: (options, child) => slowStart(options as never, child),
    outlierEjection: (options, child) => outlierEjection(options as never, child),
  };

  it('every factory either builds a working strategy or throws an InvalidArgumentError', () => {
    const factoryCase = fc.constantFrom(...Object.keys(makers)).chain((name) => fc.tuple(fc.constant(name), optionArbs[name] as fc.Arbitrary<unknown>));
    fc.assert(
      fc.property(factoryCase, fc.oneof({ weight: 5, arbitrary: fc.constant('valid') }, { weight: 1, arbitrary: anything }), instancesArb, ([name, options], childChoice, list) => {
        const child = childChoice === 'valid' ? roundRobin() : (childChoice as Strategy);
        let strategy: Strategy;
        try {
          strategy = (makers[name] as (options: unknown, child: Strategy) => Strategy)(options, child);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidArgumentError);
          return;
        }
        const picker = strategy.createPicker('orders', list);
        const outcome = attempt(() => picker.pick({ key: 'user-1' }));
        if ('error' in outcome) throw outcome.error;
        // A strict filter's options may match nothing: no instance, with a reason.
        if (outcome.result.instance === undefined) expect(typeof outcome.result.reason).toBe('string');
        else expect(list).toContain(outcome.result.instance);
        strategy.close?.();
        expect(vi.getTimerCount()).toBe(0);
      }),
      { numRuns: 2_000 },
    );
  });

  it('strategyByName accepts exactly the documented names and rejects everything else with an InvalidArgumentError', () => {
    const names = fc.oneof(
      fc.constantFrom(...STRATEGY_NAMES),
      fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype)),
      fc.string(),
      fc.anything({ maxDepth: 1 }),
    );
    fc.assert(
      fc.property(names, (name) => {
        const outcome = attempt(() => strategyByName(name as never).createPicker('orders', []).pick());
        if ((STRATEGY_NAMES as readonly unknown[]).includes(name)) expect('result' in outcome && outcome.result.instance === undefined).toBe(true);
        else expect('error' in outcome && outcome.error instanceof InvalidArgumentError && outcome.error.field === 'strategy').toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });

  it('affinity keys: a string or nothing picks; any other value is an InvalidArgumentError for strategies that hash keys, and ignored by the others', () => {
    const hashing = new Set<DecoratorName | BaseName>(['consistent-hash', 'split', 'zone-aware', 'slow-start']);
    fc.assert(
      fc.property(
        fc.constantFrom<DecoratorName>('none', 'split', 'zone-aware', 'slow-start', 'ejection'),
        fc.constantFrom(...BASE_NAMES),
        instancesArb,
        fc.oneof(fc.string(), fc.constant(undefined), fc.anything({ maxDepth: 1 })),
        (decorator, base, list, key) => {
          const { strategy } = subject(decorator, base, Math.random, 30);
          const withZones = [...list, createInstance({ id: 'zone-local', service: 'orders', host: 'h', port: 1, zone: 'z1', version: '2.0.0' }, NOW)];
          const outcome = attempt(() => strategy.createPicker('orders', withZones).pick({ key: key as never }));
          const hashes = hashing.has(base) || hashing.has(decorator);
          if (key === undefined || typeof key === 'string' || !hashes) {
            if ('error' in outcome) throw outcome.error;
            expect(withZones).toContain(outcome.result.instance);
          } else {
            expect('error' in outcome && outcome.error instanceof InvalidArgumentError && outcome.error.field === 'key').toBe(true);
          }
          strategy.close?.();
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('consistent hashing sends a key to the same instance in every client, whatever the list order', () => {
    fc.assert(
      fc.property(instancesArb, fc.string(), fc.array(fc.nat(), { maxLength: 10 }), (list, key, order) => {
        const shuffled = [...list].sort((a, b) => (order[list.indexOf(a) % Math.max(1, order.length)] ?? 0) - (order[list.indexOf(b) % Math.max(1, order.length)] ?? 0));
        const first = consistentHash({ pointsPerInstance: 16 }).createPicker('orders', list).pick({ key });
        const second = consistentHash({ pointsPerInstance: 16 }).createPicker('orders', shuffled).pick({ key });
        expect(second.instance?.id).toBe(first.instance?.id);
      }),
      { numRuns: 500 },
    );
  });

  it('errors thrown by factories are rollcall errors that name a field', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(makers)), fc.anything({ maxDepth: 1 }), (name, options) => {
        const outcome = attempt(() => (makers[name] as (options: unknown, child: Strategy) => Strategy)(options, roundRobin()).createPicker('orders', []).pick());
        if ('error' in outcome) {
          expect(isRollcallError(outcome.error)).toBe(true);
          expect((outcome.error as InvalidArgumentError).field).toMatch(/^[A-Za-z]/);
        }
      }),
      { numRuns: 500 },
    );
  });
});
