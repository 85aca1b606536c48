import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { outlierEjection, roundRobin, type EjectionEvent, type OutlierEjectionOptions, type Picker, type Strategy } from '../../src/balancing/index.js';
import { inst, list, tally } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

function fail(strategy: Strategy, id: string, times: number): void {
  for (let n = 0; n < times; n++) strategy.callEnded?.('orders', inst(id), { ok: false, latencyMs: 1 });
}

function succeed(strategy: Strategy, id: string): void {
  strategy.callEnded?.('orders', inst(id), { ok: true, latencyMs: 1 });
}

function picked(picker: Picker): string[] {
  return Object.keys(tally(picker, 40)).sort();
}

function setup(options: OutlierEjectionOptions = {}, ids = ['a', 'b', 'c', 'd']) {
  const events: EjectionEvent[] = [];
  const strategy = outlierEjection({ onChange: (event) => events.push(event), ...options }, roundRobin());
  const picker = strategy.createPicker('orders', list(...ids));
  return { strategy, picker, events };
}

describe('outlierEjection', () => {
  it('ejects an instance after 5 consecutive failures, for 30 s, and then returns it', () => {
    const { strategy, picker, events } = setup();
    fail(strategy, 'a', 4);
    expect(picked(picker)).toEqual(['a', 'b', 'c', 'd']);
    fail(strategy, 'a', 1);
    expect(picked(picker)).toEqual(['b', 'c', 'd']);
    expect(strategy.ejection('orders')).toEqual({ ejected: ['a'], panic: false });
    expect(events).toEqual([{ service: 'orders', instanceId: 'a', ejected: true, durationMs: 30_000, ejections: 1 }]);
    vi.advanceTimersByTime(29_999);
    expect(picked(picker)).toEqual(['b', 'c', 'd']);
    vi.advanceTimersByTime(1);
    expect(picked(picker)).toEqual(['a', 'b', 'c', 'd']);
    expect(events[1]).toMatchObject({ instanceId: 'a', ejected: false });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts only consecutive failures: a success starts the count again', () => {
    const { strategy } = setup();
    fail(strategy, 'a', 4);
    succeed(strategy, 'a');
    fail(strategy, 'a', 4);
    expect(strategy.ejection('orders')?.ejected).toEqual([]);
  });

  it('ejects a repeat offender for longer each time, up to maxEjectionMs', () => {
    const { strategy, events } = setup({ baseEjectionMs: 10_000, maxEjectionMs: 25_000 });
    for (let round = 0; round < 3; round++) {
      fail(strategy, 'a', 5);
      vi.advanceTimersByTime(events.at(-1)?.durationMs ?? 0);
    }
    expect(events.filter((event) => event.ejected).map((event) => [event.durationMs, event.ejections])).toEqual([
      [10_000, 1],
      [20_000, 2],
      [25_000, 3],
    ]);
  });

  it('forgives one ejection per baseEjectionMs an instance stays healthy', () => {
    const { strategy, events } = setup({ baseEjectionMs: 10_000 });
    fail(strategy, 'a', 5);
    vi.advanceTimersByTime(10_000);
    fail(strategy, 'a', 5);
    vi.advanceTimersByTime(20_000);
    vi.advanceTimersByTime(25_000); // two full periods in
    fail(strategy, 'a', 5);
    expect(events.filter((event) => event.ejected).map((event) => event.ejections)).toEqual([1, 2, 1]);
  });

  it('never ejects more than maxEjectedPercent of the instances (at least one)', () => {
    const { strategy, picker } = setup();
    for (const id of ['a', 'b', 'c']) fail(strategy, id, 5);
    expect(strategy.ejection('orders')?.ejected).toEqual(['a', 'b']);
    expect(picked(picker)).toEqual(['c', 'd']);
    fail(strategy, 'c', 10);
    expect(picked(picker)).toEqual(['c', 'd']);
    const tenPercent = setup({ maxEjectedPercent: 10 });
    for (const id of ['a', 'b']) fail(tenPercent.strategy, id, 5);
    expect(tenPercent.strategy.ejection('orders')?.ejected).toEqual(['a']);
  });

  it('falls back to every instance when all are ejected (panic mode)', () => {
    const { strategy, picker } = setup({ maxEjectedPercent: 100 }, ['a', 'b']);
    fail(strategy, 'a', 5);
    fail(strategy, 'b', 5);
    expect(strategy.ejection('orders')).toEqual({ ejected: ['a', 'b'], panic: true });
    expect(picked(picker)).toEqual(['a', 'b']);
    vi.advanceTimersByTime(30_000);
    expect(strategy.ejection('orders')).toEqual({ ejected: [], panic: false });
    const single = setup({}, ['solo']);
    fail(single.strategy, 'solo', 5);
    expect(single.strategy.ejection('orders')?.panic).toBe(true);
    expect(single.picker.pick()?.id).toBe('solo');
  });

  it('enters panic mode when the healthy instances leave the list', () => {
    const { strategy } = setup();
    fail(strategy, 'a', 5);
    const picker = strategy.createPicker('orders', list('a'));
    expect(strategy.ejection('orders')).toEqual({ ejected: ['a'], panic: true });
    expect(picker.pick()?.id).toBe('a');
  });

  it('ignores outcomes of an instance already ejected', () => {
    const { strategy, events } = setup();
    fail(strategy, 'a', 12);
    expect(events).toHaveLength(1);
    vi.advanceTimersByTime(30_000);
    fail(strategy, 'a', 4);
    expect(strategy.ejection('orders')?.ejected).toEqual([]);
  });

  it('drops the state and timer of an instance that leaves the list', () => {
    const { strategy, picker } = setup();
    fail(strategy, 'a', 5);
    expect(vi.getTimerCount()).toBe(1);
    strategy.createPicker('orders', list('b', 'c', 'd'));
    expect(vi.getTimerCount()).toBe(0);
    strategy.createPicker('orders', list('a', 'b', 'c', 'd'));
    expect(picked(picker)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('clears every timer on release and close, and survives a throwing listener', () => {
    const strategy = outlierEjection({ onChange: () => { throw new Error('listener'); } }, roundRobin());
    strategy.createPicker('orders', list('a', 'b'));
    strategy.createPicker('billing', [inst('x', { service: 'billing' }), inst('y', { service: 'billing' })]);
    fail(strategy, 'a', 5);
    for (let n = 0; n < 5; n++) strategy.callEnded?.('billing', inst('x', { service: 'billing' }), { ok: false, latencyMs: 1 });
    expect(vi.getTimerCount()).toBe(2);
    strategy.release?.('orders');
    expect(vi.getTimerCount()).toBe(1);
    expect(strategy.ejection('orders')).toBeUndefined();
    strategy.close?.();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('forwards call feedback to the child and validates its options', () => {
    const ended: boolean[] = [];
    const strategy = outlierEjection({}, { ...roundRobin(), callEnded: (_s, _i, outcome) => ended.push(outcome.ok) });
    strategy.createPicker('orders', list('a'));
    fail(strategy, 'a', 2);
    expect(ended).toEqual([false, false]);
    expect(() => outlierEjection({ consecutiveFailures: 0 }, roundRobin())).toThrow(/outlierEjection.consecutiveFailures/);
    expect(() => outlierEjection({ baseEjectionMs: 10_000, maxEjectionMs: 5_000 }, roundRobin())).toThrow(/outlierEjection.maxEjectionMs/);
    expect(() => outlierEjection({ maxEjectedPercent: 101 }, roundRobin())).toThrow(/outlierEjection.maxEjectedPercent/);
  });
});
