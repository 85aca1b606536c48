/**
 * Follows the main client's connection: whether it was ever up (after that, calls fail fast while
 * it is down), the last connection error, one log line per transition, the run id of the server
 * behind each (re)connection, a new one being a restart or a failover (each Cluster node is
 * followed on its own), and a client that ioredis gave up on.
 */
import type { Cluster, Redis } from 'ioredis';
import { unrefTimeout } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { Redactor } from './errors.js';
import type { RedisClient } from './options.js';

/** The server's run id in `INFO server`. */
const RUN_ID = /^run_id:([0-9a-f]+)\r?$/m;

/**
 * How long an owned client that ioredis left ended waits before it is connected again: within the
 * range of rollcall's own reconnection delays (50 ms to 1000 ms).
 */
const REVIVE_DELAY_MS = 500;

export interface ConnectionMonitorOptions {
  readonly client: RedisClient;
  readonly log: Logger;
  readonly redactor: Redactor;
  /** Bounds each run-id check. */
  readonly operationTimeoutMs: number;
  /**
   * Whether rollcall owns the client: then a client that ioredis ended by itself (not closed by
   * rollcall) is connected again; a client of yours is only reported, since ending it may be yours.
   */
  readonly owned: boolean;
  /** A (re)connection found `server` (described as `description`) running as `runId`. */
  onServer(server: string, runId: string, description: string): void;
  /** The connection is back after it was lost. */
  onRecovered(): void;
  /** Whether the backend is closing: transitions are no longer logged or reported then. */
  closed(): boolean;
}

export class ConnectionMonitor {
  readonly #options: ConnectionMonitorOptions;
  readonly #client: RedisClient;
  readonly #listeners: [string, (...args: unknown[]) => void][] = [];
  /** Cluster only: the `ready` listener on each node connection. */
  readonly #nodeListeners = new Map<Redis, () => void>();
  /** Run-id checks of (re)connections in flight: a listing waits for them before it is believed. */
  readonly #serverChecks = new Set<Promise<void>>();
  #everReady: boolean;
  #connected: boolean;
  #lastError: unknown;
  #revival: NodeJS.Timeout | undefined;
  /** Whether the client was connected again since it last was up: only the first time is logged. */
  #reviving = false;

  constructor(options: ConnectionMonitorOptions) {
    this.#options = options;
    const client = options.client;
    this.#client = client;
    this.#everReady = client.status === 'ready';
    this.#connected = this.#everReady;
    this.#listen('ready', () => this.#onReady());
    this.#listen('error', (error: unknown) => {
      this.#lastError = error;
    });
    this.#listen('close', () => this.#onDown());
    this.#listen('end', () => this.#onEnd());
    if (client.isCluster) {
      for (const node of (client as Cluster).nodes('all')) this.#followNode(node);
      this.#listen('+node', (node) => this.#followNode(node as Redis));
      this.#listen('-node', (node) => this.#unfollowNode(node as Redis));
    } else if (this.#everReady) {
      this.#checkServer(client as Redis, 'server', 'the Redis server');
    }
  }

  /** Whether the connection was ever up: from then on, calls fail at once while it is down. */
  get everReady(): boolean {
    return this.#everReady;
  }

  /** The last error the client reported, cleared when it is up again. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** Settles once the run-id checks in flight are done; undefined when none is. */
  serverChecks(): Promise<unknown> | undefined {
    return this.#serverChecks.size > 0 ? Promise.all(this.#serverChecks) : undefined;
  }

  /** Removes every listener this monitor installed. */
  close(): void {
    clearTimeout(this.#revival);
    for (const [event, listener] of this.#listeners.splice(0)) this.#client.off(event, listener);
    for (const node of [...this.#nodeListeners.keys()]) this.#unfollowNode(node);
  }

  #onReady(): void {
    // Sent before anything else on the new connection, so its answer comes before any listing's.
    if (!this.#client.isCluster) this.#checkServer(this.#client as Redis, 'server', 'the Redis server');
    const recovered = this.#everReady && !this.#connected;
    this.#everReady = true;
    this.#connected = true;
    this.#lastError = undefined;
    this.#reviving = false;
    if (!recovered) return;
    this.#options.log.info({}, 'connection to Redis is back');
    this.#options.onRecovered();
  }

  #onDown(): void {
    if (!this.#connected || this.#options.closed()) return;
    this.#connected = false;
    const error = this.#lastError === undefined ? undefined : this.#options.redactor.message(this.#lastError);
    this.#options.log.warn({ error }, 'connection to Redis lost; calls fail fast until it is back');
  }

  /**
   * ioredis ends a client for good when its retry strategy returns no delay, and also when a
   * Sentinel failover is announced while it is asking the sentinels where the master is (its
   * failover detector stops that connection attempt, and nothing starts another): after that every
   * call fails with "Connection is closed" until someone calls `connect()`.
   */
  #onEnd(): void {
    if (this.#options.closed()) return;
    this.#onDown();
    if (!this.#options.owned) {
      this.#options.log.error({}, 'the Redis client given to the backend has ended: calls fail until it is connected again');
      return;
    }
    if (!this.#reviving) {
      this.#reviving = true;
      this.#options.log.warn({ retryEveryMs: REVIVE_DELAY_MS }, 'ioredis gave up on the connection to Redis; rollcall connects it again until it is back');
    }
    clearTimeout(this.#revival);
    this.#revival = unrefTimeout(() => {
      this.#revival = undefined;
      // A failure ends the client again, which schedules the next attempt.
      if (!this.#options.closed() && this.#client.status === 'end') this.#client.connect().catch(() => {});
    }, REVIVE_DELAY_MS);
  }

  // Cluster: each node connection reports its own (re)connections; a node is known by its address.
  #followNode(node: Redis): void {
    if (this.#nodeListeners.has(node)) return;
    const address = `${node.options.host ?? ''}:${node.options.port ?? ''}`;
    const onReady = (): void => this.#checkServer(node, address, `Cluster node ${address}`);
    node.on('ready', onReady);
    this.#nodeListeners.set(node, onReady);
    if (node.status === 'ready') onReady();
  }

  #unfollowNode(node: Redis): void {
    const onReady = this.#nodeListeners.get(node);
    if (onReady === undefined) return;
    node.off('ready', onReady);
    this.#nodeListeners.delete(node);
  }

  /**
   * Reads the run id of the server behind `connection`, which has just (re)connected. Bounded by
   * operationTimeoutMs; a server that refuses INFO (ACL) only leaves the per-service detection.
   */
  #checkServer(connection: Redis, server: string, description: string): void {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<undefined>((resolve) => (timer = unrefTimeout(() => resolve(undefined), this.#options.operationTimeoutMs)));
    const check = Promise.race([connection.info('server'), gaveUp])
      .then((text) => {
        const runId = typeof text === 'string' ? RUN_ID.exec(text)?.[1] : undefined;
        if (runId !== undefined && !this.#options.closed()) this.#options.onServer(server, runId, description);
      })
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        this.#serverChecks.delete(check);
      });
    this.#serverChecks.add(check);
  }

  #listen(event: string, listener: (...args: unknown[]) => void): void {
    this.#client.on(event, listener);
    this.#listeners.push([event, listener]);
  }
}
