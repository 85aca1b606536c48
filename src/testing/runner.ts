/**
 * What the conformance suites need from a test runner, and the few assertions they share. The
 * suites register tests through the runner the caller passes in and assert with `node:assert`, so
 * `rollcall/testing` loads under any runner (or none): vitest, `node:test` and jest all offer
 * `describe`, `it` and `afterEach` in these shapes.
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError, isRollcallError } from '../core/errors.js';

/**
 * The test functions of your runner: `{ describe, it, afterEach }` imported from `vitest` or
 * `node:test`, or jest's globals. Tests take up to about five seconds (real time, TTLs of one
 * second): give them a timeout above that (jest's default is 5 s: set `testTimeout: 20_000`).
 */
export interface TestRunner {
  readonly describe: (this: void, name: string, body: () => void) => unknown;
  readonly it: (this: void, name: string, body: () => Promise<void>) => unknown;
  readonly afterEach: (this: void, body: () => Promise<void>) => unknown;
}

/** `runner` itself, checked: a missing runner fails when the suite is declared, not as odd test failures. */
export function runnerOption(runner: TestRunner, field: string): TestRunner {
  for (const name of ['describe', 'it', 'afterEach'] as const) {
    if (typeof runner?.[name] !== 'function') {
      throw new InvalidArgumentError(field, "your test runner's { describe, it, afterEach } (from vitest, node:test or jest)", runner);
    }
  }
  return runner;
}

/**
 * Marks the running test skipped where the runner can (vitest's and node:test's context have
 * `skip()`); the caller returns right after. `context` is what the runner passed the test body.
 */
export function skipTest(context: readonly unknown[], reason: string): void {
  const first = context[0] as { skip?: unknown } | undefined;
  if (typeof first?.skip === 'function') (first.skip as (note: string) => void).call(first, reason);
}

/**
 * Runs `check` until it stops throwing, every `intervalMs`; after `timeoutMs` the last failure is
 * the test's. Real time: the suites exercise real registries.
 */
export async function eventually(check: () => unknown, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `promise` rejects with a RollcallError of `code`. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  const settled = await promise.then(
    (value: unknown) => ({ rejected: false, value }),
    (error: unknown) => ({ rejected: true, value: error }),
  );
  assert.ok(settled.rejected, `expected a rejection with code ${code}, got a result`);
  assert.ok(isRollcallError(settled.value), `expected a RollcallError with code ${code}, got ${String(settled.value)}`);
  assert.equal((settled.value as { code: string }).code, code);
}

/**
 * The runner the suite runs under, for callers that pass none: the globals of jest (or mocha, or
 * vitest with `globals: true`), else vitest's API as vitest exposes it to in-source tests
 * (`import.meta.vitest`), else `node:test`. Passing the runner explicitly never guesses.
 */
export function detectRunner(): TestRunner {
  const globals = globalThis as Partial<TestRunner> & { __vitest_index__?: Partial<TestRunner> };
  for (const candidate of [globals, globals.__vitest_index__]) {
    if (typeof candidate?.describe === 'function' && typeof candidate.it === 'function' && typeof candidate.afterEach === 'function') {
      return candidate as TestRunner;
    }
  }
  return process.getBuiltinModule('node:test');
}
