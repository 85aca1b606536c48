/**
 * Where a gateway request goes on the instance: the raw request URL with the public
 * `<prefix>/<service>` segments taken off, byte for byte (percent-encoding, repeated slashes and
 * the query string kept as the client sent them).
 */

/** Path and query of a request to an instance. */
export interface UpstreamTarget {
  /** What follows the skipped segments, `/` when nothing does; never empty. */
  readonly path: string;
  /** The query string without its `?`, `''` when there is none. */
  readonly query: string;
}

/**
 * Splits `rawUrl` (as `IncomingMessage.url` has it) after its first `segments` path segments.
 * Empty segments from repeated slashes do not count, as Fastify's `ignoreDuplicateSlashes` sees it.
 */
export function upstreamTarget(rawUrl: string, segments: number): UpstreamTarget {
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  let at = 0;
  for (let skipped = 0; skipped < segments && at < path.length; skipped++) {
    while (path[at] === '/') at++;
    const end = path.indexOf('/', at);
    at = end === -1 ? path.length : end;
  }
  const rest = path.slice(at);
  return { path: rest === '' ? '/' : rest, query: queryAt === -1 ? '' : rawUrl.slice(queryAt + 1) };
}

/** Number of non-empty segments of a path such as `/api/v1`. */
export function segmentCount(path: string): number {
  return path.split('/').filter((segment) => segment !== '').length;
}

/**
 * Why @fastify/reply-from would refuse to forward `path`, or `undefined` when it would not:
 * malformed percent-encoding, or `..` next to a slash once decoded (its guard against climbing out
 * of the upstream's space, which also catches `/...`). Checked before an instance is picked, so
 * the client gets a 400 that says why.
 */
export function pathProblem(path: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return 'the path has malformed percent-encoding';
  }
  return decoded === '..' || decoded.includes('/..') || decoded.includes('../') ? 'the path contains ".." next to a "/"' : undefined;
}
