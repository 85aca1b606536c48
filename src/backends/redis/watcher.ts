/**
 * Push for `watch()`: one pub/sub connection per backend serves every watched service. Every change
 * publishes the service's new version, and nothing else: the watcher reads the service when a
 * message names a version newer than the one it has, and that read brings only the instances
 * changed since (the change log; the whole service when the log cannot tell). Anyone who can
 * PUBLISH can reach the channel, so a message is never taken for a listing; a forged one costs at
 * most a read, and reads of one service never overlap (messages arriving during a read cause
 * exactly one more).
 *
 * There is no timer per service: expiries reach watchers as changes, pruned by the namespace's
 * sweeper (see sweeper.ts), which this connection also serves with the namespace channel. An idle
 * watcher makes no call at all.
 *
 * The subscriber connection never reconnects by itself: when it ends, every watcher hears an
 * error, and a new connection subscribes everything again and then reads every service, spread
 * over a bounded window so that processes coming back together do not read at one instant.
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import type { Redis } from 'ioredis';
import { unrefTimeout } from '../../core/clock.js';
import type { ServiceInstance } from '../../core/instance.js';
import type { WatchSink, WatchSource } from '../watch-hub.js';
import { applyChanges, type KnownVersion, type Listing } from './records.js';

/** Pauses between attempts to bring the subscriber connection back. */
const RESUBSCRIBE_BACKOFF = { initialDelay: 100, maxDelay: 1_000 };
/** Pauses between attempts to read a service whose last read failed. */
const REFRESH_BACKOFF = { initialDelay: 200, maxDelay: 2_000 };
/** After a reconnection, reads of all services are spread over this much time per service... */
export const CATCH_UP_SPREAD_PER_SERVICE_MS = 20;
/** ...and never over more than this. */
export const CATCH_UP_SPREAD_MAX_MS = 2_000;

/** The next backoff step (with jitter, so watchers of many processes do not retry in step). */
function advance(current: IBackoff<unknown> | undefined, options: { initialDelay: number; maxDelay: number }): IBackoff<unknown> {
  return current === undefined ? new ExponentialBackoff(options).next() : current.next(undefined);
}

export interface WatcherOptions {
  /** Reads one service: only what changed since `known` when the registry can tell (bounded by the backend's operation timeout). */
  list(service: string, known: KnownVersion | undefined): Promise<Listing>;
  /** The version a message of the service's channel names; undefined for one it could not read (and reported). */
  change(service: string, message: string): number | undefined;
  /** The service's pub/sub channel. */
  channel(service: string): string;
  /** The namespace's channel, subscribed while anything is watched; its messages go to `onNamespaceMessage`. */
  readonly namespaceChannel: string;
  onNamespaceMessage(): void;
  /** Called with `true` when the first service is watched, `false` when the last one is not any more. */
  onActive(active: boolean): void;
  /** A new subscriber connection that does not reconnect by itself and queues commands until connected. */
  connect(): Redis;
  /** Turns a subscriber connection failure into the error watchers hear. */
  connectionError(error: unknown): Error;
  /** One line per subscriber connection transition. */
  onTransition(up: boolean, error?: unknown): void;
  /** @default Math.random */
  random?: () => number;
}

interface WatchState {
  readonly service: string;
  readonly channel: string;
  readonly sink: WatchSink;
  running: boolean;
  again: boolean;
  /** Its channel's subscription on the current connection is confirmed. */
  subscribed: boolean;
  /** Epoch and version of the last read; undefined when the next read must read everything. */
  known: KnownVersion | undefined;
  /** Whatever version a message names, it causes a read (the subscriber was replaced meanwhile). */
  anyMessage: boolean;
  /** The list delivered last, sorted by id; undefined before the first. */
  instances: readonly ServiceInstance[] | undefined;
  /** The next list is delivered even when unchanged: subscribers heard of an error meanwhile. */
  redeliver: boolean;
  failing: boolean;
  retry: IBackoff<unknown> | undefined;
  /** A read to come: a retry after a failure, or a catch-up after a reconnection. */
  timer: NodeJS.Timeout | undefined;
}

export class RedisWatcher {
  readonly #options: WatcherOptions;
  readonly #random: () => number;
  readonly #byChannel = new Map<string, WatchState>();
  #subscriber: Redis | undefined;
  /** Subscribed to every watched channel: only then is a read worth delivering. */
  #subscriberUp = false;
  #wasDown = false;
  #lastError: unknown;
  #restartTimer: NodeJS.Timeout | undefined;
  #restart: IBackoff<unknown> | undefined;
  #closed = false;
  /** Reads run for watchers. */
  refreshes = 0;
  /** Reads that brought only what changed since the version read before. */
  deltas = 0;

