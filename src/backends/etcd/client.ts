/**
 * The one door to etcd: its JSON gateway (`/v3/...`, served by every etcd 3.4+ member on the
 * client port) over undici. One connection pool for every member (custom CA, client
 * certificate), a timeout on every attempt, failover to the next member on connection failures
 * and on etcd's "no leader" answers (cockatiel's retry), the auth token fetched and refreshed
 * here, and failures turned into rollcall's typed errors. The password and the token never reach
 * a message, a log line or a URL.
 */
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { Agent, request } from 'undici';
import { RegistryAuthError, RegistryUnavailableError, messageOf } from '../../core/errors.js';
import { AttemptSignal, RequestAbortedError } from '../attempt-signal.js';
import type { Logger } from '../../core/logger.js';
import type { EtcdSettings } from './options.js';

/** A JSON object etcd answered. */
export type EtcdObject = Record<string, unknown>;

/** gRPC status codes etcd answers with (google.golang.org/grpc/codes). */
export const GRPC = {
  invalidArgument: 3,
  deadlineExceeded: 4,
  notFound: 5,
  permissionDenied: 7,
  failedPrecondition: 9,
  outOfRange: 11,
  unavailable: 14,
  unauthenticated: 16,
} as const;

/** etcd refused or failed a request: its gRPC code and message. */
export class EtcdRpcError extends Error {
  readonly grpcCode: number;

  constructor(grpcCode: number, message: string) {
    super(message);
    this.name = 'EtcdRpcError';
    this.grpcCode = grpcCode;
  }
}

/** A member could not be reached or did not answer in time (nothing etcd said). */
class TransportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
  }
}

/** An open watch stream: the messages etcd sends (`result` of each line), until it ends or fails. */
export interface EtcdStream {
  readonly endpoint: string;
  readonly messages: AsyncIterable<EtcdObject>;
}

const KIND = 'etcd';
const MAX_MESSAGE = 300;
/** etcd's texts for a refused identity, answered with InvalidArgument. */
const AUTH_REFUSAL = /user name is empty|authentication failed|invalid user ID or password|user name not found/i;
/** Metadata asking a member to end requests and watches while it has no leader (etcd's `WithRequireLeader`). */
const REQUIRE_LEADER = { 'grpc-metadata-hasleader': 'true' };

export class EtcdClient {
  readonly #settings: EtcdSettings;
  readonly #log: Logger;
  readonly #agent: Agent;
  #cursor: number;
  #token: Promise<string | undefined> | undefined;
  #tokenValue: string | undefined;
  #authDisabledLogged = false;

  constructor(settings: EtcdSettings, log: Logger) {
    this.#settings = settings;
    this.#log = log;
    // Timeouts are ours (per attempt; none on a watch once it is open), so undici's are turned off.
    this.#agent = new Agent({ connect: { ...(settings.tls ?? {}) }, headersTimeout: 0, bodyTimeout: 0 });
    // Processes start on different members, so one member does not take every client.
    this.#cursor = Math.floor(settings.random() * settings.endpoints.length) % settings.endpoints.length;
  }

  /** The member requests go to now. */
  get endpoint(): string {
    return this.#settings.endpoints[this.#cursor] as string;
  }

