/**
 * Detects etcd losing registry data from what the backend reads anyway; it never guesses:
 *
 * - per service: the service's epoch key (written with its first instance, never removed by
 *   rollcall) vanished or holds another value than before. Deleting a whole prefix, restoring an
 *   old snapshot or restarting a cluster from an empty data dir all do that, whatever the
 *   revisions did meanwhile (a wiped cluster that took many writes since can be past the old
 *   revision again);
 * - for the whole namespace: a linearizable read answered at a revision lower than one already
 *   observed (revisions never go back in one cluster's life).
 *
 * A read is compared with what was known when it was sent, so reads answering out of order never
 * look like a loss, and a loss observed once (by a read or by a watch) is reported once.
 */
import type { RegistryReset, Unsubscribe } from '../backend.js';
import { ResetListeners } from '../reset-listeners.js';

/** Services whose epoch is remembered; the least recently seen are forgotten beyond it. */
const REMEMBERED_SERVICES = 10_000;

interface Seen {
  /** The epoch value (base64, as etcd sent it), or undefined when the service had none. */
  readonly epoch: string | undefined;
  readonly sequence: number;
}

/** What was known when a read was sent. */
export interface ReadTicket {
  readonly sequence: number;
  readonly generation: number;
  readonly seen: Seen | undefined;
  readonly revision: number;
}

export class ResetDetector {
  readonly #listeners: ResetListeners;
  readonly #seen = new Map<string, Seen>();
  #sequence = 0;
  /** Raised by every namespace-wide reset: reads sent before it are not compared. */
  #generation = 0;
  /** Highest revision a completed linearizable request answered with. */
  #revision = 0;

  /** @param onListenerError receives what a listener threw; the other listeners still hear the reset. */
  constructor(onListenerError: (error: unknown) => void) {
    this.#listeners = new ResetListeners(onListenerError);
  }

  /** Resets detected so far. */
  get detected(): number {
    return this.#listeners.reported;
  }

  onReset(listener: (reset: RegistryReset) => void): Unsubscribe {
    return this.#listeners.subscribe(listener);
  }

  /** Call when a linearizable read of `service` is sent. */
  beforeRead(service: string): ReadTicket {
    return { sequence: ++this.#sequence, generation: this.#generation, seen: this.#seen.get(service), revision: this.#revision };
  }

  /**
   * Call when the read answered, before its listing is returned or pushed: reports a loss first.
   * `epoch` is the service's epoch as read (undefined when absent), `revision` the answer's.
   */
  afterRead(service: string, ticket: ReadTicket, epoch: string | undefined, revision: number): void {
    if (ticket.generation === this.#generation && revision < ticket.revision) {
      this.#generation++;
      this.#seen.clear();
      this.#revision = revision;
      this.#report({
        reason: `etcd's revision went back from ${ticket.revision} to ${revision}: the cluster restarted from an empty data dir or was restored from an older snapshot`,
      });
      this.#remember(service, { epoch, sequence: ticket.sequence });
      return;
    }
    this.observeRevision(revision);
    const before = ticket.seen;
    const current = this.#seen.get(service);
    const observedSince = current !== undefined && current.sequence > ticket.sequence;
    if (ticket.generation === this.#generation && before?.epoch !== undefined && epoch !== before.epoch) {
      // A newer observation already saw (and reported) the change.
      if (!(observedSince && current.epoch !== before.epoch)) this.#report({ service, reason: lossReason(epoch) });
    }
    if (!observedSince) this.#remember(service, { epoch, sequence: ticket.sequence });
  }

  /** A watch of `service` saw its epoch key written (`epoch`) or deleted (undefined), in stream order. */
  epochEvent(service: string, epoch: string | undefined): void {
    const seen = this.#seen.get(service);
    if (seen?.epoch !== undefined && epoch !== seen.epoch) this.#report({ service, reason: lossReason(epoch) });
    this.#remember(service, { epoch, sequence: ++this.#sequence });
  }

  /** A linearizable request (read or write) answered at `revision`. */
  observeRevision(revision: number): void {
    if (revision > this.#revision) this.#revision = revision;
  }

  #remember(service: string, seen: Seen): void {
    // Re-inserted, so the map's order is that of the last observation: the first key is the least recent.
    this.#seen.delete(service);
    if (this.#seen.size >= REMEMBERED_SERVICES) this.#seen.delete(this.#seen.keys().next().value as string);
    this.#seen.set(service, seen);
  }

  #report(reset: RegistryReset): void {
    this.#listeners.report(reset);
  }

}

function lossReason(epoch: string | undefined): string {
  return epoch === undefined
    ? "the service's epoch key vanished while it had been registered: etcd lost the service's keys (deleted prefix, wiped data dir, older snapshot)"
    : "the service's epoch key holds a new value: etcd lost the service's keys and they were written anew";
}
