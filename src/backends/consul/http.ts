/**
 * The one door to Consul's HTTP API: undici with our own connection pool (custom CA, client
 * certificate, unix socket), a timeout on every request, the ACL token in a header, and failures
 * turned into rollcall's typed errors. The token never reaches a message, a log line or a URL.
 */
import { Agent, request } from 'undici';
import { RegistryAuthError, RegistryUnavailableError, messageOf, type InvalidArgumentError } from '../../core/errors.js';
import { AttemptSignal, RequestAbortedError } from '../attempt-signal.js';
import type { ConsulSettings } from './options.js';
import { rejection, type RejectedRequest } from './rejection.js';

/** What Consul answered. Header names are lowercase. */
export interface ConsulResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | readonly string[] | undefined>> | undefined;
  readonly body?: unknown;
  /** Aborts the request (the watch stopping, the backend closing). */
  readonly signal?: AbortSignal | undefined;
  /** Overrides the default request timeout (long polls). */
  readonly timeoutMs?: number | undefined;
}

const KIND = 'consul';
const MAX_BODY_IN_MESSAGE = 300;
const MAX_INDEX = 2n ** 64n - 1n;

/**
 * `X-Consul-Index` of an answer: a uint64, so a bigint (numbers lose precision past 2^53 and an
 * index sent back wrong gets `400 Invalid index`). Consul never sends 0 (`setIndex` rewrites it to
 * 1 so that clients cannot busy-loop), and neither do we: a missing, zero, unparsable or
 * out-of-range index counts as 1.
 */
export function consulIndex(response: ConsulResponse): bigint {
  const header = response.headers['x-consul-index'];
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined || !/^\d{1,20}$/.test(text)) return 1n;
  const index = BigInt(text);
  return index < 1n || index > MAX_INDEX ? 1n : index;
}

export class ConsulHttp {
  readonly #settings: ConsulSettings;
  readonly #agent: Agent;
  readonly #headers: Readonly<Record<string, string>>;

  constructor(settings: ConsulSettings) {
    this.#settings = settings;
    const connect = {
      ...(settings.socketPath === undefined ? {} : { socketPath: settings.socketPath }),
      ...(settings.tls ?? {}),
    };
    // Timeouts are ours (per request, long polls longer), so undici's own are turned off.
    this.#agent = new Agent({ connect, headersTimeout: 0, bodyTimeout: 0 });
    const headers: Record<string, string> = { accept: 'application/json' };
    if (settings.token !== undefined) {
      if (settings.tokenTransport === 'bearer') headers['authorization'] = `Bearer ${settings.token}`;
      else headers['x-consul-token'] = settings.token;
    }
    this.#headers = headers;
  }

  /** `origin` of the agent, for messages. */
  get origin(): string {
    return this.#settings.socketPath === undefined ? this.#settings.origin : `unix://${this.#settings.socketPath}`;
  }

  /**
   * Sends one request. Rejects with {@link RegistryUnavailableError} when Consul cannot be reached
   * or does not answer in time, and with {@link RequestAbortedError} when `signal` aborts it. Any
   * HTTP status resolves: callers decide what a 404 means for them.
   */
  async send(operation: string, method: 'GET' | 'PUT', path: string, options: RequestOptions = {}): Promise<ConsulResponse> {
    const url = new URL(path, this.#settings.origin);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value === undefined) continue;
      for (const item of typeof value === 'string' ? [value] : value) url.searchParams.append(key, item);
    }
    const timeoutMs = options.timeoutMs ?? this.#settings.requestTimeoutMs;
    const attempt = new AttemptSignal(timeoutMs, options.signal);
    try {
      const headers = options.body === undefined ? this.#headers : { ...this.#headers, 'content-type': 'application/json' };
      const response = await request(url, {
        method,
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        signal: attempt.signal,
        dispatcher: this.#agent,
      });
      const body = await response.body.text();
      return { status: response.statusCode, headers: response.headers, body };
    } catch (error) {
      if (attempt.abortedByCaller) throw new RequestAbortedError();
      if (attempt.timedOut) {
        throw new RegistryUnavailableError(KIND, operation, `no answer from Consul at ${this.origin} within ${timeoutMs} ms`);
      }
      throw new RegistryUnavailableError(KIND, operation, `could not reach Consul at ${this.origin}: ${this.#describe(error)}`, {
        cause: error,
      });
    } finally {
      attempt.release();
    }
  }

  /**
   * The typed error for an answer the caller did not expect: 400 is a request Consul refuses
   * (retrying cannot help), 403 an ACL refusal, anything else unavailability.
   */
  failure(request: RejectedRequest, response: ConsulResponse): InvalidArgumentError | RegistryAuthError | RegistryUnavailableError {
    const { operation } = request;
    const text = this.redact(response.body.trim()).slice(0, MAX_BODY_IN_MESSAGE) || '(empty body)';
    if (response.status === 400) return rejection({ ...request, consulNamespace: this.#settings.consulNamespace, partition: this.#settings.partition }, text);
    if (response.status === 403) {
      const hint = text.startsWith('ACL not found')
        ? 'the ACL token is unknown to Consul (check the token option or CONSUL_HTTP_TOKEN)'
        : "the ACL token lacks a permission (rollcall needs service:write on its services, service:read and node:read to list them)";
      return new RegistryAuthError(KIND, operation, `Consul answered 403 (${text}): ${hint}`);
    }
    return new RegistryUnavailableError(KIND, operation, `Consul answered ${response.status}: ${text}`);
  }

  /** Removes the token from text that may echo request data. */
  redact(text: string): string {
    const token = this.#settings.token;
    return token === undefined ? text : text.replaceAll(token, '[redacted]');
  }

  /** Drops every connection, aborting whatever is still in flight. */
  async close(): Promise<void> {
    await this.#agent.destroy();
  }

  #describe(error: unknown): string {
    const code = (error as { code?: unknown; cause?: { code?: unknown } } | undefined)?.code ?? (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
    const detail = this.redact(messageOf(error));
    const text = typeof code === 'string' && !detail.includes(code) ? `${code} ${detail}` : detail;
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i.test(text)) {
      return `${text} (to trust Consul's certificate, pass tls.ca or set CONSUL_CACERT)`;
    }
    return text;
  }
}