  /**
   * One unary call (`path` such as `/v3/kv/range`), failing over to the next member when one
   * cannot be reached or has no leader. Resolves with etcd's answer; rejects with
   * {@link EtcdRpcError} for what etcd refused (callers decide what a NotFound means),
   * {@link RequestAbortedError} when `signal` aborts it, and rollcall's typed errors otherwise.
   */
  async call(operation: string, path: string, body: EtcdObject, signal?: AbortSignal): Promise<EtcdObject> {
    return this.#withFailover(operation, signal, async (endpoint, attemptSignal) => {
      const response = await this.#send(endpoint, path, body, attemptSignal, this.#settings.requestTimeoutMs);
      const text = await response.body.text();
      return parseAnswer(response.statusCode, text);
    });
  }

  /**
   * Opens a watch stream (`/v3/watch` with `request`), failing over like {@link call} until etcd
   * accepted it. The stream has no timeout once open; `signal` closes it.
   */
  async watch(operation: string, body: EtcdObject, signal: AbortSignal): Promise<EtcdStream> {
    return this.#withFailover(operation, signal, async (endpoint, attemptSignal) => {
      const response = await this.#send(endpoint, '/v3/watch', body, attemptSignal, this.#settings.requestTimeoutMs, { stream: true });
      if (response.statusCode !== 200) parseAnswer(response.statusCode, await response.body.text());
      return { endpoint, messages: streamMessages(response.body as AsyncIterable<Uint8Array>) };
    });
  }

  /**
   * The rollcall error for what {@link call} or {@link watch} rejected with: `REGISTRY_AUTH` for a
   * refused identity or permission, `REGISTRY_UNAVAILABLE` for anything else.
   */
  translate(operation: string, error: unknown): Error {
    if (error instanceof RegistryUnavailableError || error instanceof RegistryAuthError) return error;
    const message = this.redact(messageOf(error)).slice(0, MAX_MESSAGE);
    if (error instanceof EtcdRpcError && isAuthFailure(error)) {
      const hint = error.grpcCode === GRPC.permissionDenied ? ' (the etcd user needs readwrite on /rollcall/<namespace>/)' : ' (check username and password, or ETCD_USERNAME and ETCD_PASSWORD)';
      return new RegistryAuthError(KIND, operation, `etcd refused the request: ${message}${hint}`);
    }
    if (error instanceof EtcdRpcError) return new RegistryUnavailableError(KIND, operation, `etcd answered: ${message}`);
    return new RegistryUnavailableError(KIND, operation, message, { cause: error instanceof Error ? error : undefined });
  }

  /** Removes the password and the token from text that may echo request data. */
  redact(text: string): string {
    let result = text;
    const secrets = [this.#settings.credentials?.password, this.#tokenValue].filter((s): s is string => s !== undefined && s.length > 0);
    for (const secret of secrets.sort((a, b) => b.length - a.length)) result = result.split(secret).join('[redacted]');
    return result;
  }

  /** Drops every connection, ending open watches. */
  async close(): Promise<void> {
    await this.#agent.destroy();
  }

  async #withFailover<T>(operation: string, signal: AbortSignal | undefined, attempt: (endpoint: string, signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    const endpoints = this.#settings.endpoints;
    let reauthenticated = false;
    // Each member once; a single member gets a second try, for a leader election in progress.
    const policy = retry(handleWhen(isRetryable), {
      maxAttempts: Math.max(1, endpoints.length - 1),
      backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }),
    }).dangerouslyUnref();
    const listener = policy.onRetry(() => {
      this.#cursor = (this.#cursor + 1) % endpoints.length;
    });
    try {
      return await policy.execute(async () => {
        const endpoint = this.endpoint;
        try {
          return await attempt(endpoint, signal);
        } catch (error) {
          if (signal?.aborted === true) throw new RequestAbortedError();
          // A member that restarted forgot the token (simple tokens live in memory): fetch another once.
          if (!reauthenticated && this.#settings.credentials !== undefined && error instanceof EtcdRpcError && error.grpcCode === GRPC.unauthenticated) {
            reauthenticated = true;
            this.#token = undefined;
            return attempt(endpoint, signal);
          }
          throw error;
        }
      }, signal);
    } catch (error) {
      if (signal?.aborted === true || error instanceof RequestAbortedError) throw new RequestAbortedError();
      if (error instanceof EtcdRpcError && !isRetryable(error)) throw error;
      throw this.translate(operation, error);
    } finally {
      listener.dispose();
    }
  }

  /** Sends one request to `endpoint`, with the auth token when there are credentials. */
  async #send(
    endpoint: string,
    path: string,
    body: EtcdObject,
    outer: AbortSignal | undefined,
    timeoutMs: number,
    { stream = false, anonymous = false } = {},
  ): Promise<Awaited<ReturnType<typeof request>>> {
    const token = anonymous ? undefined : await this.#authToken(endpoint, outer);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...REQUIRE_LEADER };
    if (token !== undefined) headers['authorization'] = token;
    const attempt = new AttemptSignal(timeoutMs, outer);
    let streaming = false;
    try {
      const response = await request(`${endpoint}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: attempt.signal,
        dispatcher: this.#agent,
      });
      if (stream) {
        // A stream outlives the attempt's timer but still closes with the caller's signal.
        streaming = true;
        attempt.stopTimer();
        response.body.once('close', () => attempt.release());
      }
      return response;
    } catch (error) {
      if (attempt.abortedByCaller) throw new RequestAbortedError();
      if (attempt.timedOut) throw new TransportError(`no answer from etcd at ${endpoint} within ${timeoutMs} ms`);
      throw new TransportError(`could not reach etcd at ${endpoint}: ${this.#describe(error)}`, { cause: error });
    } finally {
      if (!streaming) attempt.release();
    }
  }

  /** The auth token, fetched once per member failure (simple tokens are replicated, but lost when members restart). */
  #authToken(endpoint: string, signal: AbortSignal | undefined): Promise<string | undefined> {
    const credentials = this.#settings.credentials;
    if (credentials === undefined) return Promise.resolve(undefined);
    this.#token ??= (async () => {
      const response = await this.#send(endpoint, '/v3/auth/authenticate', { name: credentials.username, password: credentials.password }, signal, this.#settings.requestTimeoutMs, {
        anonymous: true,
      });
      const text = await response.body.text();
      try {
        const answer = parseAnswer(response.statusCode, text);
        const token = typeof answer['token'] === 'string' && answer['token'] !== '' ? answer['token'] : undefined;
        this.#tokenValue = token;
        return token;
      } catch (error) {
        if (error instanceof EtcdRpcError && error.grpcCode === GRPC.failedPrecondition && /not enabled/.test(error.message)) {
          if (!this.#authDisabledLogged) {
            this.#authDisabledLogged = true;
            this.#log.info({ endpoint }, `etcd at ${endpoint} has authentication disabled: the username and password are not used`);
          }
          return undefined;
        }
        throw error;
      }
    })();
    const pending = this.#token;
    // A failed authentication is not remembered: the next request tries again.
    pending.catch(() => {
      if (this.#token === pending) this.#token = undefined;
    });
    return pending;
  }

  #describe(error: unknown): string {
    const code = (error as { code?: unknown } | undefined)?.code ?? (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
    const detail = this.redact(messageOf(error));
    const text = typeof code === 'string' && !detail.includes(code) ? `${code} ${detail}` : detail;
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i.test(text)) return `${text} (to trust etcd's certificate, pass tls.ca or set ETCD_CACERT)`;
    return text;
  }
}

