import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  InstancesEjectedError,
  outlierEjection,
  p2c,
  roundRobin,
  type CallOutcome,
  type EjectionEvent,
  type OutlierEjectionOptions,
  type PickResult,
  type PickedInstance,
  type Picker,
  type Strategy,
} from '../../src/balancing/index.js';
import { ServiceUnavailableError, isRollcallError } from '../../src/index.js';
import { inst, list, pickOf, tally } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(0);
});

afterEach(() => {
  vi.useRealTimers();
});

const IDS = ['a', 'b', 'c', 'd'];

/** `times` calls to `id`, picked and started now (calls in flight), to be ended later. */
function callsTo(picker: Picker, id: string, times: number, ids = IDS): PickedInstance[] {
  return Array.from({ length: times }, () => {
    const picked = pickOf(picker, id, ids);
    picked.started?.();
    return picked;
  });
}

/** `times` calls to `id` that fail; all are started before the first one ends, as concurrent calls are. */
function fail(picker: Picker, id: string, times: number, ids = IDS): void {
  for (const picked of callsTo(picker, id, times, ids)) picked.done?.({ ok: false, latencyMs: 1 });
}

function succeed(picker: Picker, id: string, ids = IDS): void {
  for (const picked of callsTo(picker, id, 1, ids)) picked.done?.({ ok: true, latencyMs: 1 });
}

/** The next ordinary pick, which must be `id`'s (its trial, when it is half-open). */
function next(picker: Picker, id: string): PickedInstance {
  const picked = picker.pick();
  expect(picked.instance?.id).toBe(id);
  return picked as PickedInstance;
}

/** The reason of a pick that must have answered no instance. */
function reasonOf(result: PickResult): string {
  if (result.instance !== undefined) throw new Error(`expected no instance, got ${result.instance.id}`);
  return result.reason;
}

function picked(picker: Picker): string[] {
  return Object.keys(tally(picker, 40)).sort();
}

function setup(options: OutlierEjectionOptions = {}, ids = IDS) {
  const events: EjectionEvent[] = [];
  const strategy = outlierEjection({ onChange: (event) => events.push(event), ...options }, roundRobin({ random: () => 0 }));
  const picker = strategy.createPicker('orders', list(...ids));
  const kinds = () => events.map((event) => `${event.type} ${event.instanceId}${event.reason === undefined ? '' : ` ${event.reason}`}`);
  return { strategy, picker, events, kinds };
}

