import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/http/index.js';

function budgetAt(options: ConstructorParameters<typeof RetryBudget>[0]) {
  const clock = { now: 0 };
  const budget = new RetryBudget(options, { now: () => clock.now });
  return { budget, clock };
}

function retriesAllowed(budget: RetryBudget, attempts: number): number {
  let allowed = 0;
  for (let n = 0; n < attempts; n++) if (budget.tryRetry()) allowed++;
  return allowed;
}

describe('RetryBudget', () => {
  it('allows retries up to the ratio of requests in the window', () => {
    const { budget } = budgetAt({ ratio: 0.2, minPerSecond: 0 });
    for (let n = 0; n < 100; n++) budget.recordRequest();
    expect(retriesAllowed(budget, 100)).toBe(20);
  });

  it('adds minPerSecond × window seconds so a quiet service can still retry', () => {
    const { budget } = budgetAt({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000 });
    budget.recordRequest();
    expect(retriesAllowed(budget, 50)).toBe(10);
  });

  it('forgets requests and retries older than the window', () => {
    const { budget, clock } = budgetAt({ ratio: 0.5, minPerSecond: 0, windowMs: 10_000 });
    for (let n = 0; n < 10; n++) budget.recordRequest();
    expect(retriesAllowed(budget, 10)).toBe(5);
    clock.now = 5_000;
    expect(retriesAllowed(budget, 10)).toBe(0);
    for (let n = 0; n < 10; n++) budget.recordRequest();
    expect(retriesAllowed(budget, 10)).toBe(5);
    clock.now = 10_500; // the first ten requests and five retries have left the window
    expect(retriesAllowed(budget, 10)).toBe(0);
    for (let n = 0; n < 4; n++) budget.recordRequest();
    expect(retriesAllowed(budget, 10)).toBe(2);
    clock.now = 60_000;
    expect(retriesAllowed(budget, 10)).toBe(0);
  });

  it('uses Finagle’s defaults: 20% plus 10 a second over 10 s', () => {
    const { budget } = budgetAt({});
    for (let n = 0; n < 1_000; n++) budget.recordRequest();
    expect(retriesAllowed(budget, 1_000)).toBe(300);
    expect(() => new RetryBudget({ windowMs: 5 })).toThrow(/retry.budget.windowMs/);
  });
});
