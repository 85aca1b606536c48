/**
 * The registry call's time limit. cockatiel's `timeout` policy derives an `AbortController` from
 * the caller's signal for every call, and with no signal given that is one shared, never-aborted
 * signal: eleven concurrent misses put eleven listeners on it and Node warns of a leak. It also
 * costs about 10 µs a call (controller, listeners, `Promise.race`). Backends take no abort signal,
 * so a plain timer per call, cleared when the call settles, does the same job for a fraction of
 * that and touches nothing shared.
 */
import { TaskCancelledError } from 'cockatiel';
import { unrefTimeout } from '../core/clock.js';

/**
 * Settles as `work` does, or rejects with cockatiel's {@link TaskCancelledError} once `limitMs`
 * passed first (what the circuit breaker and callers already treat as a hang). The timer never
 * keeps the process alive.
 */
export function withinTimeLimit<T>(work: Promise<T>, limitMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = unrefTimeout(() => reject(new TaskCancelledError(`Operation timed out after ${limitMs}ms`)), limitMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      // Whatever the backend rejected with goes on unchanged, as cockatiel passed it on.
      (error: Error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
