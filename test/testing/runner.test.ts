import * as vitest from 'vitest';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, MemoryBackend } from '../../src/index.js';
import { describeBackendConformance, describeReadOnlyBackendConformance, type TestRunner } from '../../src/testing/index.js';
import { detectRunner, eventually, rejectsWithCode, skipTest } from '../../src/testing/runner.js';

describe('the conformance suites and their test runner', () => {
  it('find vitest on their own when given no runner', () => {
    const runner = detectRunner();
    expect([runner.describe, runner.it, runner.afterEach]).toEqual([vitest.describe, vitest.it, vitest.afterEach]);
  });

  it('register every test through the runner they are given', () => {
    const registered: string[] = [];
    const runner: TestRunner = {
      describe: (name, body) => {
        registered.push(`describe ${name}`);
        body();
      },
      it: (name) => registered.push(`it ${name}`),
      afterEach: () => registered.push('afterEach'),
    };
    describeBackendConformance('fake', { create: () => new MemoryBackend() }, runner);
    expect(registered.slice(0, 3)).toEqual(['describe backend conformance: fake', 'afterEach', 'it lists a registered instance with every field intact']);
    expect(registered).toContain('describe watch');
    expect(registered).not.toContain('describe resets (onReset)');
    expect(registered.filter((entry) => entry.startsWith('it '))).toHaveLength(17);
  });

  it('reject a missing runner or target with INVALID_ARGUMENT when declared', () => {
    const target = { create: () => new MemoryBackend() };
    expect(() => describeBackendConformance('x', target, { describe: vitest.describe } as never)).toThrow(InvalidArgumentError);
    expect(() => describeBackendConformance('x', target, { describe: vitest.describe } as never)).toThrow(/Invalid runner: expected your test runner's \{ describe, it, afterEach \}/);
    expect(() => describeBackendConformance('x', {} as never)).toThrow(/Invalid target.create/);
    expect(() => describeReadOnlyBackendConformance('x', { create: () => new MemoryBackend() } as never)).toThrow(/Invalid target.publish/);
  });

  it('skip through the context the runner passed, when it has skip()', () => {
    const skipped: string[] = [];
    skipTest([{ skip: (note: string) => skipped.push(note) }], 'no watch');
    skipTest([], 'jest passes nothing');
    expect(skipped).toEqual(['no watch']);
  });

  it('poll until a check holds, and fail with its last error past the timeout', async () => {
    let calls = 0;
    await eventually(() => {
      calls++;
      if (calls < 3) throw new Error('not yet');
    }, 5_000, 1);
    expect(calls).toBe(3);
    await expect(eventually(() => Promise.reject(new Error('never')), 20, 1)).rejects.toThrow('never');
  });

  it('check rejection codes', async () => {
    await expect(rejectsWithCode(Promise.reject(new InvalidArgumentError('f', 'x', 1)), 'INVALID_ARGUMENT')).resolves.toBeUndefined();
    await expect(rejectsWithCode(Promise.resolve(1), 'CLOSED')).rejects.toThrow(/expected a rejection with code CLOSED/);
    await expect(rejectsWithCode(Promise.reject(new Error('plain')), 'CLOSED')).rejects.toThrow(/expected a RollcallError with code CLOSED/);
  });
});