/** Whether another member (or the same one a moment later) may succeed where `error` failed. */
function isRetryable(error: unknown): boolean {
  if (error instanceof TransportError) return true;
  return error instanceof EtcdRpcError && (error.grpcCode === GRPC.unavailable || error.grpcCode === GRPC.deadlineExceeded);
}

export function isAuthFailure(error: EtcdRpcError): boolean {
  return (
    error.grpcCode === GRPC.permissionDenied ||
    error.grpcCode === GRPC.unauthenticated ||
    (error.grpcCode === GRPC.invalidArgument && AUTH_REFUSAL.test(error.message))
  );
}

/** etcd's answer, or the {@link EtcdRpcError} it stands for. */
function parseAnswer(status: number, text: string): EtcdObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TransportError(`etcd answered HTTP ${status} with a body that is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TransportError(`etcd answered HTTP ${status} with something other than a JSON object`);
  const answer = parsed as EtcdObject;
  if (status === 200 && answer['error'] === undefined) return answer;
  throw rpcError(answer, status);
}

/** The error of a unary answer (`{error, code, message}`) or of a stream line (`{error: {grpc_code, message}}`). */
function rpcError(answer: EtcdObject, status: number): EtcdRpcError {
  const error = answer['error'];
  if (typeof error === 'object' && error !== null) {
    const inner = error as EtcdObject;
    return new EtcdRpcError(Number(inner['grpc_code'] ?? 2), text(inner['message']) ?? `HTTP ${status}`);
  }
  const code = typeof answer['code'] === 'number' ? answer['code'] : 2;
  return new EtcdRpcError(code, text(answer['message']) ?? text(error) ?? `HTTP ${status}`);
}

/** `value` when it is a non-empty string. */
export function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Splits the gateway's newline-delimited JSON into messages; a line carrying an error throws it. */
async function* streamMessages(body: AsyncIterable<Uint8Array>): AsyncGenerator<EtcdObject> {
  // A multi-byte character may straddle two chunks: the decoder keeps its first bytes for the next.
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line === '') continue;
      const answer = parseAnswer(200, line);
      const result = answer['result'];
      if (typeof result !== 'object' || result === null) throw new TransportError('etcd sent a watch message without a result');
      yield result as EtcdObject;
    }
  }
}
