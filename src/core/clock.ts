/**
 * Time source. Injected everywhere time matters so tests can use vitest's fake timers (which
 * replace `Date.now`) or a clock of their own.
 */

/** Returns epoch milliseconds. */
export interface Clock {
  now(): number;
}

/** The default clock: `Date.now`, read at call time so fake timers apply. */
export const systemClock: Clock = { now: () => Date.now() };

/** `setTimeout` that never keeps the process alive. */
export function unrefTimeout(callback: () => void, delayMs: number): NodeJS.Timeout {
  const timer = setTimeout(callback, delayMs);
  timer.unref();
  return timer;
}

/** Waits `delayMs` without keeping the process alive; rejects with the signal's reason when aborted. */
export function sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = unrefTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `base` scaled by a random factor in [1 - spread, 1]: never longer than `base`, so stated bounds hold. */
export function jitterDown(base: number, spread: number, random: () => number = Math.random): number {
  return Math.round(base * (1 - spread * random()));
}
