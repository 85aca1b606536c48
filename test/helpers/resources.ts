/**
 * What keeps the event loop alive, for tests that prove rollcall leaves nothing open. Handles
 * close asynchronously, so the check polls; it polls over turns of the event loop, because a
 * poll's own timers would be counted.
 */

/** Counts of each kind of resource keeping the event loop alive (`Timeout`, `TCPSocketWrap`, ...). */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

/**
 * The kinds (of `kinds`, or all) of which more are active than in `before`: polled until there is
 * none, for at most `timeoutMs`, then returned for the assertion.
 */
export async function grownSince(before: ReadonlyMap<string, number>, options: { kinds?: readonly string[]; timeoutMs?: number } = {}): Promise<[string, number][]> {
  const grown = (): [string, number][] =>
    [...activeResources()].filter(([name, count]) => (options.kinds === undefined || options.kinds.includes(name)) && count > (before.get(name) ?? 0));
  const deadline = performance.now() + (options.timeoutMs ?? 2_000);
  while (grown().length > 0 && performance.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  return grown();
}
