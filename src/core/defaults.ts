/**
 * Defaults that tie the two sides together: the registration's drain wait is derived from how
 * long a resolver using these defaults can keep answering with an instance after it drains.
 */

/** How long a resolver serves a registry answer from its cache without asking again. */
export const DEFAULT_CACHE_TTL_MS = 5_000;

/**
 * Upper bound we allow for a change to travel from the registry to a watching resolver
 * (the watch transport plus the resolver applying it). Measured far lower on every backend;
 * see docs/benchmarks.md.
 */
export const WATCH_PROPAGATION_MARGIN_MS = 1_000;

/**
 * How long `drain()` waits by default: a resolver that does not watch (or whose watch broke)
 * stops picking a drained instance within one cache TTL; one that watches, within the margin.
 */
export const DEFAULT_DRAIN_WAIT_MS = DEFAULT_CACHE_TTL_MS + WATCH_PROPAGATION_MARGIN_MS;