describe('outlierEjection: consecutive failures', () => {
  it('ejects an instance after 5 consecutive failures for 30 s, then lets exactly one trial call through, which readmits it', () => {
    const { strategy, picker, events, kinds } = setup();
    fail(picker, 'a', 4);
    expect(picked(picker)).toEqual(['a', 'b', 'c', 'd']);
    fail(picker, 'a', 1);
    expect(picked(picker)).toEqual(['b', 'c', 'd']);
    expect(strategy.ejection('orders')).toEqual({
      ejected: ['a'],
      instances: [{ id: 'a', state: 'ejected', reason: 'consecutive-failures', ejections: 1, ejectedAt: 0, until: 30_000 }],
      panic: false,
      failing: false,
    });
    expect(events).toEqual([{ service: 'orders', instanceId: 'a', type: 'ejected', ejected: true, reason: 'consecutive-failures', durationMs: 30_000, ejections: 1 }]);
    vi.advanceTimersByTime(29_999);
    expect(picked(picker)).toEqual(['b', 'c', 'd']);
    vi.advanceTimersByTime(1);
    expect(strategy.ejection('orders')?.instances[0]?.state).toBe('half-open');
    // The next call is the trial; while it is pending, no other call goes there.
    const trial = next(picker, 'a');
    expect(picked(picker)).toEqual(['b', 'c', 'd']);
    trial.done?.({ ok: true, latencyMs: 1 });
    expect(strategy.ejection('orders')?.ejected).toEqual([]);
    expect(picked(picker)).toEqual(['a', 'b', 'c', 'd']);
    expect(kinds()).toEqual(['ejected a consecutive-failures', 'half-open a consecutive-failures', 'readmitted a']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts only consecutive failures: a success starts the count again', () => {
    const { strategy, picker } = setup();
    fail(picker, 'a', 4);
    succeed(picker, 'a');
    fail(picker, 'a', 4);
    expect(strategy.ejection('orders')?.ejected).toEqual([]);
  });

  it('re-ejects at once, for longer, when the trial fails: one failure, not five', () => {
    const { strategy, picker, events, kinds } = setup();
    fail(picker, 'a', 5);
    vi.advanceTimersByTime(30_000);
    next(picker, 'a').done?.({ ok: false, latencyMs: 1 });
    expect(strategy.ejection('orders')?.instances).toEqual([{ id: 'a', state: 'ejected', reason: 'failed-trial', ejections: 2, ejectedAt: 30_000, until: 90_000 }]);
    expect(events.at(-1)).toMatchObject({ type: 'ejected', reason: 'failed-trial', durationMs: 60_000, ejections: 2 });
    expect(picked(picker)).toEqual(['b', 'c', 'd']);
    expect(kinds()).toEqual(['ejected a consecutive-failures', 'half-open a consecutive-failures', 'ejected a failed-trial']);
  });

  it('backs off a repeat offender, up to maxEjectionMs', () => {
    const { picker, events } = setup({ baseEjectionMs: 10_000, maxEjectionMs: 25_000 });
    fail(picker, 'a', 5);
    for (let round = 0; round < 2; round++) {
      vi.advanceTimersByTime(events.at(-1)?.durationMs ?? 0);
      next(picker, 'a').done?.({ ok: false, latencyMs: 1 });
    }
    expect(events.filter((event) => event.type === 'ejected').map((event) => [event.durationMs, event.ejections])).toEqual([
      [10_000, 1],
      [20_000, 2],
      [25_000, 3],
    ]);
  });

  it('forgives one ejection per baseEjectionMs an instance stays in after readmission', () => {
    const { picker, events } = setup({ baseEjectionMs: 10_000 });
    const readmit = (afterMs: number) => {
      vi.advanceTimersByTime(afterMs);
      next(picker, 'a').done?.({ ok: true, latencyMs: 1 });
    };
    fail(picker, 'a', 5);
    readmit(10_000);
    fail(picker, 'a', 5);
    readmit(20_000);
    vi.advanceTimersByTime(20_000); // two full periods in
    fail(picker, 'a', 5);
    expect(events.filter((event) => event.type === 'ejected').map((event) => event.ejections)).toEqual([1, 2, 1]);
  });

  it('hands a trial that reports nothing within baseEjectionMs to another call', () => {
    const { strategy, picker } = setup({ baseEjectionMs: 10_000 });
    fail(picker, 'a', 5);
    vi.advanceTimersByTime(10_000);
    next(picker, 'a');
    vi.advanceTimersByTime(9_999);
    expect(picked(picker)).toEqual(['b', 'c', 'd']);
    vi.advanceTimersByTime(1);
    next(picker, 'a').done?.({ ok: true, latencyMs: 1 });
    expect(strategy.ejection('orders')?.ejected).toEqual([]);
  });

  it('never hands a trial to a retry, and ignores outcomes of calls that are not the trial', () => {
    const { strategy, picker } = setup();
    const inFlight = callsTo(picker, 'a', 16);
    for (const call of inFlight.slice(0, 12)) call.done?.({ ok: false, latencyMs: 1 });
    expect(strategy.ejection('orders')?.instances[0]?.ejections).toBe(1);
    vi.advanceTimersByTime(30_000);
    // Outcomes of calls started before the ejection ended change nothing.
    for (const call of inFlight.slice(12, 15)) call.done?.({ ok: false, latencyMs: 1 });
    inFlight[15]?.done?.({ ok: true, latencyMs: 1 });
    expect(strategy.ejection('orders')?.instances[0]?.state).toBe('half-open');
    expect(picker.pick({ exclude: new Set(['b']) }).instance?.id).not.toBe('a');
    expect(picker.pick().instance?.id).toBe('a');
  });
});

describe('outlierEjection: failures within a sliding window', () => {
  it('ejects after 5 failures within 60 s although successes come between', () => {
    const { picker, kinds } = setup({ failureWindow: { failures: 5, windowMs: 60_000 } });
    for (let n = 0; n < 5; n++) {
      vi.advanceTimersByTime(10_000);
      const [failing, ...succeeding] = callsTo(picker, 'a', 3);
      failing?.done?.({ ok: false, latencyMs: 1 });
      for (const call of succeeding) call.done?.({ ok: true, latencyMs: 1 });
    }
    expect(kinds()).toEqual(['ejected a failure-window']);
  });

  it('does not eject when the failures are spread over more than the window', () => {
    const { strategy, picker } = setup({ failureWindow: { failures: 5, windowMs: 60_000 } });
    for (let n = 0; n < 20; n++) {
      fail(picker, 'a', 1);
      vi.advanceTimersByTime(15_000);
    }
    // 20 failures in a row, never 5 within 60 s: with only a window given, the consecutive rule is off.
    expect(strategy.ejection('orders')?.ejected).toEqual([]);
  });

  it('with both rules, ejects on whichever trips first', () => {
    const both = setup({ consecutiveFailures: 3, failureWindow: { failures: 4, windowMs: 60_000 } });
    fail(both.picker, 'a', 3);
    fail(both.picker, 'b', 2);
    succeed(both.picker, 'b');
    fail(both.picker, 'b', 2);
    expect(both.kinds()).toEqual(['ejected a consecutive-failures', 'ejected b failure-window']);
  });

  it('starts counting afresh after a readmission', () => {
    const { strategy, picker } = setup({ failureWindow: { failures: 3, windowMs: 60_000 }, baseEjectionMs: 1_000 });
    fail(picker, 'a', 3);
    vi.advanceTimersByTime(1_000);
    next(picker, 'a').done?.({ ok: true, latencyMs: 1 });
    fail(picker, 'a', 2);
    expect(strategy.ejection('orders')?.ejected).toEqual([]);
  });
});

describe('outlierEjection: when every instance is out', () => {
  it('never ejects more than maxEjectedPercent of the instances (at least one)', () => {
    const { strategy, picker } = setup();
    for (const id of ['a', 'b', 'c']) fail(picker, id, 5);
    expect(strategy.ejection('orders')?.ejected).toEqual(['a', 'b']);
    expect(picked(picker)).toEqual(['c', 'd']);
    fail(picker, 'c', 10);
    expect(picked(picker)).toEqual(['c', 'd']);
    const tenPercent = setup({ maxEjectedPercent: 10 });
    for (const id of ['a', 'b']) fail(tenPercent.picker, id, 5);
    expect(tenPercent.strategy.ejection('orders')?.ejected).toEqual(['a']);
  });

  it('by default balances over every instance (panic mode), a single instance included', () => {
    const { strategy, picker } = setup({ maxEjectedPercent: 100 }, ['a', 'b']);
    fail(picker, 'a', 5, ['a', 'b']);
    fail(picker, 'b', 5, ['a', 'b']);
    expect(strategy.ejection('orders')).toMatchObject({ ejected: ['a', 'b'], panic: true, failing: false });
    expect(picked(picker)).toEqual(['a', 'b']);
    const single = setup({}, ['solo']);
    fail(single.picker, 'solo', 5, ['solo']);
    expect(single.strategy.ejection('orders')?.panic).toBe(true);
    expect(single.picker.pick().instance?.id).toBe('solo');
  });

  it('enters panic mode when the healthy instances leave the list', () => {
    const { strategy, picker: first } = setup();
    fail(first, 'a', 5);
    const picker = strategy.createPicker('orders', list('a'));
    expect(strategy.ejection('orders')).toMatchObject({ ejected: ['a'], panic: true });
    expect(picker.pick().instance?.id).toBe('a');
  });

  it("with allEjected: 'fail', rejects calls to a broken single instance with a typed error naming it, until its trial succeeds", () => {
    const { strategy, picker } = setup({ allEjected: 'fail' }, ['solo']);
    fail(picker, 'solo', 5, ['solo']);
    expect(strategy.ejection('orders')).toMatchObject({ ejected: ['solo'], panic: false, failing: true });
    const refused = picker.pick();
    expect(refused.instance).toBeUndefined();
    const error = 'error' in refused ? refused.error : undefined;
    expect(error).toBeInstanceOf(InstancesEjectedError);
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(isRollcallError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'orders', ejected: [{ id: 'solo', state: 'ejected', reason: 'consecutive-failures', until: 30_000 }] });
    expect((error as Error).message).toBe(
      'No instance of orders is available (balancer: every instance is ejected by outlier ejection: solo (consecutive-failures, out until 1970-01-01T00:00:30.000Z))',
    );
    expect(refused).toMatchObject({ reason: (error as InstancesEjectedError).attempts[0]?.reason });
    vi.advanceTimersByTime(30_000);
    const trial = next(picker, 'solo');
    // Only the trial goes through; the calls beside it still fail fast.
    expect(reasonOf(picker.pick())).toMatch(/solo \(consecutive-failures, half-open, its trial call pending\)/);
    trial.done?.({ ok: true, latencyMs: 1 });
    expect(picker.pick().instance?.id).toBe('solo');
    expect(strategy.ejection('orders')).toMatchObject({ ejected: [], failing: false });
  });

  it("with allEjected: 'fail' and a cap of 100, fails fast once every instance is out and names each", () => {
    const { picker } = setup({ allEjected: 'fail', maxEjectedPercent: 100, failureWindow: { failures: 2, windowMs: 1_000 } }, ['a', 'b']);
    fail(picker, 'a', 2, ['a', 'b']);
    expect(picker.pick().instance?.id).toBe('b');
    fail(picker, 'b', 2, ['a', 'b']);
    const refused = picker.pick();
    expect('error' in refused ? refused.error : undefined).toBeInstanceOf(InstancesEjectedError);
    expect(reasonOf(refused)).toMatch(/a \(failure-window, out until .*\), b \(failure-window, out until .*\)/);
  });
});

