/** Shared by the conformance suites: a promise must reject with a RollcallError of one code. */
import { expect } from 'vitest';
import { isRollcallError } from '../core/errors.js';

export async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRollcallError(error), `expected a RollcallError with code ${code}, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
}
