/**
 * The one way a Redis backend calls Redis. Every call is bounded by `operationTimeoutMs`, including
 * the wait for a first connection; fails at once while a connection that was up is down (no
 * offline queue: callers fall back); leaves as a rollcall error with credentials scrubbed; and is
 * observed (diagnostics channel, span). A timer per call (let alone a cockatiel timeout, whose
 * AbortController and abort cost more than the call) would be a good part of a heartbeat's time,
 * so one timer serves every call in flight, at the earliest deadline.
 */
import { unrefTimeout } from '../../core/clock.js';
import { ClosedError, RegistryUnavailableError } from '../../core/errors.js';
import type { RegistryTarget } from '../../observability/channels.js';
import { observeRegistryCall } from '../../observability/registry-call.js';
import { connectionError, translateError, type Redactor } from './errors.js';
import type { RedisClient } from './options.js';

/** What the gate needs to know of the connection. */
export interface ConnectionState {
  /** Whether the connection was ever up. */
  readonly everReady: boolean;
  /** The last error the client reported. */
  readonly lastError: unknown;
}

export interface CallGateOptions {
  readonly client: RedisClient;
  readonly connection: ConnectionState;
  readonly operationTimeoutMs: number;
  readonly redactor: Redactor;
  /** Where calls go, for tracing. */
  readonly target: RegistryTarget;
}

/** A call in flight. */
interface PendingCall {
  readonly operation: string;
  /** `performance.now()` past which the call fails. */
  readonly deadline: number;
  /** Still waiting for a first connection. */
  connecting: boolean;
  readonly reject: (error: Error) => void;
}

export class CallGate {
  readonly #client: RedisClient;
  readonly #connection: ConnectionState;
  readonly #timeoutMs: number;
  readonly #redactor: Redactor;
  readonly #target: RegistryTarget;
  /** Calls in flight, in the order they started: with one timeout for all, that of their deadlines. */
  readonly #pending = new Set<PendingCall>();
  /** One timer for every call in flight, at the earliest deadline (or an earlier one, then re-armed). */
  #timer: NodeJS.Timeout | undefined;
  #drained: (() => void) | undefined;
  #connecting: Promise<void> | undefined;
  #stopWaiting: (() => void) | undefined;

  constructor(options: CallGateOptions) {
    this.#client = options.client;
    this.#connection = options.connection;
    this.#timeoutMs = options.operationTimeoutMs;
    this.#redactor = options.redactor;
    this.#target = options.target;
  }

  /** Runs `run` as the registry call `operation` (of `service`, when it concerns one). */
  call<T>(operation: string, run: () => Promise<T>, service?: string): Promise<T> {
    return observeRegistryCall(this.#target, { operation, service }, () => this.#bounded(operation, run));
  }

  /**
   * Waits for the calls in flight (each settles by its deadline at the latest), then stops
   * waiting for a first connection, so that a client that never connected keeps no listener.
   */
  async close(): Promise<void> {
    if (this.#pending.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    clearTimeout(this.#timer);
    this.#stopWaiting?.();
  }

  #bounded<T>(operation: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const connecting = this.#client.status !== 'ready';
      const pending: PendingCall = { operation, deadline: performance.now() + this.#timeoutMs, connecting, reject };
      this.#pending.add(pending);
      this.#timer ??= unrefTimeout(() => this.#expire(), this.#timeoutMs);
      const work = connecting
        ? this.#whenReady(operation).then(() => {
            pending.connecting = false;
            // The caller has already heard of the timeout: the operation must not run after all.
            if (!this.#pending.has(pending)) throw new Error('timed out');
            return run();
          })
        : run();
      work.then(
        (value) => {
          if (this.#settle(pending)) resolve(value);
        },
        (error: unknown) => {
          if (this.#settle(pending)) reject(translateError(operation, error, this.#redactor));
        },
      );
    });
  }

  /** Whether `pending` was still waiting (it had not timed out). */
  #settle(pending: PendingCall): boolean {
    if (!this.#pending.delete(pending)) return false;
    if (this.#pending.size === 0) this.#drained?.();
    return true;
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const pending of this.#pending) {
      if (pending.deadline > now) {
        this.#timer = unrefTimeout(() => this.#expire(), pending.deadline - now);
        return;
      }
      this.#settle(pending);
      const limit = `${this.#timeoutMs} ms`;
      pending.reject(
        pending.connecting
          ? connectionError(pending.operation, `could not connect to Redis within ${limit}`, this.#connection.lastError, this.#redactor)
          : new RegistryUnavailableError('redis', pending.operation, `no answer from Redis within operationTimeoutMs (${limit})`),
      );
    }
  }

  async #whenReady(operation: string): Promise<void> {
    const status = this.#client.status;
    if (status === 'ready') return;
    if (status === 'end' || status === 'disconnecting') {
      throw connectionError(operation, 'the Redis client is closed', undefined, this.#redactor);
    }
    // Once up, a connection that is down fails calls at once: no offline queue, callers fall back.
    if (this.#connection.everReady || status === 'reconnecting' || status === 'close') {
      throw connectionError(operation, `not connected to Redis (${status})`, this.#connection.lastError, this.#redactor);
    }
    if (status === 'wait') this.#client.connect().catch(() => {});
    try {
      await this.#firstConnection();
    } catch (error) {
      throw connectionError(operation, 'could not connect to Redis', this.#connection.lastError ?? error, this.#redactor);
    }
  }

  // Shared by every call made before the first connection is up, so concurrent callers add one
  // listener pair to the client rather than one each.
  #firstConnection(): Promise<void> {
    this.#connecting ??= new Promise<void>((resolve, reject) => {
      const settle = (error?: Error): void => {
        this.#client.off('ready', onReady);
        this.#client.off('close', onClose);
        this.#connecting = undefined;
        this.#stopWaiting = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
      const onReady = (): void => settle();
      const onClose = (): void => settle(new Error('the connection closed'));
      this.#client.on('ready', onReady);
      this.#client.on('close', onClose);
      this.#stopWaiting = () => settle(new ClosedError('RedisBackend'));
    });
    return this.#connecting;
  }
}
