import type { Dispatcher } from 'undici';

/**
 * The value of header `name` (lower case) in any of the shapes undici accepts: a flat
 * `[name, value, ...]` array, an iterable of pairs, or an object. `undefined` when absent; the
 * first value when repeated.
 */
export function headerValue(headers: Dispatcher.DispatchOptions['headers'], name: string): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === name) return first(headers[i + 1]);
    }
    return undefined;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const pair of headers as Iterable<[string, string | string[] | undefined]>) {
      if (String(pair[0]).toLowerCase() === name) return first(pair[1]);
    }
    return undefined;
  }
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return first(value as unknown);
  return undefined;
}

function first(value: unknown): string | undefined {
  const single: unknown = Array.isArray(value) ? value[0] : value;
  if (typeof single === 'string') return single;
  // Raw header arrays carry Buffers.
  return Buffer.isBuffer(single) ? single.toString('latin1') : undefined;
}

/**
 * `headers` (any shape undici accepts) as an object, with `added` (lower-case names) set over
 * headers of the same name.
 */
export function withHeaders(headers: Dispatcher.DispatchOptions['headers'], added: Readonly<Record<string, string>>): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  const put = (name: unknown, value: unknown): void => {
    const lower = String(name).toLowerCase();
    if (Object.hasOwn(added, lower)) return;
    for (const single of Array.isArray(value) ? (value as unknown[]) : [value]) {
      const text = headerText(single);
      if (text === undefined) continue;
      const previous = result[lower];
      result[lower] = previous === undefined ? text : [...(Array.isArray(previous) ? previous : [previous]), text];
    }
  };
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) put(headers[i], headers[i + 1]);
  } else if (headers !== undefined && headers !== null && typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const pair of headers as Iterable<[string, string | string[] | undefined]>) put(pair[0], pair[1]);
  } else if (headers !== undefined && headers !== null) {
    for (const [name, value] of Object.entries(headers)) put(name, value);
  }
  for (const [name, value] of Object.entries(added)) result[name] = value;
  return result;
}

/** A header value as text: raw header arrays carry Buffers, and numbers are accepted. */
function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return Buffer.isBuffer(value) ? value.toString('latin1') : undefined;
}
