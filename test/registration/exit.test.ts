/**
 * Real processes, real timers: rollcall's background timers never keep a process alive (see
 * test/leaks.test.ts for a process that forgets stop()), but an awaited drain, stop or shutdown
 * holds it until it completes, so the instance is deregistered and the process exits cleanly.
 */
import { execFile } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { describe, expect, it } from 'vitest';

const fixture = resolvePath(import.meta.dirname, 'fixtures/awaited-shutdown.ts');

// Resolves with the exit code whatever it is: a non-zero code is what the test reports.
function run(mode: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', fixture, mode], { timeout: 15_000 }, (_error, stdout) => {
      resolve({ code: child.exitCode, stdout });
    });
  });
}

describe('an awaited graceful exit with nothing else alive', () => {
  it.each(['registration', 'lifespan'])('%s: drain() then stop() complete, deregister, and the process exits with code 0', async (mode) => {
    const { code, stdout } = await run(mode);
    expect(stdout).toBe(`drained draining\nstopped stopped listed []\n`);
    expect(code).toBe(0);
  });
});