  constructor(options: WatcherOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** The {@link WatchSource} for the backend's {@link WatchHub}. */
  readonly source: WatchSource = (service, sink) => {
    const state: WatchState = {
      service,
      channel: this.#options.channel(service),
      sink,
      running: false,
      again: false,
      subscribed: false,
      known: undefined,
      anyMessage: true,
      instances: undefined,
      redeliver: false,
      failing: false,
      retry: undefined,
      timer: undefined,
    };
    const first = this.#byChannel.size === 0;
    this.#byChannel.set(state.channel, state);
    const subscriber = this.#subscriber;
    if (subscriber === undefined) {
      if (this.#restartTimer === undefined) this.#connect();
    } else {
      // Subscribed before reading, so no change can fall between the read and the subscription.
      // If the connection fails instead, its replacement subscribes and reads everything.
      const channels = first ? [state.channel, this.#options.namespaceChannel] : [state.channel];
      subscriber.subscribe(...channels).then(
        () => {
          if (this.#subscriber !== subscriber) return;
          state.subscribed = true;
          // Before the connection's own subscription is confirmed this reads nothing; that
          // confirmation reads every confirmed channel.
          this.#refresh(state);
        },
        () => {},
      );
    }
    if (first) this.#options.onActive(true);
    return () => this.#stop(state);
  };

  /** Reads again every service whose last read failed (the main connection is back), spread out. */
  refreshFailing(): void {
    const failing = [...this.#byChannel.values()].filter((state) => state.failing);
    this.#spread(failing);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    for (const state of this.#byChannel.values()) this.#clearTimer(state);
    this.#byChannel.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber !== undefined) await disconnect(subscriber);
  }

  #connect(): void {
    this.#restartTimer = undefined;
    if (this.#closed || this.#byChannel.size === 0) return;
    let subscriber: Redis;
    try {
      subscriber = this.#options.connect();
    } catch (error) {
      this.#onEnd(undefined, error);
      return;
    }
    this.#subscriber = subscriber;
    subscriber.on('message', (channel: string, message: string) => {
      if (!this.#subscriberUp) return;
      if (channel === this.#options.namespaceChannel) {
        this.#options.onNamespaceMessage();
        return;
      }
      const state = this.#byChannel.get(channel);
      if (state !== undefined) this.#receive(state, message);
    });
    subscriber.on('error', (error: unknown) => {
      this.#lastError = error;
    });
    subscriber.once('end', () => this.#onEnd(subscriber, this.#lastError));
    // Services watched from now on subscribe (and read) on their own.
    const subscribed = [...this.#byChannel.values()];
    subscriber.subscribe(...subscribed.map((state) => state.channel), this.#options.namespaceChannel).then(
      () => {
        if (this.#subscriber !== subscriber) return;
        this.#restart = undefined;
        this.#lastError = undefined;
        this.#subscriberUp = true;
        for (const state of subscribed) state.subscribed = true;
        // Channels subscribed on their own since, and confirmed already, are read now too; the others when confirmed.
        const states = [...this.#byChannel.values()].filter((state) => state.subscribed);
        if (this.#wasDown) {
          this.#options.onTransition(true);
          this.#wasDown = false;
          // Every process of the fleet lost the same server: they must not all read at once.
          this.#spread(states);
        } else {
          for (const state of states) this.#refresh(state);
        }
      },
      () => {},
    );
  }

  /** Reads each of `states` at a random moment of a window that grows with their number, up to a bound. */
  #spread(states: readonly WatchState[]): void {
    const window = Math.min(CATCH_UP_SPREAD_MAX_MS, states.length * CATCH_UP_SPREAD_PER_SERVICE_MS);
    for (const state of states) this.#readIn(state, this.#random() * window);
  }

  #onEnd(subscriber: Redis | undefined, error: unknown): void {
    if (this.#closed || this.#subscriber !== subscriber) return;
    this.#subscriber = undefined;
    const reported = this.#options.connectionError(error ?? new Error('the subscriber connection closed'));
    if (this.#subscriberUp) this.#options.onTransition(false, reported);
    this.#wasDown ||= this.#subscriberUp;
    this.#subscriberUp = false;
    for (const state of this.#byChannel.values()) {
      // Messages from the next connection's server cause reads, whatever their versions.
      state.anyMessage = true;
      state.subscribed = false;
      this.#fail(state, reported);
    }
    if (this.#byChannel.size === 0) return;
    this.#restart = advance(this.#restart, RESUBSCRIBE_BACKOFF);
    const delay = this.#restart.duration;
    this.#restartTimer = unrefTimeout(() => this.#connect(), delay);
  }

  #stop(state: WatchState): void {
    if (this.#byChannel.get(state.channel) !== state) return;
    this.#byChannel.delete(state.channel);
    this.#clearTimer(state);
    const last = this.#byChannel.size === 0;
    // With no service left the connection leaves pub/sub mode, and this backend stops sweeping.
    const channels = last ? [state.channel, this.#options.namespaceChannel] : [state.channel];
    this.#subscriber?.unsubscribe(...channels).catch(() => {});
    if (last && !this.#closed) this.#options.onActive(false);
  }

  // A message only decides whether to read: a read the watcher already made may be as new.
  #receive(state: WatchState, message: string): void {
    const version = this.#options.change(state.service, message);
    if (version === undefined || state.known === undefined || state.anyMessage || version > state.known.version) this.#refresh(state);
  }

  // One read per service at a time; reasons to read arriving meanwhile cause exactly one more.
  #refresh(state: WatchState): void {
    // Without the subscription a delivered list would look pushed while nothing is; the
    // resubscription reads everything anyway.
    if (!this.#subscriberUp) return;
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = true;
    state.again = false;
    this.#clearTimer(state);
    this.refreshes++;
    const active = (): boolean => !this.#closed && this.#byChannel.get(state.channel) === state;
    // A delta applies to the list delivered last; without one, only the whole service will do.
    const known = state.instances === undefined ? undefined : state.known;
    this.#options
      .list(state.service, known)
      .then(
        (listing) => {
          // Reads of one service never overlap, so each is newer than the last, or Redis lost data
          // and it is the truth anyway.
          if (active() && this.#subscriberUp) this.#apply(state, listing);
        },
        (error: unknown) => {
          if (!active()) return;
          this.#fail(state, error instanceof Error ? error : new Error(String(error)));
          state.retry = advance(state.retry, REFRESH_BACKOFF);
          this.#readIn(state, state.retry.duration);
        },
      )
      .finally(() => {
        state.running = false;
        if (state.again && active()) this.#refresh(state);
      });
  }

  #apply(state: WatchState, listing: Listing): void {
    let next: readonly ServiceInstance[];
    let changed: boolean;
    if (listing.kind === 'delta') {
      this.deltas++;
      next = applyChanges(state.instances ?? [], listing.changes);
      changed = next !== state.instances;
    } else {
      // The same version of the same hash, or the same instances (records read before parse to
      // the same objects): nothing to deliver.
      const same = state.known !== undefined && state.known.epoch === listing.epoch && state.known.version === listing.version;
      changed = state.instances === undefined || (!same && !sameInstances(state.instances, listing.instances));
      // Frozen: subscribers share the list (a resolver keeps it as it is when every instance passes).
      next = changed ? Object.freeze(listing.instances) : (state.instances as readonly ServiceInstance[]);
    }
    // Without an epoch (no hash, or one written before epochs) only a whole read can be trusted.
    state.known = listing.epoch === '' ? undefined : { epoch: listing.epoch, version: listing.version };
    state.anyMessage = false;
    state.failing = false;
    state.retry = undefined;
    if (!changed && !state.redeliver) return;
    state.instances = next;
    state.redeliver = false;
    state.sink.change(next);
  }

  #readIn(state: WatchState, delayMs: number): void {
    this.#clearTimer(state);
    state.timer = unrefTimeout(() => {
      state.timer = undefined;
      this.#refresh(state);
    }, delayMs);
  }

  #clearTimer(state: WatchState): void {
    clearTimeout(state.timer);
    state.timer = undefined;
  }

  #fail(state: WatchState, error: Error): void {
    state.redeliver = true;
    if (state.failing) return;
    state.failing = true;
    state.sink.error(error);
  }
}

function sameInstances(a: readonly ServiceInstance[], b: readonly ServiceInstance[]): boolean {
  if (a.length !== b.length) return false;
  // A plain loop: `every` is many times slower on the frozen arrays watchers deliver.
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Closes a connection and waits (briefly) until its socket is gone. */
export async function disconnect(client: { status: string; disconnect(): void; once(event: 'end', listener: () => void): unknown }): Promise<void> {
  // Between reconnection attempts there is no socket, and ioredis emits no 'end' for it.
  const hasSocket = client.status === 'connecting' || client.status === 'connect' || client.status === 'ready';
  const ended = new Promise<void>((resolve) => {
    client.once('end', resolve);
    unrefTimeout(resolve, 1_000);
  });
  client.disconnect();
  if (hasSocket) await ended;
}
