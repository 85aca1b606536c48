/** Per-test cleanups and fresh namespaces, for the real-server test fixtures. */
import { afterEach } from 'vitest';

/** Runs what `defer` was given after each test, newest first. Registers the `afterEach` hook in the calling file. */
export function useCleanups(): (...cleanups: (() => unknown)[]) => void {
  const deferred: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of deferred.splice(0).reverse()) await cleanup();
  });
  return (...cleanups) => {
    deferred.push(...cleanups);
  };
}

let sequence = 0;

/** A namespace no other test of this process used: `prefix-<n>`. */
export function freshNamespace(prefix = 'test'): string {
  return `${prefix}-${++sequence}`;
}