describe('outlierEjection: figures and housekeeping', () => {
  it('inspect() reports every listed instance with its calls and failures, ejected ones included, merged with the child\'s figures', () => {
    let now = 0;
    const strategy = outlierEjection({ consecutiveFailures: 2, clock: { now: () => now } }, p2c({ random: () => 0, clock: { now: () => now } }));
    const picker = strategy.createPicker('orders', list('a', 'b'));
    for (const [id, ok, latencyMs] of [['a', true, 10], ['a', false, 30], ['a', false, 50], ['b', true, 20]] as const) {
      const [call] = callsTo(picker, id, 1, ['a', 'b']);
      call?.done?.({ ok, latencyMs });
    }
    now = 5;
    const figures = strategy.inspect?.('orders');
    expect(figures).toEqual([
      { id: 'a', outstanding: 0, calls: 3, failures: 2, latencyMs: 10 + 0.1 * 20 + 0.1 * (50 - 12), ejection: { id: 'a', state: 'ejected', reason: 'consecutive-failures', ejections: 1, ejectedAt: 0, until: 30_000 } },
      { id: 'b', outstanding: 0, calls: 1, failures: 0, latencyMs: 20, estimateMs: 20 },
    ]);
    expect(strategy.inspect?.('billing')).toBeUndefined();
    strategy.close?.();
  });

  it('drops the state and timer of an instance that leaves the list', () => {
    const { strategy, picker } = setup();
    fail(picker, 'a', 5);
    expect(vi.getTimerCount()).toBe(1);
    strategy.createPicker('orders', list('b', 'c', 'd'));
    expect(vi.getTimerCount()).toBe(0);
    strategy.createPicker('orders', list('a', 'b', 'c', 'd'));
    expect(picked(picker)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('clears every timer on release and close, ejection and trial timers alike, and survives a throwing listener', () => {
    const strategy = outlierEjection({ onChange: () => { throw new Error('listener'); } }, roundRobin());
    const picker = strategy.createPicker('orders', list('a', 'b'));
    const billing = strategy.createPicker('billing', [inst('x', { service: 'billing' }), inst('y', { service: 'billing' })]);
    fail(picker, 'a', 5, ['a', 'b']);
    vi.advanceTimersByTime(30_000);
    next(picker, 'a');
    fail(billing, 'x', 5, ['x', 'y']);
    expect(vi.getTimerCount()).toBe(2);
    strategy.release?.('orders');
    expect(vi.getTimerCount()).toBe(1);
    expect(strategy.ejection('orders')).toBeUndefined();
    strategy.close?.();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('passes call feedback on to the child and validates its options', () => {
    const ended: boolean[] = [];
    const child = roundRobin();
    const recording: Strategy = {
      ...child,
      createPicker: (service, instances) => {
        const picker = child.createPicker(service, instances);
        return {
          pick: (context) => {
            const picked = picker.pick(context);
            return picked.instance === undefined ? picked : { ...picked, done: (outcome: CallOutcome) => ended.push(outcome.ok) };
          },
        };
      },
    };
    fail(outlierEjection({}, recording).createPicker('orders', list('a')), 'a', 2, ['a']);
    expect(ended).toEqual([false, false]);
    expect(() => outlierEjection({ consecutiveFailures: 0 }, roundRobin())).toThrow(/outlierEjection.consecutiveFailures/);
    expect(() => outlierEjection({ baseEjectionMs: 10_000, maxEjectionMs: 5_000 }, roundRobin())).toThrow(/outlierEjection.maxEjectionMs/);
    expect(() => outlierEjection({ maxEjectedPercent: 101 }, roundRobin())).toThrow(/outlierEjection.maxEjectedPercent/);
    expect(() => outlierEjection({ allEjected: 'open' as never }, roundRobin())).toThrow(/outlierEjection.allEjected/);
    expect(() => outlierEjection({ failureWindow: 5 as never }, roundRobin())).toThrow(/Invalid outlierEjection.failureWindow: expected an object/);
    expect(() => outlierEjection({ failureWindow: { failures: 5 } as never }, roundRobin())).toThrow(/outlierEjection.failureWindow.windowMs: expected an integer from 1 to 86400000, got undefined/);
    expect(() => outlierEjection({ failureWindow: { failures: 0, windowMs: 1_000 } }, roundRobin())).toThrow(/outlierEjection.failureWindow.failures/);
  });
});
