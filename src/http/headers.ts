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
