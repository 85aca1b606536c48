/**
 * Watches one service: list, then an etcd watch from the listing's revision + 1, the instance
 * list kept up to date from the events themselves (a change carries its record, so watchers never
 * read the service again per event). After a disconnect the watch resumes from the last revision
 * it applied, once a linearizable read of the service's epoch showed that etcd still holds the
 * same data; when that revision was compacted, or the data was lost, it lists the service again.
 * {@link WatchHub} shares one such loop per service among all subscribers of a backend.
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import { sleep } from '../../core/clock.js';
import { MalformedRecordError, messageOf } from '../../core/errors.js';
import type { ServiceInstance } from '../../core/instance.js';
import type { Logger } from '../../core/logger.js';
import type { WatchSink, WatchSource } from '../watch-hub.js';
import { EtcdRpcError, text, type EtcdClient, type EtcdObject } from './client.js';
import { prefixRange, type KeyLayout } from './keys.js';
import type { EtcdSettings } from './options.js';
import { keyValue, readInstance } from './records.js';

/** One read of a service as the backend made it (losses already reported). */
export interface ServiceRead {
  readonly instances: readonly ServiceInstance[];
  readonly epoch: string | undefined;
  readonly revision: number;
}

export interface WatchDependencies {
  readonly settings: EtcdSettings;
  readonly client: EtcdClient;
  readonly layout: KeyLayout;
  readonly logger: Logger;
  /** Lists the service (linearizable), reporting a loss before resolving. */
  readonly list: (service: string, signal: AbortSignal) => Promise<ServiceRead>;
  /** Reads only the service's epoch (linearizable), reporting a loss before resolving. */
  readonly epoch: (service: string, signal: AbortSignal) => Promise<{ epoch: string | undefined; revision: number }>;
  /** An event in the stream wrote or deleted the service's epoch. */
  readonly onEpochEvent: (service: string, epoch: string | undefined) => void;
  /** An answer carried this revision. */
  readonly onRevision: (revision: number) => void;
  readonly onMalformed: (error: MalformedRecordError) => void;
  /** Receives each running loop so that `close()` can wait for it to end. */
  readonly track: (loop: Promise<void>) => void;
}

/** Counters the loops raise. */
export interface WatchCounters {
  /** Watch streams opened again after the first (disconnects, compactions, losses). */
  reconnects: number;
  /** Full listings the loops read again after the first (compactions, losses). */
  relists: number;
}

/** A {@link WatchSource} running one list-then-watch loop per service. */
export function etcdWatchSource(dependencies: WatchDependencies, counters: WatchCounters): WatchSource {
  return (service, sink) => {
    const controller = new AbortController();
    dependencies.track(new ServiceWatch(service, sink, controller.signal, dependencies, counters).run());
    return () => controller.abort();
  };
}

/** A watch stream ended without etcd saying why (the member stopped or lost its leader). */
class StreamEndedError extends Error {
  constructor(endpoint: string) {
    super(`the watch stream from ${endpoint} ended`);
    this.name = 'StreamEndedError';
  }
}

class ServiceWatch {
  readonly #service: string;
  readonly #sink: WatchSink;
  readonly #signal: AbortSignal;
  readonly #deps: WatchDependencies;
  readonly #counters: WatchCounters;
  readonly #instances = new Map<string, ServiceInstance>();
  /** Last revision whose events are applied; undefined until listed (and after a loss). */
  #revision: number | undefined;
  #epoch: string | undefined;
  /** JSON of the last list a listing pushed, to push a re-listing only when it differs. */
  #delivered: string | undefined;
  #streams = 0;
  #lists = 0;

  constructor(service: string, sink: WatchSink, signal: AbortSignal, deps: WatchDependencies, counters: WatchCounters) {
    this.#service = service;
    this.#sink = sink;
    this.#signal = signal;
    this.#deps = deps;
    this.#counters = counters;
  }

