/**
 * The path `resolveUrl()` appends to a picked instance's origin. It is always placed after a `/`,
 * so it can never change the host; what it must not carry is anything that could split or extend
 * an HTTP request when the URL is used as is: control characters (CR/LF header injection, NUL)
 * and raw whitespace of any kind. Those must arrive percent-encoded (`%0D`, `%20`).
 */
import { InvalidArgumentError } from '../core/errors.js';

const EXPECTED = 'a path such as "/api/v1/items?page=2", with spaces and control characters percent-encoded';
const FORBIDDEN = /[\p{Cc}\s]/u;

/** Throws {@link InvalidArgumentError} naming the first forbidden character of `path`. */
export function assertRequestPath(path: unknown, field = 'path'): asserts path is string {
  if (typeof path !== 'string') throw new InvalidArgumentError(field, EXPECTED, path);
  const match = FORBIDDEN.exec(path);
  if (match === null) return;
  const codePoint = `U+${match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  throw new InvalidArgumentError(field, EXPECTED, path, `character ${codePoint} at position ${match.index + 1} is not allowed`);
}

/** `origin` followed by `path`, with exactly the `/` the path lacks. */
export function joinPath(origin: string, path: string): string {
  return path === '' || path.startsWith('/') ? origin + path : `${origin}/${path}`;
}
