/**
 * How the Consul backend notices that Consul lost data, so that readers can treat the next listing
 * as provisional ({@link RegistryReset}). Two signals, both documented by Consul, never a guess:
 *
 * - `X-Consul-Index` going backwards for the same read: Consul's blocking-query guidance names it
 *   as what a snapshot restore, or servers restarted without their data (a `-dev` agent), look like.
 * - the local agent's node id changing (`Config.NodeID` of `/v1/agent/self`): an agent keeps its
 *   node id in its data directory (agent/nodeid.go), so a new one means it restarted without its
 *   data and forgot every service registered through it.
 *
 * A normal deregistration never moves an index backwards: Consul gives a service that loses its
 * last instance the index of that deregistration (`serviceLastExtinctionIndex`).
 */
import { LRUCache } from 'lru-cache';
import type { RegistryReset, Unsubscribe } from '../backend.js';
import { ResetListeners } from '../reset-listeners.js';
import type { Logger } from '../../core/logger.js';
import type { ConsulResponse } from './http.js';

/** Reads whose last index is remembered; older ones are forgotten first. */
const TRACKED_READS = 10_000;

interface Seen {
  readonly index: bigint;
  /** Logical time the answer was observed at. */
  readonly observedAt: number;
}

export class ResetSignals {
  readonly #log: Logger;
  readonly #listeners: ResetListeners;
  readonly #seen = new LRUCache<string, Seen>({ max: TRACKED_READS });
  #clock = 0;

  constructor(log: Logger) {
    this.#log = log;
    this.#listeners = new ResetListeners((error) => log.error({ err: error }, 'onReset listener threw'));
  }

  /** Resets reported so far. */
  get count(): number {
    return this.#listeners.reported;
  }

  subscribe(listener: (reset: RegistryReset) => void): Unsubscribe {
    return this.#listeners.subscribe(listener);
  }

  /** Taken right before a read is sent; {@link observeIndex} compares it with what was observed since. */
  ticket(): number {
    return ++this.#clock;
  }

  /**
   * Records the `X-Consul-Index` of a read of `key` sent at `ticket`, and says why Consul lost data
   * when it is lower than an index observed before that read was sent. A lower index from a read
   * that was already in flight is an older view racing a newer one, not a loss.
   */
  observeIndex(key: string, index: bigint, ticket: number, what: string): string | undefined {
    const observedAt = ++this.#clock;
    const last = this.#seen.get(key);
    if (last !== undefined && index < last.index && ticket < last.observedAt) return undefined;
    this.#seen.set(key, { index, observedAt });
    if (last === undefined || index >= last.index) return undefined;
    return `X-Consul-Index of ${what} went backwards (${last.index} to ${index}): Consul's state was restored from a snapshot or restarted empty`;
  }

  /** One {@link RegistryReset} for every reason one read showed (if any), before its listing goes anywhere. */
  reportReasons(reasons: readonly (string | undefined)[], keep?: { readonly key: string; readonly index: bigint }): void {
    const shown = reasons.filter((reason): reason is string => reason !== undefined);
    if (shown.length > 0) this.report({ reason: shown.join('; ') }, keep);
  }

  /**
   * Tells every listener; what one listener throws is logged and does not stop the others. Every
   * index remembered from other reads belonged to the state that was lost, so they are forgotten
   * (`keep` is the read that showed the loss).
   */
  report(reset: RegistryReset, keep?: { readonly key: string; readonly index: bigint }): void {
    this.#seen.clear();
    if (keep !== undefined) this.#seen.set(keep.key, { index: keep.index, observedAt: ++this.#clock });
    this.#log.warn({ reason: reset.reason }, `Consul lost registry data: ${reset.reason}`);
    this.#listeners.report(reset);
  }
}

/**
 * The local agent's node id, checked after anything that may have been a restart (a request that
 * could not reach the agent, a renewal the agent no longer knew). Needs `agent:read`; without it
 * the check turns itself off and says so once.
 */
export class AgentIdentity {
  readonly #fetchSelf: () => Promise<ConsulResponse>;
  readonly #log: Logger;
  #nodeId: string | undefined;
  #suspect = false;
  #disabled = false;
  #pending: Promise<string | undefined> | undefined;

  constructor(fetchSelf: () => Promise<ConsulResponse>, log: Logger) {
    this.#fetchSelf = fetchSelf;
    this.#log = log;
  }

  /** The agent may have restarted since the last check. */
  suspect(): void {
    this.#suspect = true;
  }

  /**
   * Learns the node id the first time, and checks it again after {@link suspect}. Resolves with why
   * the agent's data is gone when its node id changed; never rejects (a failed check is retried).
   */
  check(): Promise<string | undefined> {
    if (this.#disabled || (this.#nodeId !== undefined && !this.#suspect)) return Promise.resolve(undefined);
    this.#pending ??= this.#verify().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #verify(): Promise<string | undefined> {
    this.#suspect = false;
    let response: ConsulResponse;
    try {
      response = await this.#fetchSelf();
    } catch {
      this.#suspect = true;
      return undefined;
    }
    const nodeId = response.status === 200 ? nodeIdOf(response.body) : undefined;
    if (nodeId === undefined) {
      if (response.status >= 500) {
        this.#suspect = true;
        return undefined;
      }
      this.#disabled = true;
      this.#log.info(
        { status: response.status },
        `cannot read the Consul agent's node id from /v1/agent/self (answer ${response.status}; the token needs agent:read): agent restarts without data will not be detected`,
      );
      return undefined;
    }
    const previous = this.#nodeId;
    this.#nodeId = nodeId;
    if (previous === undefined || previous === nodeId) return undefined;
    return `the local Consul agent restarted without its data (node id ${previous} became ${nodeId}) and forgot every service registered through it`;
  }
}

function nodeIdOf(body: string): string | undefined {
  try {
    const nodeId = (JSON.parse(body) as { Config?: { NodeID?: unknown } } | null)?.Config?.NodeID;
    return typeof nodeId === 'string' && nodeId !== '' ? nodeId : undefined;
  } catch {
    return undefined;
  }
}
