/** A bare HTTP client for tests that talk to the double directly (no rollcall code involved). */

export interface RawAnswer {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
  json<T = unknown>(): T;
}

export interface RawRequest {
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export async function rawCall(baseUrl: string, method: string, path: string, request: RawRequest = {}): Promise<RawAnswer> {
  const body = request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    ...(body === undefined ? {} : { body }),
    ...(request.headers === undefined ? {} : { headers: request.headers }),
    ...(request.signal === undefined ? {} : { signal: request.signal }),
    redirect: 'manual',
  });
  const text = await response.text();
  return { status: response.status, text, headers: response.headers, json: <T>() => JSON.parse(text) as T };
}
