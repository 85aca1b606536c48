/**
 * rollcall's timers are unref'd, so a process that forgets `stop()` still exits. An operation the
 * caller awaits is the opposite case: `await registration.drain()` with nothing else alive would
 * let Node exit mid-drain (exit code 13, unsettled top-level await) and never deregister. Such
 * operations hold the event loop open with one ref'd timer, for their duration only.
 */

// The longest delay a Node timer takes; the timer never fires, it is cleared when the work settles.
const LONGEST_TIMER_MS = 2 ** 31 - 1;
const noop = (): void => {};

/** `work`, keeping the process alive until it settles. */
export function keepingAlive<T>(work: Promise<T>): Promise<T> {
  const hold = setTimeout(noop, LONGEST_TIMER_MS);
  return work.finally(() => clearTimeout(hold));
}