  async run(): Promise<void> {
    const { settings, logger } = this.#deps;
    const backoffFactory = new ExponentialBackoff({ initialDelay: settings.watchRetryInitialDelayMs, maxDelay: settings.watchRetryMaxDelayMs });
    let backoff: IBackoff<unknown> | undefined;
    const service = this.#service;
    while (!this.#signal.aborted) {
      try {
        if (this.#revision === undefined || !(await this.#sameData())) await this.#list();
        const opened = await this.#stream(() => {
          if (backoff !== undefined) logger.info({ service }, `watch of ${service} recovered`);
          backoff = undefined;
        });
        if (opened === 'relist') this.#revision = undefined;
      } catch (error) {
        if (this.#signal.aborted) return;
        // What etcd refused (a permission, a token) reaches subscribers as rollcall's typed error.
        const failure = error instanceof EtcdRpcError ? this.#deps.client.translate('watch', error) : error instanceof Error ? error : new Error(messageOf(error));
        if (backoff === undefined) logger.warn({ service, err: failure }, `watch of ${service} failing, retrying with backoff: ${failure.message}`);
        else logger.debug({ service, err: failure }, `watch of ${service} still failing`);
        backoff = backoff === undefined ? backoffFactory.next() : backoff.next(undefined);
        this.#sink.error(failure);
        try {
          await sleep(backoff.duration, this.#signal);
        } catch {
          return;
        }
      }
    }
  }

  /** Whether etcd still holds the data the watch applied: same epoch, revision not gone back. */
  async #sameData(): Promise<boolean> {
    const read = await this.#deps.epoch(this.#service, this.#signal);
    if (read.epoch === this.#epoch && read.revision >= (this.#revision ?? 0)) return true;
    this.#deps.logger.debug({ service: this.#service }, `etcd lost the data the watch of ${this.#service} had applied; listing it again`);
    return false;
  }

  async #list(): Promise<void> {
    if (this.#lists++ > 0) this.#counters.relists++;
    const read = await this.#deps.list(this.#service, this.#signal);
    this.#instances.clear();
    for (const instance of read.instances) this.#instances.set(instance.id, instance);
    this.#epoch = read.epoch;
    this.#revision = read.revision;
    this.#deliver(true);
  }

  /** Follows one watch stream until it ends; `relist` when etcd compacted the revision it resumes from. */
  async #stream(onCreated: () => void): Promise<'ended' | 'relist'> {
    if (this.#streams++ > 0) this.#counters.reconnects++;
    const service = this.#service;
    const { client, layout } = this.#deps;
    const request = {
      create_request: { ...prefixRange(layout.service(service)), start_revision: String((this.#revision ?? 0) + 1), progress_notify: true },
    };
    const stream = await client.watch('watch', request, this.#signal);
    for await (const message of stream.messages) {
      const revision = headerRevision(message);
      if (message['canceled'] === true) {
        const compacted = Number(message['compact_revision'] ?? 0);
        if (compacted > 0) {
          this.#deps.logger.debug({ service, compacted }, `etcd compacted the revisions the watch of ${service} resumes from; listing it again`);
          return 'relist';
        }
        throw new Error(`etcd canceled the watch of ${service}: ${text(message['cancel_reason']) ?? 'no reason given'}`);
      }
      if (message['created'] === true) {
        onCreated();
        continue;
      }
      const events = message['events'];
      if (Array.isArray(events) && events.length > 0 && this.#apply(events as unknown[])) this.#deliver(false);
      if (revision !== undefined) {
        this.#deps.onRevision(revision);
        if (this.#revision === undefined || revision > this.#revision) this.#revision = revision;
      }
    }
    if (this.#signal.aborted) return 'ended';
    throw new StreamEndedError(stream.endpoint);
  }

  /** Applies a batch of events; true when the instance list changed. */
  #apply(events: readonly unknown[]): boolean {
    const { layout } = this.#deps;
    let changed = false;
    for (const event of events) {
      if (typeof event !== 'object' || event === null) continue;
      const fields = event as EtcdObject;
      const kv = keyValue(fields['kv']);
      if (kv === undefined) continue;
      const parsed = layout.parse(kv.key);
      if (parsed === undefined || parsed.service !== this.#service) continue;
      const deleted = fields['type'] === 'DELETE';
      if (parsed.kind === 'epoch') {
        this.#epoch = deleted ? undefined : kv.rawValue;
        this.#deps.onEpochEvent(this.#service, this.#epoch);
        continue;
      }
      if (deleted) {
        changed = this.#instances.delete(parsed.id) || changed;
        continue;
      }
      const instance = readInstance(kv, this.#service, parsed.id);
      if (instance instanceof MalformedRecordError) {
        this.#deps.onMalformed(instance);
        changed = this.#instances.delete(parsed.id) || changed;
      } else {
        this.#instances.set(parsed.id, instance);
        changed = true;
      }
    }
    return changed;
  }

  /** Pushes the list; after a listing only when it differs from the last one pushed by a listing. */
  #deliver(listing: boolean): void {
    const list = [...this.#instances.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (listing) {
      const text = JSON.stringify(list);
      if (text === this.#delivered) return;
      this.#delivered = text;
    } else {
      // Events changed the list: the next listing is pushed whatever it holds.
      this.#delivered = undefined;
    }
    this.#sink.change(list);
  }
}

/** `header.revision` of an answer, when it is a safe integer. */
export function headerRevision(answer: EtcdObject): number | undefined {
  const header = answer['header'];
  if (typeof header !== 'object' || header === null) return undefined;
  const revision = Number((header as EtcdObject)['revision'] ?? 0);
  return Number.isSafeInteger(revision) && revision >= 0 ? revision : undefined;
}
