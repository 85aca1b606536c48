/**
 * Detects Redis losing registry data from what the backend reads anyway; it never guesses:
 *
 * - per service: the epoch of the service's records hash (set when the hash is created) vanished
 *   or changed while instances listed before were still live, which their keys' expiry cannot
 *   explain (keys outlive every lease deadline by at least half of `KEY_GRACE_MS`); or its version
 *   went back within one epoch (writes lost, e.g. by a failover to a replica that missed them);
 * - per server: its run id changed across a reconnection (a restart, or a failover that put another
 *   server in its place), so leases may have lapsed while it was away: the whole namespace.
 *
 * A read is compared with what was known when it was sent, so reads answering out of order never
 * look like a loss.
 */
import type { RegistryReset, Unsubscribe } from '../backend.js';
import { ResetListeners } from '../reset-listeners.js';
import type { ReadHead } from './records.js';
import { KEY_GRACE_MS, PLANTED_DEADLINES, PLANTED_RECORDS } from './scripts.js';

/** Services whose last listing is remembered; the least recently read are forgotten beyond it. */
const REMEMBERED_SERVICES = 10_000;
/** Servers whose run id is remembered (one, or the nodes of a Cluster). */
const REMEMBERED_SERVERS = 1_000;

interface Seen {
  readonly epoch: string;
  readonly version: number;
  readonly latestDeadline: number | undefined;
  readonly sequence: number;
}

/** What was known of a service when a read of it was sent. */
export interface ReadTicket {
  readonly sequence: number;
  readonly generation: number;
  readonly seen: Seen | undefined;
}

export class ResetDetector {
  readonly #listeners: ResetListeners;
  readonly #seen = new Map<string, Seen>();
  readonly #runIds = new Map<string, string>();
  #sequence = 0;
  /** Raised by every namespace-wide reset: reads sent before it are not compared. */
  #generation = 0;

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

  /** Call when a read of `service` is sent. */
  beforeRead(service: string): ReadTicket {
    return { sequence: ++this.#sequence, generation: this.#generation, seen: this.#seen.get(service) };
  }

  /** Call when the read answered, before its listing is returned or pushed: reports a loss first. */
  afterRead(service: string, ticket: ReadTicket, listing: ReadHead & { readonly kind: 'full' | 'delta' }): void {
    if (ticket.generation === this.#generation && ticket.seen !== undefined) {
      const reason = lossBetween(ticket.seen, listing);
      if (reason !== undefined) this.#report({ service, reason });
    }
    const current = this.#seen.get(service);
    if (current !== undefined && current.sequence > ticket.sequence) return;
    // Re-inserted, so the map's order is that of the last read: the first key is the least recent.
    this.#seen.delete(service);
    if (this.#seen.size >= REMEMBERED_SERVICES) this.#seen.delete(this.#seen.keys().next().value as string);
    // A delta read may not name the latest deadline: one seen before in the same epoch still keeps
    // the keys alive until it passes plus half the grace.
    const kept = listing.kind === 'delta' && current?.epoch === listing.epoch ? current.latestDeadline : undefined;
    const latestDeadline = kept === undefined || (listing.latestDeadline !== undefined && listing.latestDeadline > kept) ? listing.latestDeadline : kept;
    this.#seen.set(service, { epoch: listing.epoch, version: listing.version, latestDeadline, sequence: ticket.sequence });
  }

  /** A (re)connection found `server` (described as `description` in the reason) running as `runId`. */
  serverSeen(server: string, runId: string, description: string): void {
    const previous = this.#runIds.get(server);
    if (previous === undefined && this.#runIds.size >= REMEMBERED_SERVERS) this.#runIds.clear();
    this.#runIds.set(server, runId);
    if (previous === undefined || previous === runId) return;
    this.#generation++;
    // What was read before belongs to the server that is gone; the reset covers every service.
    this.#seen.clear();
    this.#report({ reason: `${description} restarted or was replaced by a failover (its run id changed); leases may have lapsed meanwhile` });
  }

  #report(reset: RegistryReset): void {
    this.#listeners.report(reset);
  }

}

/** Why `listing` shows data lost since `seen`, or undefined when it does not. */
function lossBetween(seen: Seen, listing: ReadHead): string | undefined {
  // Without an epoch the hash predates epochs (or did not exist): nothing to compare.
  if (seen.epoch === '') return undefined;
  if (listing.epoch === seen.epoch) {
    return listing.version < seen.version ? "the service's version went back within one epoch: Redis lost writes it had acknowledged" : undefined;
  }
  // Keys outlive every deadline they held by half the grace at least: until then only a loss removes them.
  if (seen.latestDeadline === undefined || listing.serverNow >= seen.latestDeadline + KEY_GRACE_MS / 2) return undefined;
  if ((listing.plantedKeys & (PLANTED_DEADLINES | PLANTED_RECORDS)) !== 0) return "a key of the service was replaced by one of another Redis type while its instances were live";
  return listing.epoch === ''
    ? "the service's keys vanished while its instances were live (a flush, a restart without persistence, an eviction or a failover)"
    : "the service's keys were created anew while its instances were live (they had been lost)";
}
